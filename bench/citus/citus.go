// Package citus is the Citus figure (go run ./bench citus, docs/citus.md): one pool of many
// tenants on a Citus coordinator with two workers, where the pool's table is distributed by
// tenant_id, against the same pool on a single plain node, side by side in one run. The fleet
// is made in bulk (catalog rows and rows, as a superuser: going through TenantCreate would take
// most of the run); then bound reads of random tenants, as the application role, both with
// tenant_id named (routed to one worker on Citus) and under RLS alone (every shard), and pool
// tenants made by TenantCreate, are timed on both.
package citus

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// Options size a run.
type Options struct {
	Tenants  int           // pool tenants made in bulk
	Rows     int           // notes per tenant
	Sample   int           // tenants the readers pick from at random (read from the catalog once)
	Workers  int           // concurrent readers
	Conns    int32         // application pool connections
	Duration time.Duration // of each read phase
	Creates  int           // pool tenants made by TenantCreate, timed (0: skip)
	Log      func(format string, args ...any)
}

// Validate reports the first bad value.
func (o Options) Validate() error {
	switch {
	case o.Tenants < 1 || o.Rows < 1 || o.Sample < 1:
		return errors.New("-tenants, -rows and -sample must be at least 1")
	case o.Workers < 1 || o.Conns < 1:
		return errors.New("-workers and -conns must be at least 1")
	case o.Duration <= 0 || o.Creates < 0:
		return errors.New("-duration must be positive, -creates not negative")
	}
	return nil
}

//go:embed migrations/*.sql
var migrations embed.FS

// DBOptions is the database Run needs: one pool table.
func DBOptions() *tenancytest.Options {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	return &tenancytest.Options{TenantMigrations: sub}
}

// Phase is one read workload's figures.
type Phase struct {
	Requests int
	PerSec   float64
	P50, P99 time.Duration
	Wrong    int // reads that did not see exactly the tenant's own rows (or failed)
}

// Side is one server's figures.
type Side struct {
	Name      string
	Build     time.Duration  // the bulk fleet: catalog rows and rows
	PerNode   map[string]int // tenants per node holding their rows (Citus)
	Named     Phase          // SELECT count(*) FROM notes WHERE tenant_id = $1
	RLS       Phase          // SELECT count(*) FROM notes (the policy alone)
	CreateP50 time.Duration
	CreateP95 time.Duration
}

// Report is a run's figures and the machine's load around it.
type Report struct {
	Plain, Citus           Side
	LoadBefore, LoadAfter  string
	Tenants, Rows, Workers int
	ReadDuration           time.Duration
}

// Run builds the fleet on plain (a plain database with DBOptions) and on a fresh Citus
// database, measures both, and prints the report to w.
func Run(ctx context.Context, plain *tenancytest.DB, o Options, w io.Writer) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	dbo := DBOptions()
	dbo.AppMaxConns = o.Conns
	cdb, closeCitus, err := tenancytest.OpenCitus(ctx, dbo, nil)
	if err != nil {
		return nil, err
	}
	defer closeCitus()
	r := &Report{LoadBefore: loadavg(), Tenants: o.Tenants, Rows: o.Rows, Workers: o.Workers, ReadDuration: o.Duration}
	sides := []struct {
		side *Side
		db   *tenancytest.DB
	}{{&r.Plain, plain}, {&r.Citus, cdb}}
	r.Plain.Name, r.Citus.Name = "plain", "citus"
	for _, s := range sides {
		o.Log("%s: building %d pool tenants with %d rows each", s.side.Name, o.Tenants, o.Rows)
		if err := build(ctx, s.db, o, s.side); err != nil {
			return nil, fmt.Errorf("%s: %w", s.side.Name, err)
		}
		o.Log("%s: built in %s", s.side.Name, s.side.Build.Round(time.Millisecond))
	}
	// Reads alternate between the sides, so that a change in the machine's load hits both.
	for _, ph := range []struct {
		name, sql string
		named     bool
		get       func(*Side) *Phase
	}{
		{"named", `SELECT count(*) FROM notes WHERE tenant_id = $1`, true, func(s *Side) *Phase { return &s.Named }},
		{"rls", `SELECT count(*) FROM notes`, false, func(s *Side) *Phase { return &s.RLS }},
	} {
		for _, s := range sides {
			p, err := reads(ctx, s.db, o, ph.sql, ph.named)
			if err != nil {
				return nil, fmt.Errorf("%s reads (%s): %w", s.side.Name, ph.name, err)
			}
			*ph.get(s.side) = p
			o.Log("%s %s reads: %.0f/s, p50 %s, p99 %s, %d wrong", s.side.Name, ph.name, p.PerSec, p.P50, p.P99, p.Wrong)
		}
	}
	if o.Creates > 0 {
		for _, s := range sides {
			if err := creates(ctx, s.db, o, s.side); err != nil {
				return nil, fmt.Errorf("%s creates: %w", s.side.Name, err)
			}
		}
	}
	r.LoadAfter = loadavg()
	print(w, r)
	return r, nil
}

// build makes the pool with one TenantCreate (distributed on Citus), then o.Tenants more
// tenants' catalog rows and rows in bulk, as a superuser (a plain owner is held back by the
// forced policy, and Citus sends an INSERT ... SELECT's rows to the shards by COPY, which RLS
// refuses), and on Citus counts the tenants each worker holds.
func build(ctx context.Context, db *tenancytest.DB, o Options, s *Side) error {
	start := time.Now()
	seed, err := db.Client.TenantCreate(ctx, "seed", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		return err
	}
	super, err := pgx.Connect(ctx, db.SuperURL())
	if err != nil {
		return err
	}
	defer super.Close(context.WithoutCancel(ctx))
	notes := pgx.Identifier{seed.Placement.Schema, "notes"}.Sanitize()
	const chunk = 10000
	for from := 0; from < o.Tenants; from += chunk {
		n := min(chunk, o.Tenants-from)
		err := pgx.BeginFunc(ctx, super, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `
				INSERT INTO tenancy.tenants (slug, name, status, tier, placement_id)
				SELECT 'p' || i, 'Pool tenant ' || i, 'active', 'pool', $3 FROM generate_series($1::int, $2::int) i`,
				from+1, from+n, seed.Placement.ID); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `
				INSERT INTO `+notes+` (tenant_id, body)
				SELECT t.id, 'note ' || k FROM tenancy.tenants t, generate_series(1, $3::int) k
				WHERE t.slug IN (SELECT 'p' || i FROM generate_series($1::int, $2::int) i)`, from+1, from+n, o.Rows)
			return err
		})
		if err != nil {
			return fmt.Errorf("bulk tenants %d-%d: %w", from+1, from+n, err)
		}
		o.Log("%s: %d of %d tenants", s.Name, from+n, o.Tenants)
	}
	if _, err := super.Exec(ctx, `ANALYZE tenancy.tenants; ANALYZE `+notes); err != nil {
		return err
	}
	s.Build = time.Since(start)
	citus, err := db.Client.ServerKind(ctx, tenancy.ServerDefault)
	if err != nil || citus != tenancy.ServerKindCitus {
		return err
	}
	rows, err := super.Query(ctx, `
		SELECT n.nodename || ':' || n.nodeport, count(*)
		FROM (SELECT get_shard_id_for_distribution_column($1::regclass, t.id) AS shard FROM tenancy.tenants t WHERE t.tier = 'pool') x
		JOIN pg_dist_placement p ON p.shardid = x.shard JOIN pg_dist_node n ON n.groupid = p.groupid
		GROUP BY 1 ORDER BY 1`, notes)
	if err != nil {
		return err
	}
	s.PerNode = map[string]int{}
	var node string
	var count int
	_, err = pgx.ForEachRow(rows, []any{&node, &count}, func() error { s.PerNode[node] = count; return nil })
	return err
}

// reads runs o.Workers readers for o.Duration, each reading a random tenant of a sample of the
// fleet per request, and checks every count.
func reads(ctx context.Context, db *tenancytest.DB, o Options, sql string, named bool) (Phase, error) {
	var slugs []string
	rows, err := db.OwnerPool.Query(ctx, `SELECT slug FROM tenancy.tenants WHERE slug LIKE 'p%' ORDER BY random() LIMIT $1`, o.Sample)
	if err != nil {
		return Phase{}, err
	}
	if slugs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return Phase{}, err
	}
	sample := make([]*tenancy.Tenant, 0, len(slugs))
	for _, slug := range slugs {
		t, err := db.Client.TenantGet(ctx, slug)
		if err != nil {
			return Phase{}, err
		}
		sample = append(sample, t)
	}
	var mu sync.Mutex
	var lat []time.Duration
	wrong := 0
	stop := time.Now().Add(o.Duration)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(stop) {
				t := sample[rand.IntN(len(sample))]
				tctx := tenancy.WithTenant(ctx, t)
				var args []any
				if named {
					args = []any{t.ID}
				}
				start := time.Now()
				var n int
				err := db.Client.QueryRow(tctx, sql, args...).Scan(&n)
				mine = append(mine, time.Since(start))
				if err != nil || n != o.Rows {
					bad++
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			wrong += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	p := Phase{Requests: len(lat), PerSec: float64(len(lat)) / o.Duration.Seconds(), Wrong: wrong}
	if len(lat) > 0 {
		p.P50, p.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return p, nil
}

// creates times o.Creates pool tenants made one after another by TenantCreate.
func creates(ctx context.Context, db *tenancytest.DB, o Options, s *Side) error {
	var lat []time.Duration
	for i := range o.Creates {
		start := time.Now()
		if _, err := db.Client.TenantCreate(ctx, fmt.Sprintf("new-%d", i), &tenancy.TenantCreateOpts{Tier: tenancy.TierPool}); err != nil {
			return err
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	s.CreateP50, s.CreateP95 = lat[len(lat)/2], lat[len(lat)*95/100]
	return nil
}

// loadavg is the first three fields of /proc/loadavg, as uptime prints them.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func print(w io.Writer, r *Report) {
	fmt.Fprintf(w, "pool tier: %d tenants x %d rows; %d readers for %s per phase; load %s -> %s\n",
		r.Tenants, r.Rows, r.Workers, r.ReadDuration, r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(w, "%-6s %10s %22s %22s %14s %14s\n", "", "build", "read, tenant_id named", "read, RLS alone", "create p50", "create p95")
	for _, s := range []*Side{&r.Plain, &r.Citus} {
		fmt.Fprintf(w, "%-6s %10s %9.0f/s p99 %6s %9.0f/s p99 %6s %14s %14s\n", s.Name, s.Build.Round(time.Second),
			s.Named.PerSec, s.Named.P99.Round(10*time.Microsecond), s.RLS.PerSec, s.RLS.P99.Round(10*time.Microsecond),
			s.CreateP50.Round(10*time.Microsecond), s.CreateP95.Round(10*time.Microsecond))
		if s.Named.Wrong+s.RLS.Wrong > 0 {
			fmt.Fprintf(w, "%-6s WRONG READS: %d named, %d under RLS alone\n", s.Name, s.Named.Wrong, s.RLS.Wrong)
		}
	}
	if len(r.Citus.PerNode) > 0 {
		nodes := make([]string, 0, len(r.Citus.PerNode))
		for n := range r.Citus.PerNode {
			nodes = append(nodes, n)
		}
		slices.Sort(nodes)
		var parts []string
		for _, n := range nodes {
			parts = append(parts, fmt.Sprintf("%s: %d", n, r.Citus.PerNode[n]))
		}
		fmt.Fprintf(w, "citus tenants per worker: %s\n", strings.Join(parts, ", "))
	}
}
