package tenancyhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyhttp"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// populate inserts n active tenants bench-1 ... bench-n with one domain each, t<i>.example.com,
// straight into the catalog (no schemas: resolution reads only the catalog), and returns a
// started cache warmed with all of them.
func populate(b *testing.B, db *tenancytest.DB, n int) *tenancyhttp.Cache {
	b.Helper()
	ctx := context.Background()
	_, err := db.OwnerPool.Exec(ctx, `
		INSERT INTO tenancy.tenants (slug, name, status, tier)
		SELECT 'bench-' || g, 'Bench ' || g, 'active', 'schema' FROM generate_series(1, $1) g`, n)
	if err != nil {
		b.Fatal(err)
	}
	_, err = db.OwnerPool.Exec(ctx, `
		INSERT INTO tenancy.domains (host, tenant_id, is_primary)
		SELECT 't' || substr(slug, 7) || '.example.com', id, true FROM tenancy.tenants WHERE slug LIKE 'bench-%'`)
	if err != nil {
		b.Fatal(err)
	}
	cache := tenancyhttp.NewCache(db.Client, nil)
	if err := cache.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cache.Close)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	if got, err := cache.Preload(ctx); err != nil || got != n {
		b.Fatalf("preloaded %d of %d: %v", got, n, err)
	}
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.Logf("Preload of %d tenants: %v; cache heap %.1f MB (%.0f B per tenant)", n, took.Round(time.Millisecond),
		float64(after.HeapAlloc-before.HeapAlloc)/1e6, float64(after.HeapAlloc-before.HeapAlloc)/float64(n))
	runtime.KeepAlive(cache)
	return cache
}

// requests returns 4,096 requests spread over the n tenants' domains: the same number at every
// size, so that only the catalog's size differs between sizes, not the requests' memory footprint.
func requests(n int) []*http.Request {
	rs := make([]*http.Request, 4096)
	for i := range rs {
		id := i*7919%n + 1
		r := httptest.NewRequest("GET", "/tasks", nil)
		r.Host = fmt.Sprintf("t%d.example.com:8080", id) // as a browser sends it: lower case, with the port
		rs[i] = r
	}
	return rs
}

// discard is the cheapest ResponseWriter, so that the benchmark measures the handler chain.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })

var served = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, found := tenancy.FromContext(r.Context()); !found {
		panic("no tenant")
	}
	w.WriteHeader(200)
})

// BenchmarkResolve: one lookup by host on a warm cache (hit), from one goroutine and from all
// cores at once, with 1,000 and 100,000 tenants cached, and, for comparison, the same lookup sent
// to the catalog (tenancy.Client: what a resolver without a cache costs, django-tenants' query per
// request). queries/op counts the statements the application pool sent during the timed loop.
func BenchmarkResolve(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			db, qc := newDB(b)
			cache := populate(b, db, n)
			ctx := context.Background()
			hosts := make([]string, min(n, 4096))
			for i := range hosts {
				hosts[i] = fmt.Sprintf("t%d.example.com", i*7919%n+1)
			}
			report := func(b *testing.B, before int64) {
				b.ReportMetric(float64(qc.n.Load()-before)/float64(b.N), "queries/op")
			}
			b.Run("cache-hit", func(b *testing.B) {
				b.ReportAllocs()
				before, clk := qc.n.Load(), startCPU()
				for i := 0; b.Loop(); i++ {
					if _, err := cache.TenantGetByDomain(ctx, hosts[i%len(hosts)]); err != nil {
						b.Fatal(err)
					}
				}
				report(b, before)
				clk.report(b)
			})
			b.Run("cache-hit-parallel", func(b *testing.B) {
				b.ReportAllocs()
				before, clk := qc.n.Load(), startCPU()
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						if _, err := cache.TenantGetByDomain(ctx, hosts[i%len(hosts)]); err != nil {
							b.Fatal(err)
						}
					}
				})
				report(b, before)
				clk.report(b)
			})
			if n > 1000 {
				return
			}
			b.Run("uncached-query", func(b *testing.B) {
				b.ReportAllocs()
				before, clk := qc.n.Load(), startCPU()
				for i := 0; b.Loop(); i++ {
					if _, err := db.Client.TenantGetByDomain(ctx, hosts[i%len(hosts)]); err != nil {
						b.Fatal(err)
					}
				}
				report(b, before)
				clk.report(b)
			})
		})
	}
}

// BenchmarkMiddleware: a request through the middleware (Domain resolver, warm cache) against
// the same handler bare, with 1, 1,000 and 100,000 tenants in the catalog, requests spread over
// all of them.
func BenchmarkMiddleware(b *testing.B) {
	for _, n := range []int{1, 1000, 100_000} {
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			db, qc := newDB(b)
			cache := populate(b, db, n)
			rs := requests(n)
			mw := tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache, Resolvers: []tenancyhttp.Resolver{tenancyhttp.Domain()}})(served)
			w := &discard{h: http.Header{}}
			b.Run("bare", func(b *testing.B) {
				b.ReportAllocs()
				clk := startCPU()
				for i := 0; b.Loop(); i++ {
					ok.ServeHTTP(w, rs[i%len(rs)])
				}
				clk.report(b)
			})
			b.Run("middleware", func(b *testing.B) {
				b.ReportAllocs()
				before, clk := qc.n.Load(), startCPU()
				for i := 0; b.Loop(); i++ {
					mw.ServeHTTP(w, rs[i%len(rs)])
				}
				b.ReportMetric(float64(qc.n.Load()-before)/float64(b.N), "queries/op")
				clk.report(b)
			})
		})
	}
}

// cpuClock measures the CPU time the process spends in a timed loop (user + system, every
// thread, GC included) and reports it per operation as cpu-ns/op. On a machine shared with other
// work, wall-clock ns/op also counts the time the benchmark waits for a core; this does not.
type cpuClock struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock{cpuNow()} }

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(cpuNow()-c.start)/float64(b.N), "cpu-ns/op")
}
