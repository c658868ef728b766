// Package isolation is the isolation soak (issue 8): many workers issue tenant-bound reads and
// writes through the public API (Client.Tx, Exec, Query, QueryRow) and through the HTTP stack
// (tenancyhttp on a loopback server, a Host per tenant) while faults are injected, and every row
// read and every response is checked to belong to the tenant it was asked for. Every write the
// client saw acknowledged is recorded and looked for at the end; every write that was rolled back
// (an error, a panic, a cancelled context, a savepoint rollback) must be absent.
//
// `go run ./bench soak` runs it at full size; proof_soak_test.go, proof_pgbouncer_test.go and
// proof_restart_test.go run it in a short form.
package isolation

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyhttp"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// TenantMigrations is the soak's one tenant table (items), following the RLS convention.
func TenantMigrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Config describes one soak run.
type Config struct {
	Client *tenancy.Client // bound calls; its Pool is the application role's, small
	// Super is a superuser pool on the catalog's server: it kills backends of the application
	// pool (pg_terminate_backend). SuperURL connects as a superuser to the catalog's database:
	// every placement is read with it at the end, bypassing RLS. Nil, "": no kills, no scan.
	Super    *pgxpool.Pool
	SuperURL string
	// AppName is the application_name of the application pool's connections: only they are killed.
	AppName string

	Tenants  []*tenancy.Tenant // made by Setup
	Requests int64             // stop after this many requests (0: Duration only)
	Duration time.Duration     // stop after this long (0: Requests only)
	Workers  int
	HTTP     float64 // share of requests sent through the HTTP stack
	Faults   bool    // inject faults
	// KillEvery is the interval between two pg_terminate_backend calls (0: 50ms when Faults).
	KillEvery time.Duration
	// KillEveryRequests, if set, replaces KillEvery: one backend is terminated every that many
	// requests, so that a fixed number of requests gets a fixed number of kills however fast the
	// machine is (the tests).
	KillEveryRequests int64
	// NoCancelRequests leaves out the faults that make pgx send a cancel request (a context
	// ending while a statement runs): behind PgBouncer 1.18 cancel requests racing killed
	// server connections crashed PgBouncer itself (docs/reliability.md).
	NoCancelRequests bool
	// Tolerate counts errors that are not injected faults instead of failing on them (the
	// restart test, where the database goes away).
	Tolerate bool
	// OnResult, if set, sees each request's outcome (the restart test times the outage).
	OnResult func(at time.Time, err error, status int)
	Log      func(format string, args ...any)
}

// Report is what a run found.
type Report struct {
	Requests    int64            `json:"requests"`
	HTTP        int64            `json:"http_requests"`
	OK          int64            `json:"ok"`
	Failed      int64            `json:"failed"` // ended in an error (injected faults and their victims)
	RowsChecked int64            `json:"rows_checked"`
	CrossTenant int64            `json:"cross_tenant"` // rows or responses of another tenant: must be 0
	Acked       int64            `json:"acked_writes"`
	Lost        int64            `json:"lost_acked_writes"`     // must be 0
	Resurrected int64            `json:"rolled_back_but_found"` // rolled-back writes found: must be 0
	Faults      map[string]int64 `json:"faults"`
	Errors      map[string]int64 `json:"unexpected_errors"`
	Duration    time.Duration    `json:"duration_ns"`
	PerSecond   float64          `json:"requests_per_second"`
	Samples     []string         `json:"samples,omitempty"` // the first few problems, verbatim
}

// Clean reports whether the run found no cross-tenant row, no lost acknowledged write and no
// resurrected rolled-back write.
func (r *Report) Clean() bool { return r.CrossTenant == 0 && r.Lost == 0 && r.Resurrected == 0 }

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "requests %d (%d through HTTP) in %s: %.0f/s; ok %d, failed %d\n", r.Requests, r.HTTP, r.Duration.Round(time.Millisecond), r.PerSecond, r.OK, r.Failed)
	fmt.Fprintf(&b, "rows checked %d; cross-tenant rows %d; acknowledged writes %d, lost %d; rolled-back writes found %d\n", r.RowsChecked, r.CrossTenant, r.Acked, r.Lost, r.Resurrected)
	fmt.Fprintf(&b, "faults injected: %s\n", counts(r.Faults))
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "unexpected errors: %s\n", counts(r.Errors))
	}
	for _, s := range r.Samples {
		fmt.Fprintf(&b, "  %s\n", s)
	}
	return b.String()
}

func counts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Split says how many tenants of each tier Setup makes.
type Split struct{ Pool, Schema, Database int }

// Setup creates the tenants (slugs soak-<tier>-<n>), four at a time.
func Setup(ctx context.Context, c *tenancy.Client, s Split) ([]*tenancy.Tenant, error) {
	type job struct {
		slug string
		tier tenancy.Tier
	}
	var jobs []job
	for i := range s.Database {
		jobs = append(jobs, job{fmt.Sprintf("soak-db-%d", i), tenancy.TierDatabase})
	}
	for i := range s.Schema {
		jobs = append(jobs, job{fmt.Sprintf("soak-schema-%d", i), tenancy.TierSchema})
	}
	for i := range s.Pool {
		jobs = append(jobs, job{fmt.Sprintf("soak-pool-%d", i), tenancy.TierPool})
	}
	out := make([]*tenancy.Tenant, len(jobs))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				t, err := c.TenantCreate(ctx, jobs[i].slug, &tenancy.TenantCreateOpts{Tier: jobs[i].tier})
				if errors.Is(err, tenancy.ErrTenantExists) {
					t, err = c.TenantGet(ctx, jobs[i].slug)
				}
				if err != nil {
					errs <- fmt.Errorf("create %s: %w", jobs[i].slug, err)
					return
				}
				out[i] = t
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return out, nil
}

// errInjected is the error an injected fault returns from inside a transaction.
var errInjected = errors.New("soak: injected error")

// write is one row the soak wrote: seq is unique in the run.
type write struct {
	tenant int // index into Tenants
	seq    int64
	kind   string // for a rolled-back write: the fault that rolled it back
}

// run is the state of one run.
type run struct {
	cfg    Config
	byID   map[int64]int
	seq    atomic.Int64
	report Report
	mu     sync.Mutex
	acked  []write
	undone []write // rolled back: must be absent
	faults map[string]*atomic.Int64
	errs   map[string]int64

	requests, httpN, ok, failed, rows, cross atomic.Int64
	client                                   *http.Client
	baseURL                                  string
}

// Run runs the soak and verifies every tenant's rows at the end.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	if cfg.Requests <= 0 && cfg.Duration <= 0 {
		return nil, errors.New("soak: set Requests or Duration")
	}
	if cfg.KillEvery <= 0 {
		cfg.KillEvery = 50 * time.Millisecond
	}
	r := &run{cfg: cfg, byID: map[int64]int{}, faults: map[string]*atomic.Int64{}, errs: map[string]int64{}}
	for i, t := range cfg.Tenants {
		r.byID[t.ID] = i
	}
	for _, k := range []string{"error", "panic", "cancel", "timeout", "savepoint", "kill", "http-panic"} {
		r.faults[k] = &atomic.Int64{}
	}
	// Number this run's writes after every seq the tenants already hold (an earlier run on the
	// same tenants): a write rolled back here must not be taken for an earlier committed row.
	base, err := maxSeq(ctx, cfg.Client, cfg.Tenants)
	if err != nil {
		return nil, fmt.Errorf("soak: read the tenants' highest seq: %w", err)
	}
	r.seq.Store(base)

	// The HTTP stack: a cache of the catalog (preloaded, no query on a hit), the subdomain
	// resolver, and a handler that works through the client.
	cache := tenancyhttp.NewCache(cfg.Client, nil)
	if _, err := cache.Preload(ctx); err != nil {
		return nil, fmt.Errorf("soak: preload the cache: %w", err)
	}
	srv := httptest.NewServer(tenancyhttp.Middleware(&tenancyhttp.Config{
		Tenants:   cache,
		Resolvers: []tenancyhttp.Resolver{tenancyhttp.Subdomain("soak.test")},
		// A lookup that fails because the database cannot be reached (a killed backend, a
		// restart) is a 503, as the handler's own errors are.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if tenancyhttp.StatusCode(err) == http.StatusInternalServerError && Unavailable(err) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "database unavailable", http.StatusServiceUnavailable)
				return
			}
			tenancyhttp.DefaultErrorHandler(w, r, err)
		},
	})(Handler(cfg.Client)))
	defer srv.Close()
	r.baseURL = srv.URL
	r.client = &http.Client{
		Timeout: 2 * time.Minute, // a hang guard, not a latency bound
		Transport: &http.Transport{
			MaxIdleConnsPerHost: cfg.Workers,
			DialContext:         (&net.Dialer{}).DialContext,
		},
	}

	runCtx, stop := context.WithCancel(ctx)
	if cfg.Duration > 0 {
		runCtx, stop = context.WithTimeout(ctx, cfg.Duration)
	}
	defer stop()
	start := time.Now()
	var wg sync.WaitGroup
	if cfg.Faults && cfg.Super != nil && cfg.AppName != "" && cfg.KillEveryRequests <= 0 {
		wg.Go(func() { r.killer(runCtx) })
	}
	var workers sync.WaitGroup
	for w := range cfg.Workers {
		workers.Go(func() { r.worker(runCtx, uint64(w)) })
	}
	workers.Wait()
	stop()
	wg.Wait()
	r.report.Duration = time.Since(start)
	cfg.Log("soak: %d requests in %s; verifying", r.requests.Load(), r.report.Duration.Round(time.Millisecond))
	if err := r.verify(ctx); err != nil {
		return nil, err
	}
	rep := &r.report
	rep.Requests, rep.HTTP, rep.OK, rep.Failed = r.requests.Load(), r.httpN.Load(), r.ok.Load(), r.failed.Load()
	rep.RowsChecked += r.rows.Load()
	rep.CrossTenant += r.cross.Load()
	rep.Acked = int64(len(r.acked))
	rep.PerSecond = float64(rep.Requests) / rep.Duration.Seconds()
	rep.Faults = map[string]int64{}
	for k, v := range r.faults {
		if n := v.Load(); n > 0 {
			rep.Faults[k] = n
		}
	}
	rep.Errors = r.errs
	return rep, nil
}

// maxSeq is the highest seq stored for any of ts, read through the binding.
func maxSeq(ctx context.Context, c *tenancy.Client, ts []*tenancy.Tenant) (int64, error) {
	var top int64
	for _, t := range ts {
		var n int64
		if err := c.QueryRow(tenancy.WithTenant(ctx, t), `SELECT coalesce(max(seq), 0) FROM items`).Scan(&n); err != nil {
			return 0, fmt.Errorf("%s: %w", t.Slug, err)
		}
		top = max(top, n)
	}
	return top, nil
}

func (r *run) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.report.Samples) < 20 {
		r.report.Samples = append(r.report.Samples, fmt.Sprintf(format, args...))
	}
}

func (r *run) unexpected(err error) {
	class := errorClass(err)
	r.mu.Lock()
	r.errs[class]++
	first := r.errs[class] == 1
	r.mu.Unlock()
	if first {
		r.problem("unexpected error (%s): %v", class, err)
	}
}

func errorClass(err error) string {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr):
		return "sqlstate " + pgErr.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "context"
	case errors.Is(err, errInjected):
		return "injected"
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe") {
		return "connection"
	}
	return "other"
}

// killer terminates one backend of the application pool every KillEvery.
func (r *run) killer(ctx context.Context) {
	tick := time.NewTicker(r.cfg.KillEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.kill(ctx)
	}
}

// kill terminates one backend of the application pool, chosen at random.
func (r *run) kill(ctx context.Context) {
	var killed bool
	err := r.cfg.Super.QueryRow(ctx, `
		SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM (
			SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()
			ORDER BY random() LIMIT 1) k`, r.cfg.AppName).Scan(&killed)
	if err == nil && killed {
		r.faults["kill"].Add(1)
	}
}

func (r *run) worker(ctx context.Context, w uint64) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), w))
	for ctx.Err() == nil {
		n := r.requests.Add(1)
		if r.cfg.Requests > 0 && n > r.cfg.Requests {
			r.requests.Add(-1)
			return
		}
		if k := r.cfg.KillEveryRequests; k > 0 && n%k == 0 && r.cfg.Faults && r.cfg.Super != nil && r.cfg.AppName != "" {
			r.kill(ctx) // the other workers' requests are in flight
		}
		ti := rng.IntN(len(r.cfg.Tenants))
		var err error
		status := 0
		if rng.Float64() < r.cfg.HTTP {
			r.httpN.Add(1)
			status, err = r.viaHTTP(ctx, rng, ti)
		} else {
			err = r.viaAPI(ctx, rng, ti)
		}
		if r.cfg.OnResult != nil {
			r.cfg.OnResult(time.Now(), err, status)
		}
		if err == nil {
			r.ok.Add(1)
			continue
		}
		r.failed.Add(1)
		if !isFaultError(err) && ctx.Err() == nil {
			if r.cfg.Tolerate {
				r.mu.Lock()
				r.errs[errorClass(err)]++
				r.mu.Unlock()
			} else {
				r.unexpected(err)
			}
		}
	}
}

// isFaultError reports an error an injected fault explains: the injected error itself, a
// context ended on purpose, a backend killed under the request (SQLSTATE 57P01 or the
// connection lost), a panic turned into an HTTP 500, a killed backend turned into a 503.
func isFaultError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 57P01 admin_shutdown: pg_terminate_backend; class 08: the connection broke under the
		// request (what a pooler in front reports when the server connection it used is killed).
		return pgErr.Code == "57P01" || strings.HasPrefix(pgErr.Code, "08")
	}
	switch errorClass(err) {
	case "injected", "context", "connection":
		return true
	}
	// A backend killed under an HTTP request is answered 503, as the handler maps it.
	return errors.Is(err, errFaultStatus) || errors.Is(err, errUnavailable)
}

var errFaultStatus = errors.New("soak: the injected fault's status")

// check records one row read under tenant ti.
func (r *run) check(ti int, tenantID int64, owner, how string) {
	r.rows.Add(1)
	t := r.cfg.Tenants[ti]
	if tenantID != t.ID || owner != t.Slug {
		r.cross.Add(1)
		r.problem("cross-tenant row via %s: bound to %s (id %d), read a row of id %d owned by %q", how, t.Slug, t.ID, tenantID, owner)
	}
}

func (r *run) ack(ti int, seqs ...int64) {
	r.mu.Lock()
	for _, s := range seqs {
		r.acked = append(r.acked, write{tenant: ti, seq: s})
	}
	r.mu.Unlock()
}

func (r *run) undo(ti int, kind string, seqs ...int64) {
	r.mu.Lock()
	for _, s := range seqs {
		r.undone = append(r.undone, write{ti, s, kind})
	}
	r.mu.Unlock()
}

const (
	insertSQL = `INSERT INTO items (owner, seq, payload) VALUES ($1, $2, $3)`
	recentSQL = `SELECT tenant_id, owner FROM items ORDER BY id DESC LIMIT 5`
	// scanSQL forgets its WHERE clause: only the binding keeps other tenants' rows out.
	scanSQL = `SELECT tenant_id, owner FROM items LIMIT 20`
)

func payload(slug string, seq int64) string { return slug + ":" + strconv.FormatInt(seq, 10) }

// viaAPI runs one unit of work through the Client.
func (r *run) viaAPI(ctx context.Context, rng *rand.Rand, ti int) error {
	t := r.cfg.Tenants[ti]
	ctx = tenancy.WithTenant(ctx, t)
	c := r.cfg.Client
	faults := r.cfg.Faults
	switch k := rng.IntN(100); {
	case k < 20: // one-shot write
		seq := r.seq.Add(1)
		if _, err := c.Exec(ctx, insertSQL, t.Slug, seq, payload(t.Slug, seq)); err != nil {
			return err
		}
		r.ack(ti, seq)
		return nil
	case k < 35: // one-shot read of several rows
		rows, err := c.Query(ctx, recentSQL)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var owner string
			if err := rows.Scan(&id, &owner); err != nil {
				return err
			}
			r.check(ti, id, owner, "Query")
		}
		return rows.Err()
	case k < 45: // one-shot read of one row, and the binding itself
		var id int64
		var owner, bound string
		err := c.QueryRow(ctx, `SELECT coalesce(max(tenant_id), $1), coalesce(max(owner), $2), current_setting('tenancy.tenant_id') FROM (`+scanSQL+`) s`, t.ID, t.Slug).Scan(&id, &owner, &bound)
		if err != nil {
			return err
		}
		r.check(ti, id, owner, "QueryRow")
		if bound != strconv.FormatInt(t.ID, 10) {
			r.cross.Add(1)
			r.problem("QueryRow bound to %s saw tenancy.tenant_id = %q", t.Slug, bound)
		}
		return nil
	case k < 70 || !faults: // a transaction: writes and reads, committed
		var seqs []int64
		err := c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			seqs = seqs[:0]
			for range 1 + rng.IntN(3) {
				seq := r.seq.Add(1)
				if _, err := tx.Exec(ctx, insertSQL, t.Slug, seq, payload(t.Slug, seq)); err != nil {
					return err
				}
				seqs = append(seqs, seq)
			}
			return r.readTx(ctx, tx, ti)
		})
		if err != nil {
			return err
		}
		r.ack(ti, seqs...)
		return nil
	case k < 78: // savepoint: the nested transaction's row is rolled back, the rest committed
		r.faults["savepoint"].Add(1)
		var kept, dropped int64
		err := c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			kept, dropped = r.seq.Add(1), r.seq.Add(1)
			if _, err := tx.Exec(ctx, insertSQL, t.Slug, kept, payload(t.Slug, kept)); err != nil {
				return err
			}
			sp, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			if _, err := sp.Exec(ctx, insertSQL, t.Slug, dropped, payload(t.Slug, dropped)); err != nil {
				return err
			}
			if rng.IntN(2) == 0 { // a failing statement inside the savepoint first
				_, _ = sp.Exec(ctx, `SELECT 1/0`)
			}
			if err := sp.Rollback(ctx); err != nil {
				return err
			}
			return r.readTx(ctx, tx, ti)
		})
		if err != nil {
			return err
		}
		r.ack(ti, kept)
		r.undo(ti, "savepoint", dropped)
		return nil
	case k < 84: // an error inside the transaction
		r.faults["error"].Add(1)
		seq := r.seq.Add(1)
		err := c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, insertSQL, t.Slug, seq, payload(t.Slug, seq)); err != nil {
				return err
			}
			return errInjected
		})
		r.undo(ti, "error", seq)
		return err
	case k < 90: // a panic inside the transaction
		r.faults["panic"].Add(1)
		seq := r.seq.Add(1)
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = errInjected
				}
			}()
			return c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, insertSQL, t.Slug, seq, payload(t.Slug, seq)); err != nil {
					return err
				}
				panic("soak: injected panic")
			})
		}()
		r.undo(ti, "panic", seq)
		return err
	case k < 95: // the context is cancelled before the commit
		r.faults["cancel"].Add(1)
		seq := r.seq.Add(1)
		cctx, cancel := context.WithCancel(ctx)
		err := c.Tx(cctx, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, insertSQL, t.Slug, seq, payload(t.Slug, seq)); err != nil {
				return err
			}
			cancel()
			return nil
		})
		cancel()
		r.undo(ti, "cancel", seq)
		if err == nil {
			return fmt.Errorf("soak: a transaction committed after its context was cancelled")
		}
		return err
	default: // a statement outlives its context's deadline
		if r.cfg.NoCancelRequests {
			return c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error { return r.readTx(ctx, tx, ti) })
		}
		r.faults["timeout"].Add(1)
		tctx, cancel := context.WithTimeout(ctx, time.Duration(1+rng.IntN(3))*time.Millisecond)
		defer cancel()
		_, err := c.Exec(tctx, `SELECT pg_sleep(0.02)`)
		if err == nil {
			return nil
		}
		return err
	}
}

// readTx reads inside a transaction: recent rows, a scan with no WHERE, and the binding.
func (r *run) readTx(ctx context.Context, tx pgx.Tx, ti int) error {
	rows, err := tx.Query(ctx, scanSQL)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		var owner string
		if err := rows.Scan(&id, &owner); err != nil {
			rows.Close()
			return err
		}
		r.check(ti, id, owner, "Tx")
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var bound string
	if err := tx.QueryRow(ctx, `SELECT current_setting('tenancy.tenant_id')`).Scan(&bound); err != nil {
		return err
	}
	if t := r.cfg.Tenants[ti]; bound != strconv.FormatInt(t.ID, 10) {
		r.cross.Add(1)
		r.problem("Tx bound to %s saw tenancy.tenant_id = %q", t.Slug, bound)
	}
	return nil
}

// Response is what Handler answers.
type Response struct {
	Tenant string `json:"tenant"` // the slug the middleware put in the request's context
	Rows   []Row  `json:"rows,omitempty"`
	Seq    int64  `json:"seq,omitempty"`
}

// Row is one item as Handler returns it.
type Row struct {
	TenantID int64  `json:"tenant_id"`
	Owner    string `json:"owner"`
}

// Handler serves the soak's tenant app: GET reads the tenant's recent items, POST ?seq=N writes
// one, ?fault=panic panics inside the bound transaction. Database errors that mean the database
// cannot be reached are answered 503 with Retry-After (the restart test), others 500.
func Handler(c *tenancy.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		t := tenancy.MustFromContext(req.Context())
		resp := Response{Tenant: t.Slug}
		defer func() {
			if p := recover(); p != nil {
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		var err error
		status := http.StatusOK
		switch {
		case req.URL.Query().Get("fault") == "panic":
			err = c.Tx(req.Context(), func(ctx context.Context, tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, insertSQL, t.Slug, -1, "panic"); err != nil {
					return err
				}
				panic("soak: injected panic in a handler")
			})
		case req.Method == http.MethodPost:
			seq, _ := strconv.ParseInt(req.URL.Query().Get("seq"), 10, 64)
			_, err = c.Exec(req.Context(), insertSQL, t.Slug, seq, payload(t.Slug, seq))
			resp.Seq = seq
			status = http.StatusCreated
		default:
			err = c.Tx(req.Context(), func(ctx context.Context, tx pgx.Tx) error {
				rows, err := tx.Query(ctx, recentSQL)
				if err != nil {
					return err
				}
				resp.Rows, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Row, error) {
					var row Row
					return row, r.Scan(&row.TenantID, &row.Owner)
				})
				return err
			})
		}
		if err != nil {
			if Unavailable(err) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "database unavailable", http.StatusServiceUnavailable)
				return
			}
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(resp)
	})
}

// Unavailable reports an error meaning the database cannot be reached or is shutting down:
// a refused or lost connection, SQLSTATE class 08 (connection exception) or 57P (operator
// intervention: shutdown, terminated backend, cannot connect now).
func Unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "connection refused") ||
		strings.Contains(err.Error(), "unexpected EOF") || strings.Contains(err.Error(), "connection reset")
}

// viaHTTP sends one request for tenant ti through the loopback server.
func (r *run) viaHTTP(ctx context.Context, rng *rand.Rand, ti int) (int, error) {
	t := r.cfg.Tenants[ti]
	method, q := http.MethodGet, url.Values{}
	var seq int64
	switch k := rng.IntN(100); {
	case k < 35:
		method = http.MethodPost
		seq = r.seq.Add(1)
		q.Set("seq", strconv.FormatInt(seq, 10))
	case k < 38 && r.cfg.Faults:
		r.faults["http-panic"].Add(1)
		q.Set("fault", "panic")
	}
	req, err := http.NewRequestWithContext(ctx, method, r.baseURL+"/items?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	req.Host = t.Slug + ".soak.test"
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated:
	case http.StatusInternalServerError:
		if q.Get("fault") != "" {
			return resp.StatusCode, errFaultStatus
		}
		return resp.StatusCode, fmt.Errorf("soak: HTTP 500 for %s", t.Slug)
	case http.StatusServiceUnavailable:
		return resp.StatusCode, fmt.Errorf("soak: HTTP 503 for %s: %w", t.Slug, errUnavailable)
	default:
		return resp.StatusCode, fmt.Errorf("soak: HTTP %d for %s: %s", resp.StatusCode, t.Slug, strings.TrimSpace(string(body)))
	}
	var out Response
	if err := json.Unmarshal(body, &out); err != nil {
		return resp.StatusCode, fmt.Errorf("soak: response for %s: %w", t.Slug, err)
	}
	if out.Tenant != t.Slug {
		r.cross.Add(1)
		r.problem("HTTP request for %s was served as %s", t.Slug, out.Tenant)
	}
	for _, row := range out.Rows {
		r.check(ti, row.TenantID, row.Owner, "HTTP")
	}
	if method == http.MethodPost {
		if out.Seq != seq {
			return resp.StatusCode, fmt.Errorf("soak: HTTP write for %s acknowledged seq %d, sent %d", t.Slug, out.Seq, seq)
		}
		r.ack(ti, seq)
	}
	return resp.StatusCode, nil
}

var errUnavailable = errors.New("database unavailable")

// IsUnavailable reports a request answered 503 (the database could not be reached).
func IsUnavailable(err error) bool { return errors.Is(err, errUnavailable) }

// verify reads every tenant's rows through the binding (they must all be its own; every
// acknowledged write present; no rolled-back write present) and, with a superuser, every
// placement as stored (every row in a placement must be tagged, and named, for a tenant placed
// there).
func (r *run) verify(ctx context.Context) error {
	need := make([]map[int64]bool, len(r.cfg.Tenants))
	gone := make([]map[int64]string, len(r.cfg.Tenants))
	for i := range need {
		need[i], gone[i] = map[int64]bool{}, map[int64]string{}
	}
	for _, w := range r.acked {
		need[w.tenant][w.seq] = true
	}
	for _, w := range r.undone {
		gone[w.tenant][w.seq] = w.kind
	}
	c := r.cfg.Client
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var errMu sync.Mutex
	for range 4 {
		wg.Go(func() {
			for {
				ti := int(next.Add(1) - 1)
				if ti >= len(r.cfg.Tenants) {
					return
				}
				t := r.cfg.Tenants[ti]
				var err error
				for attempt := 0; attempt < 20; attempt++ { // the restart test's database may still be coming back
					err = r.verifyTenant(ctx, c, ti, t, need[ti], gone[ti])
					if err == nil || !Unavailable(err) {
						break
					}
					time.Sleep(250 * time.Millisecond)
				}
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("soak: verify %s: %w", t.Slug, err)
					}
					errMu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if r.cfg.SuperURL != "" {
		return r.verifyStored(ctx)
	}
	return nil
}

func (r *run) verifyTenant(ctx context.Context, c *tenancy.Client, ti int, t *tenancy.Tenant, need map[int64]bool, gone map[int64]string) error {
	rows, err := c.Query(tenancy.WithTenant(ctx, t), `SELECT tenant_id, owner, seq, payload FROM items`)
	if err != nil {
		return err
	}
	found := map[int64]bool{}
	var checked, cross, resurrected int64
	for rows.Next() {
		var id, seq int64
		var owner, p string
		if err := rows.Scan(&id, &owner, &seq, &p); err != nil {
			rows.Close()
			return err
		}
		checked++
		if id != t.ID || owner != t.Slug || (seq > 0 && p != payload(t.Slug, seq)) {
			cross++
			r.problem("verify: %s (id %d) holds a row of id %d owned by %q: %q", t.Slug, t.ID, id, owner, p)
		}
		if kind, ok := gone[seq]; ok {
			resurrected++
			r.problem("verify: %s holds seq %d, which was rolled back (%s)", t.Slug, seq, kind)
		}
		found[seq] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var lost int64
	for seq := range need {
		if !found[seq] {
			lost++
			r.problem("verify: %s lost acknowledged write seq %d", t.Slug, seq)
		}
	}
	r.mu.Lock()
	r.report.RowsChecked += checked
	r.report.CrossTenant += cross
	r.report.Lost += lost
	r.report.Resurrected += resurrected
	r.mu.Unlock()
	return nil
}

// verifyStored reads every placement's items as the superuser (no RLS): each row's tenant_id
// must be a tenant placed there, and its owner that tenant's slug.
func (r *run) verifyStored(ctx context.Context) error {
	type place struct{ database, schema string }
	slugs := map[place]map[int64]string{}
	for _, t := range r.cfg.Tenants {
		p := place{t.Placement.Database, t.Placement.Schema}
		if slugs[p] == nil {
			slugs[p] = map[int64]string{}
		}
		slugs[p][t.ID] = t.Slug
	}
	for p, ids := range slugs {
		u, err := url.Parse(r.cfg.SuperURL)
		if err != nil {
			return err
		}
		if p.database != "" {
			u.Path = "/" + p.database
		}
		conn, err := pgx.Connect(ctx, u.String())
		if err != nil {
			return fmt.Errorf("soak: superuser connection to %s: %w", u.Path, err)
		}
		err = r.scanPlacement(ctx, conn, p.schema, ids)
		conn.Close(ctx)
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *run) scanPlacement(ctx context.Context, conn *pgx.Conn, schema string, ids map[int64]string) error {
	rows, err := conn.Query(ctx, `SELECT tenant_id, owner, count(*) FROM `+pgx.Identifier{schema, "items"}.Sanitize()+` GROUP BY 1, 2`)
	if err != nil {
		return fmt.Errorf("soak: scan %s: %w", schema, err)
	}
	var id, n int64
	var owner string
	_, err = pgx.ForEachRow(rows, []any{&id, &owner, &n}, func() error {
		if slug, ok := ids[id]; !ok || slug != owner {
			r.mu.Lock()
			r.report.CrossTenant += n
			r.mu.Unlock()
			r.problem("stored: %d rows in %s tagged %d, owned by %q: not a tenant placed there", n, schema, id, owner)
		}
		return nil
	})
	return err
}
