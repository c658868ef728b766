// Package noisy is the noisy-neighbour benchmark (go run ./bench noisy): one tenant hammering
// the application pool with slow queries beside many quiet tenants, measured without the noisy
// tenant, then with it under each protection: none (FairShareOff), fair sharing of the pool
// alone, and fair sharing with a cap on the noisy tenant's concurrent calls. It reports the quiet
// tenants' latency (p50, p99) and failures and the noisy tenant's throughput
// (docs/benchmarks.md, docs/noisy-neighbours.md).
package noisy

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// Options size a run.
type Options struct {
	Quiet        int           // quiet tenants
	QuietWorkers int           // concurrent quiet clients, each picking a random quiet tenant per request
	Think        time.Duration // pause between a quiet client's requests
	NoisyWorkers int           // concurrent calls the noisy tenant keeps sending
	NoisySleep   time.Duration // each noisy call's pg_sleep
	Conns        int32         // application pool connections
	Cap          int           // the noisy tenant's Limits.MaxConcurrent in the last phase
	Phase        time.Duration // length of each phase
	Tier         tenancy.Tier
	Log          func(format string, args ...any)
}

// Validate reports the first bad value.
func (o Options) Validate() error {
	switch {
	case o.Quiet < 1 || o.QuietWorkers < 1 || o.NoisyWorkers < 1:
		return errors.New("-quiet, -quiet-workers and -noisy-workers must be at least 1")
	case o.Conns < 2:
		return errors.New("-conns must be at least 2")
	case o.Cap < 1 || o.Cap >= int(o.Conns):
		return fmt.Errorf("-cap %d must be at least 1 and below -conns %d", o.Cap, o.Conns)
	case o.Phase <= 0 || o.NoisySleep <= 0 || o.Think < 0:
		return errors.New("-phase and -noisy-sleep must be positive, -think not negative")
	}
	_, err := tenancy.ParseTier(string(o.Tier))
	return err
}

//go:embed migrations/*.sql
var migrations embed.FS

// DBOptions is the database Run needs: one tenant table.
func DBOptions() *tenancytest.Options {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	return &tenancytest.Options{TenantMigrations: sub}
}

// Phase is one configuration's figures.
type Phase struct {
	Name          string
	QuietRequests int
	QuietP50      time.Duration
	QuietP99      time.Duration
	QuietErrors   int
	NoisyDone     int     // noisy calls completed
	NoisyPerSec   float64 // of them per second
	NoisyBusy     int     // noisy calls refused with ErrTenantBusy
}

// Run creates the tenants and runs the four phases.
func Run(ctx context.Context, db *tenancytest.DB, o Options, out io.Writer) ([]Phase, error) {
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	setup, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, TenantMigrations: DBOptions().TenantMigrations})
	if err != nil {
		return nil, err
	}
	defer setup.Close()
	logf("creating %d quiet tenants and the noisy one (%s tier)", o.Quiet, o.Tier)
	var quiet []string
	for i := range o.Quiet {
		slug := fmt.Sprintf("quiet-%04d", i)
		if _, err := setup.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: o.Tier}); err != nil {
			return nil, err
		}
		quiet = append(quiet, slug)
	}
	if _, err := setup.TenantCreate(ctx, "noisy", &tenancy.TenantCreateOpts{Tier: o.Tier}); err != nil {
		return nil, err
	}
	phases := []struct {
		name  string
		noisy bool
		cfg   tenancy.Config
		cap   int
	}{
		{"no noisy tenant", false, tenancy.Config{}, 0},
		{"noisy, no protection", true, tenancy.Config{FairShareOff: true}, 0},
		{"noisy, fair share", true, tenancy.Config{}, 0},
		{fmt.Sprintf("noisy, fair share + cap %d", o.Cap), true, tenancy.Config{}, o.Cap},
	}
	var report []Phase
	for _, ph := range phases {
		if _, err := setup.TenantSetLimits(ctx, "noisy", &tenancy.Limits{MaxConcurrent: ph.cap}); err != nil {
			return nil, err
		}
		cfg := ph.cfg
		cfg.AppPool = db.AppPool
		c, err := tenancy.New(&cfg)
		if err != nil {
			return nil, err
		}
		p, err := runPhase(ctx, c, o, quiet, ph.noisy)
		c.Close()
		if err != nil {
			return nil, err
		}
		p.Name = ph.name
		logf("%s: quiet p50 %v p99 %v errors %d; noisy %.1f/s, %d busy", p.Name, p.QuietP50, p.QuietP99, p.QuietErrors, p.NoisyPerSec, p.NoisyBusy)
		report = append(report, p)
	}
	fmt.Fprintf(out, "| phase | quiet requests | quiet p50 | quiet p99 | quiet errors | noisy calls/s | noisy refused (busy) |\n|---|---|---|---|---|---|---|\n")
	for _, p := range report {
		fmt.Fprintf(out, "| %s | %d | %s | %s | %d | %.1f | %d |\n", p.Name, p.QuietRequests, ms(p.QuietP50), ms(p.QuietP99), p.QuietErrors, p.NoisyPerSec, p.NoisyBusy)
	}
	return report, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func runPhase(ctx context.Context, c *tenancy.Client, o Options, quietSlugs []string, noisy bool) (Phase, error) {
	var quiet []*tenancy.Tenant
	for _, s := range quietSlugs {
		t, err := c.TenantGet(ctx, s)
		if err != nil {
			return Phase{}, err
		}
		quiet = append(quiet, t)
	}
	nt, err := c.TenantGet(ctx, "noisy")
	if err != nil {
		return Phase{}, err
	}
	pctx, cancel := context.WithTimeout(ctx, o.Phase)
	defer cancel()
	var wg sync.WaitGroup
	var done, busy atomic.Int64
	if noisy {
		nctx := tenancy.WithTenant(pctx, nt)
		sleep := fmt.Sprintf("SELECT pg_sleep(%g)", o.NoisySleep.Seconds())
		for range o.NoisyWorkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for pctx.Err() == nil {
					_, err := c.Exec(nctx, sleep)
					switch {
					case err == nil:
						done.Add(1)
					case errors.Is(err, tenancy.ErrTenantBusy):
						busy.Add(1)
					}
				}
			}()
		}
		time.Sleep(o.NoisySleep) // the pool is saturated before the quiet clients start
	}
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	start := time.Now()
	var qwg sync.WaitGroup
	for range o.QuietWorkers {
		qwg.Add(1)
		go func() {
			defer qwg.Done()
			var mine []time.Duration
			bad := 0
			for pctx.Err() == nil {
				t := quiet[rand.IntN(len(quiet))]
				t0 := time.Now()
				var n int64
				err := c.QueryRow(tenancy.WithTenant(ctx, t), `SELECT count(*) FROM notes`).Scan(&n)
				if pctx.Err() != nil {
					break // the phase ended during the request
				}
				if err != nil {
					bad++
				} else {
					mine = append(mine, time.Since(t0))
				}
				time.Sleep(o.Think)
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	qwg.Wait()
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	slices.Sort(lat)
	p := Phase{QuietRequests: len(lat), QuietErrors: errs, NoisyDone: int(done.Load()), NoisyBusy: int(busy.Load())}
	if len(lat) > 0 {
		p.QuietP50 = lat[len(lat)/2]
		p.QuietP99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	p.NoisyPerSec = float64(p.NoisyDone) / elapsed.Seconds()
	return p, nil
}
