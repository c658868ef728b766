package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/lockkey"
)

// Sentinel errors of Run. The root package re-exports them.
var (
	ErrLocked         = errors.New("tenancy: another migrator is running")
	ErrUnknownVersion = errors.New("tenancy: no migration has this version")
	ErrCanaryFailed   = errors.New("tenancy: canary tenants failed, the rest of the fleet was not touched")
	ErrStopped        = errors.New("tenancy: stopped at the first failure (fail-fast)")
)

// Placement kinds, as tenancy.placements.kind spells them.
const (
	KindShared   = "shared"
	KindShape    = "shape"
	KindSchema   = "schema"
	KindPool     = "pool"
	KindDatabase = "database"
)

// Remote reports whether the placement lives outside the catalog's database, where RunOpts.Remote
// migrates it.
func (t *Target) Remote() bool { return t.Server != "" || t.Database != "" }

// Target is one placement the runner migrates.
type Target struct {
	PlacementID int64
	Kind        string
	Server      string // "" is the catalog's server
	Database    string // "" is the server's home database (the catalog's, on the catalog's server)
	Schema      string
	Version     int64  // when it was read
	Tenant      string // the tenant's slug for a schema placement; "" otherwise
	Type        string // the type of its tenants (a pool's, or its one tenant's); "" for the shape
}

// Label names the target in messages: the tenant's slug, or "(shape)", "(shared)", "pool:<schema>".
func (t *Target) Label() string {
	switch t.Kind {
	case KindSchema, KindDatabase:
		return t.Tenant
	case KindPool:
		return "pool:" + t.Schema
	}
	return "(" + t.Kind + ")"
}

// EventKind says what an Event reports.
type EventKind string

const (
	EventStart   EventKind = "start"   // the run begins; Total is set
	EventPlanned EventKind = "planned" // dry run: Target would get Versions
	EventDone    EventKind = "done"    // one placement finished (Err set if it failed)
	EventFinish  EventKind = "finish"  // the run is over
)

// Event reports progress. Events are delivered one at a time, never concurrently.
type Event struct {
	Kind     EventKind
	Target   Target
	From, To int64
	Versions []int64 // EventPlanned: the migrations that would be applied
	Duration time.Duration
	Err      error
	Done     int // placements finished so far (failed included)
	Total    int // placements to migrate in this run
	Failed   int
}

// RunOpts configures Run.
type RunOpts struct {
	SharedSchema string // quoted-ready unquoted name of the shared schema
	Shared       []Migration
	Tenant       []Migration
	To           int64    // tenant target version; 0 = latest
	Tenants      []string // only these tenants' placements (the shape schema is migrated anyway)
	Concurrency  int      // placements migrated at once; 0 = DefaultConcurrency
	Canary       int      // migrate this many tenant placements first; stop if any fails
	FailFast     bool
	DryRun       bool
	OnEvent      func(Event)
	// Placements is what the run needs of the tiers (internal/placement's Env). Nil migrates
	// the placements in the catalog's database only, with nothing run after each.
	Placements Placements
	// Types are the tenant types' lines (type -> migrations), applied after the common line to
	// the placements of that type's tenants, and every one of them to the shape schema. Custom
	// are single tenants' lines (slug -> migrations), applied after the type's line to the
	// tenant's schema or database placement. Both always go to their latest version.
	Types  map[string][]Migration
	Custom map[string][]Migration
	// ConnMaxPlacements closes a connection of the pool once it has migrated this many
	// placements, instead of returning it: a backend keeps every relation it has touched in its
	// caches until it exits, and a fleet migration touches every tenant's (docs/benchmarks.md,
	// "Backend memory"). 0 or negative: no limit.
	ConnMaxPlacements int
}

// Placements is the tiers' part of a run.
type Placements interface {
	// AfterApply runs in the placement's transaction after migrations were applied to it
	// (grants, checks); a returned error fails the placement.
	AfterApply(ctx context.Context, tx pgx.Tx, t *Target) error
	// MigrateRemote migrates a placement outside the catalog's database (a tenant database, or
	// a schema on another server) to version to, then its lines to their latest, and returns
	// the version it reached.
	MigrateRemote(ctx context.Context, t *Target, migs []Migration, to int64, lines []Line) (int64, error)
	// BeforeTenants runs after the shape schema and before any tenant placement (to bring the
	// shape schemas of other servers to version to); an error stops the run there.
	BeforeTenants(ctx context.Context, to int64) error
}

// AfterApplyQueuer is a Placements that can queue AfterApply's reads for a placement in the
// batch that writes its ledger rows, saving round trips across a fleet. QueueAfterApply returns
// nil to have AfterApply run instead, or a func, called once the batch's results are read, that
// returns the statements to run before COMMIT ("" for none).
type AfterApplyQueuer interface {
	QueueAfterApply(b *pgx.Batch, t *Target) func() string
}

// Failure is one placement that could not be migrated.
type Failure struct {
	Target  Target
	Version int64 // the version it is at now
	Err     error
}

// Result sums a run up. It does not list every placement (events do), so its size does not grow
// with the fleet, only with the failures.
type Result struct {
	Shared      [2]int64 // the shared line: from, to (equal when nothing was applied)
	Total       int      // placements that needed migrations when the run began (shape included)
	Applied     int      // placements migrated
	Skipped     int      // tenants behind but still provisioning or deleting, left alone
	Failed      []Failure
	Concurrency int
	Duration    time.Duration
	Queries     int // catalog queries spent planning (1 when there is nothing to apply)
}

// pendingWhere selects the tenant placements (and the shape) below the target version $1.
// $2 is an optional list of slugs.
const pendingWhere = `
	p.kind IN ('shape', 'schema', 'pool', 'database') AND (p.version < $1 /*lines*/) /*local*/
	AND (p.kind = 'shape' OR EXISTS (
		SELECT 1 FROM tenancy.tenants t WHERE t.placement_id = p.id
		AND t.status NOT IN ('provisioning', 'deleting') AND ($2::text[] IS NULL OR t.slug = ANY ($2))))`

// planSQL is the whole plan in one query: the ledger's distinct (line, version, checksum) with
// counts (to check every applied file against the files in hand), the number of placements
// behind, the tenants skipped, and the shared placement's version.
const planSQL = `
	SELECT 'ledger', p.kind = 'shared', ` + ledgerLine + `, m.version, m.checksum, count(*)
	FROM tenancy.migrations m JOIN tenancy.placements p ON p.id = m.placement_id
	WHERE p.kind IN ('shared', 'shape', 'schema', 'pool', 'database') /*local*/
	GROUP BY 2, 3, 4, 5
	UNION ALL
	SELECT 'pending', false, '', coalesce(max(p.version), 0), '', count(*) FROM tenancy.placements p WHERE ` + pendingWhere + `
	UNION ALL
	SELECT 'skipped', false, '', 0, '', count(*) FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id
	WHERE p.version < $1 AND t.status IN ('provisioning', 'deleting') AND ($2::text[] IS NULL OR t.slug = ANY ($2))
	UNION ALL
	SELECT 'shared', true, '', p.version, '', p.id FROM tenancy.placements p WHERE p.kind = 'shared' AND p.schema = $3
	UNION ALL
	SELECT 'top', false, '', coalesce(max(p.version), 0), '', 0 FROM tenancy.placements p WHERE p.kind IN ('shape', 'schema', 'pool', 'database')`

// localOnly restricts a query to placements in the catalog's database when no RunOpts.Remote
// can reach the others.
func localOnly(sql string, local bool) string {
	cond := ""
	if local {
		cond = "AND p.server = '' AND p.database = ''"
	}
	return strings.ReplaceAll(sql, "/*local*/", cond)
}

type plan struct {
	pending       int
	skipped       int
	sharedID      int64
	sharedVersion int64
	tenantLedger  map[int64]map[string]int64 // version -> checksum -> placements
	sharedLedger  map[int64]map[string]int64
	lineLedger    map[string]map[int64]map[string]int64 // the other lines' (linesNamed), by line
	topVersion    int64
}

func readPlan(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, o *RunOpts, to int64) (*plan, error) {
	var slugs []string
	if o.Tenants != nil {
		slugs = o.Tenants
	}
	args := append([]any{to, slugs, o.SharedSchema}, o.lineArgs()...)
	rows, err := q.Query(ctx, o.sql(planSQL, 4), args...)
	if err != nil {
		return nil, err
	}
	p := &plan{tenantLedger: map[int64]map[string]int64{}, sharedLedger: map[int64]map[string]int64{}, lineLedger: map[string]map[int64]map[string]int64{}}
	var what, line, sum string
	var shared bool
	var v, n int64
	_, err = pgx.ForEachRow(rows, []any{&what, &shared, &line, &v, &sum, &n}, func() error {
		switch what {
		case "ledger":
			l := p.tenantLedger
			if shared {
				l = p.sharedLedger
			} else if line != "" {
				if p.lineLedger[line] == nil {
					p.lineLedger[line] = map[int64]map[string]int64{}
				}
				l = p.lineLedger[line]
			}
			if l[v] == nil {
				l[v] = map[string]int64{}
			}
			l[v][sum] = n
		case "pending":
			p.pending = int(n)
		case "skipped":
			p.skipped = int(n)
		case "shared":
			p.sharedID, p.sharedVersion = n, v
		case "top":
			p.topVersion = v
		}
		return nil
	})
	return p, err
}

// check compares the ledger of a whole line with its files, in memory.
func checkLedger(line string, ledger map[int64]map[string]int64, migs []Migration, top int64) error {
	for v, sums := range ledger {
		m, ok := Find(migs, v)
		if !ok {
			return fmt.Errorf("%w: %s migration %d is applied on %d placement(s) but no file has it", ErrMissing, line, v, count(sums))
		}
		for sum, n := range sums {
			if sum != m.Checksum {
				return fmt.Errorf("%w: %s (applied on %d placement(s) with another text; restore it and put the change in a new migration)", ErrChecksum, m.File, n)
			}
		}
	}
	for _, m := range migs {
		if _, ok := ledger[m.Version]; !ok && m.Version < top {
			return fmt.Errorf("%w: %s (placements are at %d already; renumber it above)", ErrOutOfOrder, m.File, top)
		}
	}
	return nil
}

func count(m map[string]int64) (n int64) {
	for _, c := range m {
		n += c
	}
	return n
}

// Run migrates the shared placement, then the shape placement, then every tenant placement behind
// the target, Concurrency at a time, each in a transaction of its own. When nothing is to be
// applied it costs one query and takes no lock. Failures of single tenants are collected in
// Result.Failed and do not stop the others unless FailFast (or Canary) says so; a failure of the
// shared or shape placement stops the run before any tenant is touched.
func Run(ctx context.Context, pool *pgxpool.Pool, o RunOpts) (*Result, error) {
	start := time.Now()
	res := &Result{}
	to := o.To
	if to == 0 {
		to = Latest(o.Tenant)
	} else if _, ok := Find(o.Tenant, to); !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownVersion, to)
	}
	p, err := readPlan(ctx, pool, &o, to)
	res.Queries++
	if err != nil {
		return nil, fmt.Errorf("read the migration ledger: %w", err)
	}
	if err := checkLedger("shared", p.sharedLedger, o.Shared, p.sharedVersion); err != nil {
		return nil, err
	}
	if err := checkLedger("tenant", p.tenantLedger, o.Tenant, p.topVersion); err != nil {
		return nil, err
	}
	if err := o.checkLines(p.lineLedger); err != nil {
		return nil, err
	}
	sharedTo := Latest(o.Shared)
	res.Shared = [2]int64{p.sharedVersion, p.sharedVersion}
	res.Skipped = p.skipped
	if p.pending == 0 && (p.sharedID == 0 || p.sharedVersion >= sharedTo) {
		res.Duration = time.Since(start)
		return res, nil
	}
	if p.sharedID == 0 {
		return nil, errors.New("tenancy: the catalog has no shared placement (run Init first)")
	}

	r := &runner{pool: pool, o: &o, to: to, res: res}
	if o.DryRun {
		return r.dryRun(ctx, p, sharedTo, start)
	}

	// One migrator at a time: a session-level advisory lock on a connection of its own, so that
	// a crashed migrator's lock goes with its connection.
	cfg := pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "tenancy migrate"
	lockConn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer lockConn.Close(context.WithoutCancel(ctx))
	var got bool
	var free int
	if err := lockConn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1),
		current_setting('max_connections')::int - (SELECT count(*) FROM pg_stat_activity)`, lockkey.Catalog).Scan(&got, &free); err != nil {
		return nil, err
	}
	if !got {
		return nil, lockHolder(ctx, lockConn)
	}
	// Plan again under the lock: the fleet may have moved since.
	if p, err = readPlan(ctx, lockConn, &o, to); err != nil {
		return nil, err
	}
	res.Queries++
	res.Skipped = p.skipped
	res.Total = p.pending

	r.concurrency = o.Concurrency
	if r.concurrency <= 0 {
		r.concurrency = DefaultConcurrency(pool)
		// Leave the server room for the application: at most half the free connection slots.
		if free/2 < r.concurrency {
			r.concurrency = max(1, free/2)
		}
	}
	res.Concurrency = r.concurrency
	r.emit(Event{Kind: EventStart, Total: res.Total})
	defer func() { res.Duration = time.Since(start) }()

	if p.sharedVersion < sharedTo {
		t := Target{PlacementID: p.sharedID, Kind: KindShared, Schema: o.SharedSchema, Version: p.sharedVersion}
		v, err := r.one(ctx, &t, o.Shared, sharedTo, quoteIdent(o.SharedSchema))
		res.Shared[1] = v
		if err != nil {
			return res, fmt.Errorf("shared migrations: %w", err)
		}
	}
	shape, err := r.shapeTarget(ctx)
	if err != nil {
		return res, err
	}
	if shape != nil {
		if _, err := r.migrateTarget(ctx, shape); err != nil {
			// A migration that breaks the shape (or the RLS convention) must not reach tenants.
			return res, fmt.Errorf("tenant migrations, shape schema: %w", err)
		}
	}
	if o.Placements != nil {
		if err := o.Placements.BeforeTenants(ctx, to); err != nil {
			return res, fmt.Errorf("tenant migrations, other servers' shape schemas: %w", err)
		}
	}
	var after int64
	if o.Canary > 0 {
		if after, err = r.phase(ctx, 0, o.Canary); err != nil {
			return res, err
		}
		if len(res.Failed) > 0 {
			return res, ErrCanaryFailed
		}
	}
	if _, err := r.phase(ctx, after, 0); err != nil {
		return res, err
	}
	r.emit(Event{Kind: EventFinish})
	if o.FailFast && len(res.Failed) > 0 {
		return res, ErrStopped
	}
	return res, nil
}

// DefaultConcurrency is the number of placements migrated at once when RunOpts says 0: the
// admin pool's size (pgxpool sizes it to the machine: max(4, CPUs)).
func DefaultConcurrency(pool *pgxpool.Pool) int {
	return max(1, int(pool.Config().MaxConns))
}

func lockHolder(ctx context.Context, conn *pgx.Conn) error {
	var pid int
	var app string
	var since time.Time
	err := conn.QueryRow(ctx, `
		SELECT l.pid, coalesce(a.application_name, ''), coalesce(a.backend_start, now())
		FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.classid = ($1::bigint >> 32)::oid AND l.objid = ($1::bigint & 4294967295)::oid AND l.objsubid = 1
		LIMIT 1`, lockkey.Catalog).Scan(&pid, &app, &since)
	if err != nil {
		return fmt.Errorf("%w (try again when it has finished)", ErrLocked)
	}
	return fmt.Errorf("%w: server pid %d (%q) since %s; try again when it has finished",
		ErrLocked, pid, app, since.UTC().Format(time.RFC3339))
}

type runner struct {
	pool        *pgxpool.Pool
	o           *RunOpts
	to          int64
	concurrency int

	mu   sync.Mutex
	res  *Result
	done int
}

func (r *runner) emit(e Event) {
	if r.o.OnEvent == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emitLocked(e)
}

func (r *runner) emitLocked(e Event) {
	if r.o.OnEvent == nil {
		return
	}
	e.Done, e.Total, e.Failed = r.done, r.res.Total, len(r.res.Failed)
	r.o.OnEvent(e)
}

func (r *runner) shapeTarget(ctx context.Context) (*Target, error) {
	t := &Target{Kind: KindShape}
	args := append([]any{r.to}, r.o.lineArgs()...)
	err := r.pool.QueryRow(ctx, r.o.sql(`SELECT id, schema, version FROM tenancy.placements p WHERE kind = 'shape' AND (version < $1 /*lines*/)`, 2), args...).
		Scan(&t.PlacementID, &t.Schema, &t.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return t, err
}

// pageSize bounds the placements held in memory at once.
const pageSize = 500

const pageSQL = `
	SELECT p.id, p.kind, p.server, p.database, p.schema, p.version,
	       coalesce((SELECT t.slug FROM tenancy.tenants t WHERE t.placement_id = p.id ORDER BY t.id LIMIT 1), ''),
	       coalesce(p.type, (SELECT t.type FROM tenancy.tenants t WHERE t.placement_id = p.id ORDER BY t.id LIMIT 1), 'default')
	FROM tenancy.placements p
	WHERE p.kind <> 'shape' AND p.id > $3 AND ` + pendingWhere + `
	ORDER BY p.id LIMIT $4`

// phase migrates the tenant placements with id > after, at most limit of them (0: all), and
// returns the last id it handed out. Placements are read a page at a time.
func (r *runner) phase(ctx context.Context, after int64, limit int) (int64, error) {
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan Target)
	var wg sync.WaitGroup
	for range r.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				// Workers use ctx, not stop: a placement under way is finished, not torn.
				if _, err := r.migrateTarget(ctx, &t); err != nil && r.o.FailFast {
					cancel()
				}
			}
		}()
	}
	var slugs []string
	if r.o.Tenants != nil {
		slugs = r.o.Tenants
	}
	handed := 0
	var perr error
feed:
	for {
		n := pageSize
		if limit > 0 {
			n = min(n, limit-handed)
		}
		if n == 0 {
			break
		}
		rows, err := r.pool.Query(stop, r.o.sql(pageSQL, 5), append([]any{r.to, slugs, after, n}, r.o.lineArgs()...)...)
		if err != nil {
			perr = err
			break
		}
		page, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Target, error) {
			var t Target
			var slug string
			err := row.Scan(&t.PlacementID, &t.Kind, &t.Server, &t.Database, &t.Schema, &t.Version, &slug, &t.Type)
			if t.Kind == KindSchema || t.Kind == KindDatabase {
				t.Tenant = slug
			}
			return t, err
		})
		if err != nil {
			perr = err
			break
		}
		for _, t := range page {
			select {
			case work <- t:
				after = t.PlacementID
				handed++
			case <-stop.Done():
				break feed
			}
		}
		if len(page) < n {
			break
		}
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return after, err
	}
	if r.o.FailFast && len(r.res.Failed) > 0 {
		return after, ErrStopped // perr, if any, is the page read that the stop cut short
	}
	return after, perr
}

// migrateTarget migrates one tenant or shape placement and reports it.
func (r *runner) migrateTarget(ctx context.Context, t *Target) (int64, error) {
	path := quoteIdent(t.Schema) + ", " + quoteIdent(r.o.SharedSchema)
	return r.one(ctx, t, r.o.Tenant, r.to, path)
}

func (r *runner) one(ctx context.Context, t *Target, migs []Migration, to int64, searchPath string) (int64, error) {
	start := time.Now()
	var v int64
	var err error
	lines := r.o.linesOf(t)
	linesDone := false
	if t.Remote() {
		v, err = r.o.Placements.MigrateRemote(ctx, t, migs, to, lines)
		linesDone = err == nil && len(lines) > 0
	} else {
		v, err = r.apply(ctx, t, migs, to, searchPath)
		if err == nil && len(lines) > 0 {
			linesDone, err = r.applyLines(ctx, t, lines, searchPath)
		}
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", t.Label(), err)
	}
	r.mu.Lock()
	r.done++
	if err != nil {
		r.res.Failed = append(r.res.Failed, Failure{Target: *t, Version: v, Err: err})
	} else if v > t.Version || linesDone {
		r.res.Applied++
	}
	r.emitLocked(Event{Kind: EventDone, Target: *t, From: t.Version, To: v, Duration: time.Since(start), Err: err})
	r.mu.Unlock()
	return v, err
}

// apply brings one placement to version to: transactional migrations in one transaction with
// AfterApply, a NO TRANSACTION migration on its own, and on again.
func (r *runner) apply(ctx context.Context, t *Target, migs []Migration, to int64, searchPath string) (int64, error) {
	v := t.Version
	for {
		next, noTx, err := r.applyTx(ctx, t, migs, to, searchPath)
		v = max(v, next) // on error, next is the version the placement is at, if known
		if err != nil {
			return v, err
		}
		if noTx == nil {
			return v, nil
		}
		if err := r.applyNoTx(ctx, t, noTx, v, searchPath); err != nil {
			return v, err
		}
		v = noTx.Version
	}
}

// applyTx is one transaction of apply, as Apply does it but in fewer round trips, since a fleet
// pays each of them 10,000 times, and on a busy server each one waits for the backend to be
// scheduled: BEGIN, the placement's row lock, its ledger and the search_path in one; each
// migration's file in one; the ledger rows with AfterApply's reads (AfterApplyQueuer) in one;
// COMMIT (after the GRANTs, when the migration made tables). It applies the migrations above the placement's version up to to, stopping before
// a NO TRANSACTION migration, which it returns.
func (r *runner) applyTx(ctx context.Context, t *Target, migs []Migration, to int64, searchPath string) (int64, *Migration, error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return t.Version, nil, err
	}
	spent := r.spent(conn.Conn())
	defer func() {
		if spent {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
		// A connection released closed, or inside a failed transaction, is destroyed by pgxpool.
		conn.Release()
	}()
	var current int64
	var citus bool
	applied := map[int64]string{}
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(`SELECT version, `+citusSQL+` FROM tenancy.placements WHERE id = $1 FOR UPDATE`, t.PlacementID).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&current, &citus); err != nil {
			return fmt.Errorf("read placement version: %w", err)
		}
		return nil
	})
	b.Queue(`SELECT version, checksum FROM tenancy.migrations WHERE placement_id = $1 AND line = ''`, t.PlacementID).Query(func(rows pgx.Rows) error {
		var v int64
		var sum string
		_, err := pgx.ForEachRow(rows, []any{&v, &sum}, func() error { applied[v] = sum; return nil })
		return err
	})
	b.Queue(`SELECT set_config('search_path', $1, true)`, searchPath)
	if t.Kind == KindPool {
		b.Queue(PoolCitusSQL)
	}
	br := conn.SendBatch(ctx, b)
	tx := br.Tx()
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // after Commit, a no-op
	if err := br.Close(); err != nil {
		return t.Version, nil, err
	}
	if err := verifyLedger(applied, current, migs); err != nil {
		return current, nil, err
	}
	var done []*Migration
	var took []time.Duration
	var noTx *Migration
	for i := range migs {
		m := &migs[i]
		if m.Version <= current || (to > 0 && m.Version > to) {
			continue
		}
		if m.NoTx {
			noTx = m
			break
		}
		start := time.Now()
		if err := execUp(ctx, tx, m.Up, citus); err != nil {
			return current, nil, fmt.Errorf("migration %s: %w", m.label(), err)
		}
		done, took = append(done, m), append(took, time.Since(start))
	}
	if citus && len(done) > 0 {
		if err := checkDistributed(ctx, tx); err != nil {
			return current, nil, fmt.Errorf("migration %s: %w", done[len(done)-1].label(), err)
		}
	}
	if len(done) == 0 {
		return current, noTx, tx.Commit(ctx)
	}
	rb := &pgx.Batch{}
	for i, m := range done {
		queueRecord(rb, t.PlacementID, m, took[i])
	}
	var after func() string
	if q, ok := r.o.Placements.(AfterApplyQueuer); ok {
		after = q.QueueAfterApply(rb, t)
	}
	if err := tx.SendBatch(ctx, rb).Close(); err != nil {
		return current, nil, fmt.Errorf("record migrations: %w", err)
	}
	switch {
	case after != nil:
		if sql := after(); sql != "" {
			if err := execUp(ctx, tx, sql, citus); err != nil {
				return current, nil, err
			}
		}
	case r.o.Placements != nil:
		if err := r.o.Placements.AfterApply(ctx, tx, t); err != nil {
			return current, nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return current, nil, err
	}
	return done[len(done)-1].Version, noTx, nil
}

// migratedKey keys the count of placements a connection has migrated, in pgconn's CustomData.
const migratedKey = "tenancy.migrated"

// spent counts one more placement migrated on conn and reports whether it has reached
// ConnMaxPlacements, so that it is closed after this one.
func (r *runner) spent(conn *pgx.Conn) bool {
	if r.o.ConnMaxPlacements <= 0 {
		return false
	}
	data := conn.PgConn().CustomData()
	n, _ := data[migratedKey].(int)
	n++
	data[migratedKey] = n
	return n >= r.o.ConnMaxPlacements
}

// applyNoTx runs a NO TRANSACTION migration statement by statement outside any transaction, then
// records it. A crash in between leaves it unrecorded, and the rerun runs it again: such
// migrations must be written to be rerun (CREATE INDEX CONCURRENTLY IF NOT EXISTS), as with goose.
func (r *runner) applyNoTx(ctx context.Context, t *Target, m *Migration, from int64, searchPath string) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	clean := false
	defer func() {
		if !clean {
			// The session may still carry the search_path: never give it back to the pool.
			_ = conn.Hijack().Close(context.WithoutCancel(ctx))
			return
		}
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, `SELECT set_config('search_path', $1, false)`, searchPath); err != nil {
		return err
	}
	start := time.Now()
	for _, s := range m.Statements {
		if _, err := conn.Exec(ctx, s, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("migration %s (no transaction): %w", m.label(), err)
		}
	}
	took := time.Since(start)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var current int64
		if err := tx.QueryRow(ctx, `SELECT version FROM tenancy.placements WHERE id = $1 FOR UPDATE`, t.PlacementID).Scan(&current); err != nil {
			return err
		}
		if current != from {
			return fmt.Errorf("placement moved from version %d to %d while %s ran", from, current, m.label())
		}
		if err := record(ctx, tx, t.PlacementID, m, took); err != nil {
			return err
		}
		if r.o.Placements != nil {
			return r.o.Placements.AfterApply(ctx, tx, t)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `RESET search_path`); err == nil {
		clean = true
	}
	return nil
}

// dryRun reports what a run would do, without the lock and without changing anything.
func (r *runner) dryRun(ctx context.Context, p *plan, sharedTo int64, start time.Time) (*Result, error) {
	r.res.Total = p.pending
	r.emit(Event{Kind: EventStart, Total: r.res.Total})
	if p.sharedVersion < sharedTo {
		t := Target{PlacementID: p.sharedID, Kind: KindShared, Schema: r.o.SharedSchema, Version: p.sharedVersion}
		r.emit(Event{Kind: EventPlanned, Target: t, From: t.Version, To: sharedTo, Versions: versions(r.o.Shared, t.Version, sharedTo)})
	}
	shape, err := r.shapeTarget(ctx)
	if err != nil {
		return nil, err
	}
	if shape != nil {
		r.emit(Event{Kind: EventPlanned, Target: *shape, From: shape.Version, To: r.to, Versions: versions(r.o.Tenant, shape.Version, r.to)})
	}
	var slugs []string
	if r.o.Tenants != nil {
		slugs = r.o.Tenants
	}
	var after int64
	for {
		rows, err := r.pool.Query(ctx, r.o.sql(pageSQL, 5), append([]any{r.to, slugs, after, pageSize}, r.o.lineArgs()...)...)
		if err != nil {
			return nil, err
		}
		var t Target
		var slug string
		n := 0
		_, err = pgx.ForEachRow(rows, []any{&t.PlacementID, &t.Kind, &t.Server, &t.Database, &t.Schema, &t.Version, &slug, &t.Type}, func() error {
			n++
			after = t.PlacementID
			if t.Kind == KindSchema || t.Kind == KindDatabase {
				t.Tenant = slug
			}
			r.emit(Event{Kind: EventPlanned, Target: t, From: t.Version, To: r.to, Versions: versions(r.o.Tenant, t.Version, r.to)})
			return nil
		})
		if err != nil {
			return nil, err
		}
		if n < pageSize {
			break
		}
	}
	r.emit(Event{Kind: EventFinish})
	r.res.Duration = time.Since(start)
	return r.res, nil
}

func versions(migs []Migration, from, to int64) []int64 {
	var out []int64
	for _, m := range migs {
		if m.Version > from && m.Version <= to {
			out = append(out, m.Version)
		}
	}
	return out
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }
