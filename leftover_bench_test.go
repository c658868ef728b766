package tenancy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// BenchmarkSessionReset prices the session reset that ends each bound use of a connection
// (bind.go, resetSQL) in CPU time, client and server together, which is what throughput is when
// client and server share the cores, and which a loaded machine disturbs far less than wall time.
// One connection, one goroutine, pgx's statement cache on (mode=cache) or off (mode=exec); the
// variants run interleaved in blocks of 100 operations:
//
//   - queryrow-noreset, queryrow: Client.QueryRow without and with the reset (before and after);
//   - tx-noreset, tx: the same through Client.Tx;
//   - batch+<tail>: the bound lookup batch [bind, lookup] by hand, with candidate tails.
//
// Reported per variant: cpu-µs/op (client + server backend), server-µs/op (the backend alone:
// the client's figure includes the Go scheduler spinning while it waits) and wall-µs/op. Linux only (the
// backend's CPU time is read from /proc/<pid>/schedstat, so the server must be local).
//
//	go test -run '^$' -bench BenchmarkSessionReset -benchtime 30000x -count 3 .
func BenchmarkSessionReset(b *testing.B) {
	for _, mode := range []struct {
		name string
		mode pgx.QueryExecMode
	}{{"cache", pgx.QueryExecModeCacheStatement}, {"exec", pgx.QueryExecModeExec}} {
		b.Run("mode="+mode.name, func(b *testing.B) { benchSessionReset(b, mode.mode) })
	}
}

func benchSessionReset(b *testing.B, mode pgx.QueryExecMode) {
	const tenants, block = 20, 100
	ctx := context.Background()
	db := tenancytest.New(b, &tenancytest.Options{
		SharedMigrations: sharedMigrations,
		TenantMigrations: tenantMigrations,
		AppMaxConns:      1,
		AppPoolConfig:    func(cfg *pgxpool.Config) { cfg.ConnConfig.DefaultQueryExecMode = mode },
	})
	var pid int
	if err := db.AppPool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		b.Fatal(err)
	}
	if _, err := backendCPU(pid); err != nil {
		b.Skipf("backend CPU time: %v", err)
	}
	type tn struct {
		ctx  context.Context
		args []any
	}
	var ts []tn
	for i := range tenants {
		t := mustCreate(b, db.Client, fmt.Sprintf("reset-%02d", i))
		addNotes(b, db.Client, t, "one", "two", "three")
		class, key := tenancy.FenceKey(t.ID)
		ts = append(ts, tn{tenancy.WithTenant(ctx, t), []any{pgx.Identifier{t.Placement.Schema}.Sanitize() + ", public, pg_temp", strconv.FormatInt(t.ID, 10), class, key}})
	}
	lookup := `SELECT body FROM notes WHERE id = $1`
	noReset := tenancy.WithoutSessionReset(db.Client)
	rebind := `SELECT pg_advisory_unlock_all(), set_config('search_path', $1, true), set_config('tenancy.tenant_id', $2, true)`
	// A candidate: the whole reset in one server-side function call (one Bind/Execute).
	endUse := `SELECT public.tenancy_bench_end_use($1, $2)`
	if _, err := db.OwnerPool.Exec(ctx, `CREATE FUNCTION public.tenancy_bench_end_use(sp text, tid text) RETURNS void LANGUAGE plpgsql AS $$
		BEGIN
			RESET ALL;
			EXECUTE 'CLOSE ALL';
			UNLISTEN *;
			DISCARD TEMP;
			PERFORM pg_advisory_unlock_all(), set_config('search_path', sp, true), set_config('tenancy.tenant_id', tid, true);
		END $$`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.OwnerPool.Exec(ctx, `GRANT EXECUTE ON FUNCTION public.tenancy_bench_end_use(text, text) TO PUBLIC`); err != nil {
		b.Fatal(err)
	}
	batchOp := func(tail ...string) func(t tn, id int64) error {
		return func(t tn, id int64) error {
			batch := &pgx.Batch{}
			batch.Queue(tenancy.BindSQL, t.args...)
			var body string
			batch.Queue(lookup, id).QueryRow(func(row pgx.Row) error { return row.Scan(&body) })
			for _, s := range tail {
				if s == rebind || s == endUse {
					batch.Queue(s, t.args[0], t.args[1])
				} else {
					batch.Queue(s)
				}
			}
			return db.AppPool.SendBatch(ctx, batch).Close()
		}
	}
	txOp := func(c *tenancy.Client) func(t tn, id int64) error {
		return func(t tn, id int64) error {
			return c.Tx(t.ctx, func(ctx context.Context, tx pgx.Tx) error {
				var body string
				return tx.QueryRow(ctx, lookup, id).Scan(&body)
			})
		}
	}
	variants := []struct {
		name string
		op   func(t tn, id int64) error
	}{
		{"queryrow-noreset", func(t tn, id int64) error {
			var body string
			return noReset.QueryRow(t.ctx, lookup, id).Scan(&body)
		}},
		{"queryrow", func(t tn, id int64) error {
			var body string
			return db.Client.QueryRow(t.ctx, lookup, id).Scan(&body)
		}},
		{"tx-noreset", txOp(noReset)},
		{"tx", txOp(db.Client)},
		{"batch", batchOp()},
		{"batch+unlock", batchOp(`SELECT pg_advisory_unlock_all()`)},
		{"batch+rebind", batchOp(rebind)},
		{"batch+reset+unlock", batchOp(`RESET ALL`, `SELECT pg_advisory_unlock_all()`)},
		{"batch+all+unlock", batchOp(`CLOSE ALL`, `UNLISTEN *`, `DISCARD TEMP`, `RESET ALL`, `SELECT pg_advisory_unlock_all()`)},
		{"batch+all+rebind", batchOp(`CLOSE ALL`, `UNLISTEN *`, `DISCARD TEMP`, `RESET ALL`, rebind)},
		{"batch+fn", batchOp(endUse)},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, v := range variants { // warm the connection's statement cache
		for i := range tenants * 2 {
			if err := v.op(ts[i%tenants], 1); err != nil {
				b.Fatalf("%s: %v", v.name, err)
			}
		}
	}
	cpu := make([]time.Duration, len(variants))
	server := make([]time.Duration, len(variants))
	wall := make([]time.Duration, len(variants))
	ops := make([]int, len(variants))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		for i, v := range variants {
			n := min(block, b.N-done)
			if n == 0 {
				break
			}
			s0, c0, w0 := mustBackendCPU(b, pid), clientCPU(), time.Now()
			for range n {
				if err := v.op(ts[r.IntN(tenants)], 1+r.Int64N(3)); err != nil {
					b.Fatalf("%s: %v", v.name, err)
				}
			}
			wall[i] += time.Since(w0)
			s1 := mustBackendCPU(b, pid)
			cpu[i] += clientCPU() - c0 + s1 - s0
			server[i] += s1 - s0
			ops[i] += n
			done += n
		}
	}
	b.StopTimer()
	for i, v := range variants {
		if ops[i] == 0 {
			continue
		}
		b.ReportMetric(float64(cpu[i].Microseconds())/float64(ops[i]), v.name+"-cpu-µs/op")
		b.ReportMetric(float64(server[i].Microseconds())/float64(ops[i]), v.name+"-server-µs/op")
		b.ReportMetric(float64(wall[i].Microseconds())/float64(ops[i]), v.name+"-wall-µs/op")
	}
}

// backendCPU is the CPU time a server process has used (/proc/<pid>/schedstat: ns on CPU).
func backendCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(strings.Fields(string(data))[0], 10, 64)
	return time.Duration(ns), err
}

func mustBackendCPU(b *testing.B, pid int) time.Duration {
	d, err := backendCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// clientCPU is the CPU time this process has used, user and system.
func clientCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
