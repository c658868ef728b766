package tenancy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
)

// BenchmarkReadTable prints the table of docs/benchmarks.md ("Bound reads against the peers"):
// tier x tenant count x {hand-written, tenancy, the peers' patterns}, a primary-key lookup, a
// random tenant per operation, 8 workers. The variants of one cell run in interleaved rounds
// (the order rotated each round), so their ratios are side by side on a noisy machine:
//
//	go test -run '^$' -bench BenchmarkReadTable -benchtime 1x .
//
// TENANCY_READ_ROUNDS (default 10) and TENANCY_READ_ROUND (default 200ms, per variant and round)
// set the length. The peers, as they are usually written with pgx:
//
//   - django: django-tenants' pattern, SET search_path when the connection last served another
//     tenant, then the query (two round trips on a switch), as a role RLS does not apply to. In
//     the pool tier (django-tenants has none) the session sets tenancy.tenant_id instead, as the
//     application role under RLS.
//   - session: gorm-multitenancy's SetSearchPath: a session SET, the query, then RESET (three
//     round trips); in the pool tier with tenancy.tenant_id too, under RLS.
//   - rlstx: the hand-rolled RLS transaction: BEGIN, set_config(..., true), the query, COMMIT
//     (four round trips), as the application role.
//
// hand is the lookup schema-qualified by hand (RLS-bypassing role, WHERE tenant_id = $1), in
// both exec modes; ratios are taken against the faster.
func BenchmarkReadTable(b *testing.B) {
	fleet1000(b)
	f := &benchFleet
	ctx := context.Background()
	rounds, round := 10, 200*time.Millisecond
	if v, err := strconv.Atoi(os.Getenv("TENANCY_READ_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	if v, err := time.ParseDuration(os.Getenv("TENANCY_READ_ROUND")); err == nil && v > 0 {
		round = v
	}

	// Pools shared by the pool and schema tiers (the catalog's database).
	openPool := func(u string, mode pgx.QueryExecMode, conns int32, database string) *pgxpool.Pool {
		cfg, err := pgxpool.ParseConfig(u)
		if err != nil {
			b.Fatal(err)
		}
		if database != "" {
			cfg.ConnConfig.Database = database
		}
		tenancy.ConfigurePool(cfg, "")
		cfg.ConnConfig.DefaultQueryExecMode = mode
		cfg.MaxConns, cfg.MinConns = conns, conns
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Close)
		return p
	}
	rawURL, err := url.Parse(f.db.AppURL)
	if err != nil {
		b.Fatal(err)
	}
	rawURL.User = url.UserPassword(benchRole, benchPassword)
	raw, app := rawURL.String(), f.db.AppURL
	sharedPools := readPools{
		hand:    map[string]*pgxpool.Pool{"cache": f.rawPools["cache"], "exec": f.rawPools["exec"]},
		rawPeer: openPool(raw, pgx.QueryExecModeCacheStatement, benchConns, ""),
		appPeer: openPool(app, pgx.QueryExecModeCacheStatement, benchConns, ""),
	}

	// The pool tier: 1,000 tenants in one pool placement.
	poolTenants := poolFleet(b, benchTenants)
	schemaTargets := make([]readTarget, benchTenants)
	for i, t := range f.tenants {
		schemaTargets[i] = newReadTarget(f.ctxs[i], t, 1, &sharedPools)
	}
	poolTargets := make([]readTarget, len(poolTenants))
	for i, t := range poolTenants {
		poolTargets[i] = newReadTarget(tenancy.WithTenant(ctx, t.t), t.t, t.base, &sharedPools)
	}

	noRecycle, err := tenancy.New(&tenancy.Config{AppPool: openPool(app, pgx.QueryExecModeCacheStatement, benchConns, ""), ConnMaxTenants: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(noRecycle.Close)
	cells := []struct {
		tier    tenancy.Tier
		targets func() []readTarget
		client  *tenancy.Client
	}{
		{tenancy.TierSchema, func() []readTarget { return schemaTargets[:tierBenchTenants] }, f.clients["cache"]},
		{tenancy.TierSchema, func() []readTarget { return schemaTargets }, f.clients["cache"]},
		{tenancy.TierPool, func() []readTarget { return poolTargets[:tierBenchTenants] }, f.clients["cache"]},
		{tenancy.TierPool, func() []readTarget { return poolTargets }, f.clients["cache"]},
		{tenancy.TierDatabase, func() []readTarget { return databaseFleet(b, raw, app, openPool) }, nil},
	}
	peers := []string{"django", "session", "rlstx"}
	var wallRows, cpuRows []string
	for _, cell := range cells {
		ts := cell.targets()
		c, databases := cell.client, []string{f.db.Name}
		if c == nil {
			c = databaseClient(b)
			for _, t := range ts {
				databases = append(databases, t.t.Placement.Database)
			}
		}
		variants := readVariants(c, cell.tier)
		if cell.tier == tenancy.TierSchema {
			// The same client without connection recycling (Config.ConnMaxTenants), on a pool of its
			// own: what bounding the backends' memory costs when a connection serves more tenant
			// schemas than the limit.
			variants = append(variants, readVariant{"tenancy-norecycle", func(t *readTarget, id int64) error {
				var body string
				return noRecycle.QueryRow(t.ctx, readLookup, id).Scan(&body)
			}})
		}
		res := runInterleaved(b, ts, variants, rounds, round, databases)
		for _, cpu := range []bool{false, true} {
			get := func(name string) float64 {
				if cpu {
					return res[name].cpu
				}
				return res[name].wall
			}
			hand, handMode := get("hand-cache"), "cache"
			if x := get("hand-exec"); x < hand {
				hand, handMode = x, "exec"
			}
			tn := get("tenancy")
			row := fmt.Sprintf("| %s | %d | %.1f (%s) | %.1f | **%.2f** |", cell.tier, len(ts), hand/1000, handMode, tn/1000, hand/tn)
			for _, p := range peers {
				row += fmt.Sprintf(" %.1f | **%.2f** |", get(p)/1000, get(p)/tn)
			}
			var extra []string
			for _, v := range variants {
				if !slices.Contains(append([]string{"hand-cache", "hand-exec", "tenancy"}, peers...), v.name) {
					extra = append(extra, fmt.Sprintf("%s %.1f (%.2f)", v.name, get(v.name)/1000, hand/get(v.name)))
				}
			}
			row += " " + strings.Join(extra, "; ") + " |"
			if cpu {
				cpuRows = append(cpuRows, row)
			} else {
				wallRows = append(wallRows, row)
			}
		}
		// Each cell as it is done too, in case a later one fails.
		fmt.Fprintf(os.Stderr, "wall %s\ncpu  %s\n", wallRows[len(wallRows)-1], cpuRows[len(cpuRows)-1])
	}
	head := "| tier | tenants | hand-written µs/op (mode) | tenancy µs/op | tenancy vs hand | django µs/op | tenancy vs django | session µs/op | tenancy vs session | rlstx µs/op | tenancy vs rlstx | other variants µs/op (vs hand) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
	fmt.Printf("\nThroughput (wall time / operations, 8 workers), %d rounds of %v per variant:\n\n%s%s\n", rounds, round, head, strings.Join(wallRows, "\n"))
	fmt.Printf("\nCPU time per operation (this process + the server backends):\n\n%s%s\n", head, strings.Join(cpuRows, "\n"))
	fmt.Println()
}

// readPools are the pools one target's variants use: the hand-written baseline by exec mode,
// and the peers' pools as the RLS-bypassing role and as the application role.
type readPools struct {
	hand             map[string]*pgxpool.Pool
	rawPeer, appPeer *pgxpool.Pool
	rlstx            *pgxpool.Pool // appPeer if nil
}

// readTarget is one tenant as every variant reaches it.
type readTarget struct {
	ctx        context.Context // WithTenant
	t          *tenancy.Tenant
	base       int64  // its first note id
	handSQL    string // the lookup, schema-qualified
	searchPath string
	pools      *readPools
}

func newReadTarget(ctx context.Context, t *tenancy.Tenant, base int64, pools *readPools) readTarget {
	return readTarget{
		ctx: ctx, t: t, base: base, pools: pools,
		handSQL:    `SELECT body FROM ` + pgx.Identifier{t.Placement.Schema, "notes"}.Sanitize() + ` WHERE tenant_id = $1 AND id = $2`,
		searchPath: pgx.Identifier{t.Placement.Schema}.Sanitize() + ", public",
	}
}

type readVariant struct {
	name string
	op   func(t *readTarget, id int64) error
}

const readLookup = `SELECT body FROM notes WHERE id = $1`

// django's per-connection memory of the tenant it last set (the connection wrapper's
// search_path_set in django-tenants).
var djangoLast sync.Map // *pgx.Conn -> tenant id

func readVariants(c *tenancy.Client, tier tenancy.Tier) []readVariant {
	ctx := context.Background()
	hand := func(mode string) func(t *readTarget, id int64) error {
		return func(t *readTarget, id int64) error {
			var body string
			return t.pools.hand[mode].QueryRow(ctx, t.handSQL, t.t.ID, id).Scan(&body)
		}
	}
	// setSQL is the session switch of django and session: search_path, and in the pool tier the
	// tenant (RLS) too.
	setSQL := func(t *readTarget, local bool) (*pgxpool.Pool, string, []any) {
		if t.t.Tier == tenancy.TierPool {
			return t.pools.appPeer, `SELECT set_config('search_path', $1, ` + strconv.FormatBool(local) + `), set_config('tenancy.tenant_id', $2, ` + strconv.FormatBool(local) + `)`,
				[]any{t.searchPath, strconv.FormatInt(t.t.ID, 10)}
		}
		return t.pools.rawPeer, `SET search_path TO ` + t.searchPath, nil
	}
	bound := func(c *tenancy.Client) func(t *readTarget, id int64) error {
		return func(t *readTarget, id int64) error {
			var body string
			return c.QueryRow(t.ctx, readLookup, id).Scan(&body)
		}
	}
	var ideas []readVariant
	switch tier {
	case tenancy.TierSchema:
		ideas = append(ideas, readVariant{"tenancy-sharedplans", bound(tenancy.WithBindingVariant(c, tenancy.BindingVariant{SharedPlans: true}))})
	case tenancy.TierPool:
		ideas = append(ideas, readVariant{"tenancy-nocheck", bound(tenancy.WithBindingVariant(c, tenancy.BindingVariant{NoPoolCheck: true}))})
	}
	ideas = append(ideas, readVariant{"tenancy-noreset", bound(tenancy.WithoutSessionReset(c))})
	return append([]readVariant{
		{"hand-cache", hand("cache")},
		{"hand-exec", hand("exec")},
		{"tenancy", bound(c)},
		{"django", func(t *readTarget, id int64) error {
			pool, set, args := setSQL(t, false)
			conn, err := pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if last, ok := djangoLast.Load(conn.Conn()); !ok || last != t.t.ID {
				if _, err := conn.Exec(ctx, set, args...); err != nil {
					return err
				}
				djangoLast.Store(conn.Conn(), t.t.ID)
			}
			var body string
			return conn.QueryRow(ctx, readLookup, id).Scan(&body)
		}},
		{"session", func(t *readTarget, id int64) error {
			pool, set, args := setSQL(t, false)
			conn, err := pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			// django's memory is void once this variant has used the connection.
			djangoLast.Delete(conn.Conn())
			if _, err := conn.Exec(ctx, set, args...); err != nil {
				return err
			}
			var body string
			if err := conn.QueryRow(ctx, readLookup, id).Scan(&body); err != nil {
				return err
			}
			_, err = conn.Exec(ctx, `RESET ALL`)
			return err
		}},
		{"rlstx", func(t *readTarget, id int64) error {
			pool := t.pools.rlstx
			if pool == nil {
				pool = t.pools.appPeer
			}
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true), set_config('tenancy.tenant_id', $2, true)`,
					t.searchPath, strconv.FormatInt(t.t.ID, 10)); err != nil {
					return err
				}
				var body string
				return tx.QueryRow(ctx, readLookup, id).Scan(&body)
			})
		}},
	}, ideas...)
}

// readResult is a variant's cost per operation: wall time of all workers together (inverse
// throughput) and CPU time, this process plus the server backends of the cell's databases.
type readResult struct{ wall, cpu float64 }

// runInterleaved runs every variant on ts with 8 workers for round, rounds times, the order
// rotated each round, and returns each variant's cost per operation over all its rounds.
// databases are the databases whose backends' CPU time counts.
func runInterleaved(b *testing.B, ts []readTarget, variants []readVariant, rounds int, round time.Duration, databases []string) map[string]readResult {
	b.Helper()
	workers := benchParallelism * 2 // 8: GOMAXPROCS is 2 here
	// Warm every connection on every tenant, as a running service is.
	for _, v := range variants {
		var wg sync.WaitGroup
		var failed atomic.Value
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(ts)*2; i += workers {
					t := &ts[i%len(ts)]
					if err := v.op(t, t.base); err != nil {
						failed.Store(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err, ok := failed.Load().(error); ok {
			b.Fatalf("%s: %v", v.name, err)
		}
	}
	// The server's CPU: the cell's backends alive at each reading, plus what the postmaster has
	// reaped since (a recycled connection's backend exits during a round, taking its CPU time
	// with it from /proc/<pid>; the parent's cutime and cstime keep it). Backends of other
	// databases that exit meanwhile count too: a quiet machine is assumed, as for wall time.
	var postmaster int
	serverCPU := func() time.Duration {
		rows, err := benchFleet.db.Server.SuperPool().Query(context.Background(),
			`SELECT pid FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()`, databases)
		var pids []int
		if err == nil {
			pids, err = pgx.CollectRows(rows, pgx.RowTo[int])
		}
		if err != nil {
			b.Fatal(err)
		}
		var d time.Duration
		for _, pid := range pids {
			if x, err := backendCPU(pid); err == nil {
				d += x
			}
			if postmaster == 0 {
				postmaster, _ = parentPID(pid)
			}
		}
		if postmaster != 0 {
			x, err := reapedCPU(postmaster)
			if err != nil {
				b.Fatal(err)
			}
			d += x
		}
		return d
	}
	ops := make([]int64, len(variants))
	spent := make([]time.Duration, len(variants))
	cpu := make([]time.Duration, len(variants))
	for r := range rounds {
		for k := range variants {
			vi := (k + r) % len(variants)
			v := variants[vi]
			var n atomic.Int64
			var failed atomic.Value
			stop := make(chan struct{})
			var wg sync.WaitGroup
			s0, c0, start := serverCPU(), clientCPU(), time.Now()
			for range workers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
					for {
						select {
						case <-stop:
							return
						default:
						}
						t := &ts[rng.IntN(len(ts))]
						if err := v.op(t, t.base+rng.Int64N(benchNotes)); err != nil {
							failed.Store(err)
							return
						}
						n.Add(1)
					}
				})
			}
			time.Sleep(round)
			close(stop)
			wg.Wait()
			spent[vi] += time.Since(start)
			cpu[vi] += clientCPU() - c0 + serverCPU() - s0
			ops[vi] += n.Load()
			if err, ok := failed.Load().(error); ok {
				b.Fatalf("%s: %v", v.name, err)
			}
		}
	}
	res := map[string]readResult{}
	for i, v := range variants {
		res[v.name] = readResult{
			wall: float64(spent[i].Nanoseconds()) / float64(ops[i]),
			cpu:  float64(cpu[i].Nanoseconds()) / float64(ops[i]),
		}
	}
	return res
}

type poolTenant struct {
	t    *tenancy.Tenant
	base int64
}

var poolFleetOnce struct {
	sync.Once
	ts  []poolTenant
	err error
}

// poolFleet puts n pool-tier tenants with benchNotes notes each in the bench fleet's database.
func poolFleet(b *testing.B, n int) []poolTenant {
	b.Helper()
	poolFleetOnce.Do(func() {
		f := &benchFleet
		ctx := context.Background()
		c := f.db.Client
		if err := c.PoolCreate(ctx, tenancy.PoolDefault); err != nil {
			poolFleetOnce.err = err
			return
		}
		ts := make([]poolTenant, n)
		for i := range n {
			t, err := c.TenantCreate(ctx, fmt.Sprintf("pool-%04d", i), &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
			if err != nil {
				poolFleetOnce.err = err
				return
			}
			tctx := tenancy.WithTenant(ctx, t)
			if _, err := c.Exec(tctx, `INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, $1::int) g`, benchNotes); err != nil {
				poolFleetOnce.err = err
				return
			}
			ts[i].t = t
			if err := c.QueryRow(tctx, `SELECT min(id) FROM notes`).Scan(&ts[i].base); err != nil {
				poolFleetOnce.err = err
				return
			}
		}
		if _, err := f.db.OwnerPool.Exec(ctx, `ANALYZE`); err != nil {
			poolFleetOnce.err = err
			return
		}
		poolFleetOnce.ts = ts
	})
	if poolFleetOnce.err != nil {
		b.Fatalf("pool fleet: %v", poolFleetOnce.err)
	}
	return poolFleetOnce.ts[:n]
}

// readDatabaseConns is each database's pool size in the database tier, on every side: 20
// databases of 1 connection (the tenancy client's placement pools too), 8 workers; 80
// connections in all, as a shared test cluster allows.
const readDatabaseConns = 1

var readDBClient *tenancy.Client

// databaseFleet makes tierBenchTenants database-tier tenants and their pools.
func databaseFleet(b *testing.B, raw, app string, open func(string, pgx.QueryExecMode, int32, string) *pgxpool.Pool) []readTarget {
	b.Helper()
	ctx := context.Background()
	c := databaseClient(b)
	ts := make([]readTarget, tierBenchTenants)
	for i := range ts {
		t, err := c.TenantCreate(ctx, fmt.Sprintf("rdb-%02d", i), &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase})
		if err != nil {
			b.Fatal(err)
		}
		tctx := tenancy.WithTenant(ctx, t)
		if _, err := c.Exec(tctx, `INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, $1::int) g`, benchNotes); err != nil {
			b.Fatal(err)
		}
		// The peers' session SETs share the hand-written query's cache pool (it names its schema,
		// so they do not affect it): 3 pools per database instead of 4.
		db := t.Placement.Database
		hand := open(raw, pgx.QueryExecModeCacheStatement, readDatabaseConns, db)
		pools := &readPools{
			hand:    map[string]*pgxpool.Pool{"cache": hand, "exec": open(raw, pgx.QueryExecModeExec, readDatabaseConns, db)},
			rawPeer: hand,
			appPeer: open(app, pgx.QueryExecModeCacheStatement, readDatabaseConns, db),
		}
		ts[i] = newReadTarget(tctx, t, 1, pools)
	}
	return ts
}

func databaseClient(b *testing.B) *tenancy.Client {
	b.Helper()
	if readDBClient != nil {
		return readDBClient
	}
	f := &benchFleet
	c, err := tenancy.New(&tenancy.Config{AppPool: f.appPools["cache"], OwnerPool: f.db.OwnerPool, TenantMigrations: tenantMigrations,
		MaxPlacementPools: tierBenchTenants, PlacementPoolConns: readDatabaseConns})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	readDBClient = c
	return c
}

// parentPID is the parent of process pid (/proc/<pid>/stat).
func parentPID(pid int) (int, error) {
	f, err := procStat(pid)
	if err != nil || len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: %v", pid, err)
	}
	return strconv.Atoi(f[1])
}

// reapedCPU is the CPU time of the children that process pid has waited for, user and system
// (cutime and cstime of /proc/<pid>/stat, in clock ticks of 10 ms).
func reapedCPU(pid int) (time.Duration, error) {
	f, err := procStat(pid)
	if err != nil || len(f) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: %v", pid, err)
	}
	var ticks int64
	for _, s := range f[13:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// procStat returns the fields of /proc/<pid>/stat after the command name (field 3 on).
func procStat(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return nil, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return strings.Fields(string(data[i+1:])), nil
}
