package tenancy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The tenant-bound read benchmark (figures and target in docs/benchmarks.md): a primary-key
// lookup in a tenant table, a random tenant per operation, through the binding (Client.QueryRow
// and Client.Tx) and written by hand against the schema-qualified table, on pools of the same
// size and concurrency.
//
//	go test -run '^$' -bench BenchmarkBoundRead -benchtime 3s -count 3 .
//
// The hand-written baseline connects as a role that bypasses RLS (a member of the application
// role, so with the same grants): it is what an application without the second wall would run,
// and it returns the same row. Both exec modes pgx offers for it are measured; the ratio is taken
// against the faster.

const (
	benchTenants     = 1000
	benchNotes       = 10 // rows per tenant; ids 1..benchNotes
	benchConns       = 8  // per pool
	benchParallelism = 4  // goroutines per GOMAXPROCS: 8 on 2 cores, one per connection
	benchRole        = "tenancy_bench"
	benchPassword    = "tenancy-bench"
)

// benchFleet is set up once per test binary (it takes seconds) and dropped by TestMain.
var benchFleet struct {
	once    sync.Once
	err     error
	cleanup func()

	db       *tenancytest.DB
	tenants  []*tenancy.Tenant
	ctxs     []context.Context // WithTenant(tenants[i])
	handSQL  []string          // the lookup, schema-qualified, per tenant
	clients  map[string]*tenancy.Client
	appPools map[string]*pgxpool.Pool // application role, by exec mode
	rawPools map[string]*pgxpool.Pool // the RLS-bypassing baseline role, by exec mode
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchFleet.cleanup != nil {
		benchFleet.cleanup()
	}
	os.Exit(code)
}

// benchModes are the pgx exec modes measured. "execprep" is exec mode on a pool whose connections
// prepare the binding statement once (pgx uses a statement prepared under its own SQL text in
// every mode), so only the application's statement is parsed each time.
var benchModes = map[string]pgx.QueryExecMode{
	"cache":    pgx.QueryExecModeCacheStatement,
	"exec":     pgx.QueryExecModeExec,
	"execprep": pgx.QueryExecModeExec,
}

func setupBenchFleet(ctx context.Context) error {
	f := &benchFleet
	db, cleanup, err := tenancytest.Open(ctx, &tenancytest.Options{
		SharedMigrations: sharedMigrations,
		TenantMigrations: tenantMigrations,
		AppMaxConns:      benchConns,
	})
	if err != nil {
		return err
	}
	f.db = db
	var closers []func()
	f.cleanup = func() {
		for _, c := range closers {
			c()
		}
		cleanup()
	}

	// Four creators at once: the fleet is ready sooner; the create latency figure comes from
	// BenchmarkTenantCreate, one at a time.
	f.tenants = make([]*tenancy.Tenant, benchTenants)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < benchTenants; i += 4 {
				t, err := db.Client.TenantCreate(ctx, fmt.Sprintf("bench-%04d", i), nil)
				if err == nil {
					_, err = db.Client.Exec(tenancy.WithTenant(ctx, t), `INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, $1::int) g`, benchNotes)
				}
				if err != nil {
					errs <- err
					return
				}
				f.tenants[i] = t
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	for _, t := range f.tenants {
		f.ctxs = append(f.ctxs, tenancy.WithTenant(context.Background(), t))
		f.handSQL = append(f.handSQL, `SELECT body FROM `+qualified(t)+` WHERE tenant_id = $1 AND id = $2`)
	}
	if _, err := db.OwnerPool.Exec(ctx, `ANALYZE`); err != nil {
		return err
	}

	// The baseline role: the application role's grants, but RLS does not apply to it.
	super := db.Server.SuperPool()
	if _, err := super.Exec(ctx, fmt.Sprintf(`
		DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%[1]s') THEN
				CREATE ROLE %[1]s LOGIN BYPASSRLS PASSWORD '%[2]s' IN ROLE %[3]s;
			END IF;
		END $$`, benchRole, benchPassword, tenancytest.AppRole)); err != nil {
		return fmt.Errorf("create %s: %w", benchRole, err)
	}
	// Also when the role is older than the application role's current name (it is cluster-wide).
	if _, err := super.Exec(ctx, fmt.Sprintf(`GRANT %s TO %s`, tenancytest.AppRole, benchRole)); err != nil {
		return fmt.Errorf("grant %s: %w", benchRole, err)
	}
	rawURL, err := url.Parse(db.AppURL)
	if err != nil {
		return err
	}
	rawURL.User = url.UserPassword(benchRole, benchPassword)

	f.clients, f.appPools, f.rawPools = map[string]*tenancy.Client{}, map[string]*pgxpool.Pool{}, map[string]*pgxpool.Pool{}
	for name, mode := range benchModes {
		for _, target := range []struct {
			url   string
			pools map[string]*pgxpool.Pool
		}{{db.AppURL, f.appPools}, {rawURL.String(), f.rawPools}} {
			cfg, err := pgxpool.ParseConfig(target.url)
			if err != nil {
				return err
			}
			tenancy.ConfigurePool(cfg, "")
			cfg.ConnConfig.DefaultQueryExecMode = mode
			cfg.MaxConns, cfg.MinConns = benchConns, benchConns
			if name == "execprep" {
				cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
					_, err := conn.Prepare(ctx, tenancy.BindSQL, tenancy.BindSQL)
					return err
				}
			}
			p, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				return err
			}
			closers = append(closers, p.Close)
			target.pools[name] = p
		}
		c, err := tenancy.New(&tenancy.Config{AppPool: f.appPools[name]})
		if err != nil {
			return err
		}
		f.clients[name] = c
	}
	return nil
}

func fleet1000(b *testing.B) {
	b.Helper()
	benchFleet.once.Do(func() {
		start := time.Now()
		benchFleet.err = setupBenchFleet(context.Background())
		if benchFleet.err == nil {
			fmt.Fprintf(os.Stderr, "bench setup: %d tenants with %d notes each in %v (4 creators)\n",
				benchTenants, benchNotes, time.Since(start).Round(time.Millisecond))
		}
	})
	if benchFleet.err != nil {
		b.Fatalf("bench setup: %v", benchFleet.err)
	}
}

// benchClient is a client on the bench fleet's pools with another configuration.
func benchClient(b *testing.B, cfg *tenancy.Config) *tenancy.Client {
	c, err := tenancy.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

// readOp is one lookup of note id in tenant i.
type readOp func(i int, id int64) error

func BenchmarkBoundRead(b *testing.B) {
	fleet1000(b)
	f := &benchFleet
	lookup := `SELECT body FROM notes WHERE id = $1`
	ops := []struct {
		name  string
		modes []string
		op    func(mode string) readOp
	}{
		{"hand", []string{"cache", "exec"}, func(mode string) readOp {
			pool := f.rawPools[mode]
			return func(i int, id int64) error {
				var body string
				return pool.QueryRow(context.Background(), f.handSQL[i], f.tenants[i].ID, id).Scan(&body)
			}
		}},
		{"queryrow", []string{"cache", "exec", "execprep"}, func(mode string) readOp {
			c := f.clients[mode]
			return func(i int, id int64) error {
				var body string
				return c.QueryRow(f.ctxs[i], lookup, id).Scan(&body)
			}
		}},
		// The same without the session reset that ends each use (bind.go, resetSQL): its cost.
		{"queryrow-noreset", []string{"cache", "exec"}, func(mode string) readOp {
			c := tenancy.WithoutSessionReset(f.clients[mode])
			return func(i int, id int64) error {
				var body string
				return c.QueryRow(f.ctxs[i], lookup, id).Scan(&body)
			}
		}},
		// The same reporting to an Observer that does nothing: the cost of the hook itself.
		{"queryrow-observer", []string{"cache", "exec"}, func(mode string) readOp {
			c := tenancy.WithObserver(f.clients[mode], nopObserver{})
			return func(i int, id int64) error {
				var body string
				return c.QueryRow(f.ctxs[i], lookup, id).Scan(&body)
			}
		}},
		// Fair sharing off (no gate in front of the pool; usage is still counted), and limits
		// configured (a statement timeout in the binding, a cap far above the load): what the
		// noisy-neighbour machinery costs (limits.go).
		{"queryrow-fairoff", []string{"cache", "exec"}, func(mode string) readOp {
			c := benchClient(b, &tenancy.Config{AppPool: f.appPools[mode], FairShareOff: true})
			return func(i int, id int64) error {
				var body string
				return c.QueryRow(f.ctxs[i], lookup, id).Scan(&body)
			}
		}},
		{"queryrow-limits", []string{"cache", "exec"}, func(mode string) readOp {
			c := benchClient(b, &tenancy.Config{AppPool: f.appPools[mode],
				DefaultLimits: tenancy.Limits{StatementTimeout: 10 * time.Second, MaxConcurrent: 1000}})
			return func(i int, id int64) error {
				var body string
				return c.QueryRow(f.ctxs[i], lookup, id).Scan(&body)
			}
		}},
		{"handtx", []string{"cache", "exec"}, func(mode string) readOp {
			pool := f.rawPools[mode]
			return func(i int, id int64) error {
				return pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
					var body string
					return tx.QueryRow(context.Background(), f.handSQL[i], f.tenants[i].ID, id).Scan(&body)
				})
			}
		}},
		{"tx", []string{"cache", "exec"}, func(mode string) readOp {
			c := f.clients[mode]
			return func(i int, id int64) error {
				return c.Tx(f.ctxs[i], func(ctx context.Context, tx pgx.Tx) error {
					var body string
					return tx.QueryRow(ctx, lookup, id).Scan(&body)
				})
			}
		}},
		{"tx-observer", []string{"cache", "exec"}, func(mode string) readOp {
			c := tenancy.WithObserver(f.clients[mode], nopObserver{})
			return func(i int, id int64) error {
				return c.Tx(f.ctxs[i], func(ctx context.Context, tx pgx.Tx) error {
					var body string
					return tx.QueryRow(ctx, lookup, id).Scan(&body)
				})
			}
		}},
		{"tx-noreset", []string{"cache", "exec"}, func(mode string) readOp {
			c := tenancy.WithoutSessionReset(f.clients[mode])
			return func(i int, id int64) error {
				return c.Tx(f.ctxs[i], func(ctx context.Context, tx pgx.Tx) error {
					var body string
					return tx.QueryRow(ctx, lookup, id).Scan(&body)
				})
			}
		}},
	}
	for _, size := range []int{1, benchTenants} {
		for _, o := range ops {
			for _, mode := range o.modes {
				op := o.op(mode)
				b.Run(fmt.Sprintf("tenants=%d/%s/%s", size, o.name, mode), func(b *testing.B) {
					// Warm every connection's caches on this size's tenants, as a running service is.
					for i := range min(size, benchTenants) * 2 {
						if err := op(i%size, 1); err != nil {
							b.Fatal(err)
						}
					}
					b.SetParallelism(benchParallelism)
					b.ReportAllocs()
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
						for pb.Next() {
							if err := op(r.IntN(size), 1+r.Int64N(benchNotes)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		}
	}
}

// BenchmarkTenantCreate creates tenants one at a time (schema tier, the test application's
// migrations) and reports the latency percentiles (the target, in docs/benchmarks.md: p95 < 50 ms).
//
//	go test -run '^$' -bench BenchmarkTenantCreate -benchtime 300x .
func BenchmarkTenantCreate(b *testing.B) {
	db := newDB(b, 2)
	ctx := context.Background()
	mustCreate(b, db.Client, "warm-up")
	d := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := db.Client.TenantCreate(ctx, fmt.Sprintf("t-%06d", i), nil); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(d[(len(d)-1)*95/100].Microseconds())/1000, "p95-ms")
}

// nopObserver is an Observer that does nothing.
type nopObserver struct{}

func (nopObserver) BoundStart(ctx context.Context, _ tenancy.BoundWork) context.Context { return ctx }
func (nopObserver) BoundEnd(context.Context, tenancy.BoundWork, error)                  {}
func (nopObserver) OperationStart(ctx context.Context, _ tenancy.Operation) context.Context {
	return ctx
}
func (nopObserver) OperationEnd(context.Context, tenancy.Operation, error) {}
