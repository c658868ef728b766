package memory

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/bench/internal/fleet"
	"github.com/tenancy-go/tenancy/bench/migrate"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// Options size a run.
type Options struct {
	Counts     []int // tenants touched by one connection, one measure each (the fleet is the largest)
	MaxTenants int   // Config.ConnMaxTenants for the recycled run
	Log        func(format string, args ...any)
}

// DBOptions is the database Run needs: the migrate command's tenant schema (three RLS tables).
func DBOptions() *tenancytest.Options { return migrate.DBOptions() }

// Mem is one backend's memory.
type Mem struct {
	Contexts int64 // sum(total_bytes) of pg_backend_memory_contexts; -1 if unreadable
	RSS      int64 // VmRSS of /proc/<pid>/status, bytes; -1 if not on this host
	Anon     int64 // RssAnon, bytes; -1 likewise
}

// Row is one measure.
type Row struct {
	Tenants int
	Plain   Mem // one connection, never recycled
	// Recycled is the largest backend seen when a pool of one connection serves the same
	// tenants through a Client with ConnMaxTenants = Options.MaxTenants.
	Recycled Mem
	Backends int // backends the recycled pool used
}

const touch = `SELECT pg_backend_pid(), (SELECT count(*) FROM projects) + (SELECT count(*) FROM tasks) + (SELECT count(*) FROM comments)`

// Run makes (or finds) a fleet of max(Counts) tenants in db and measures, for each count, a
// fresh connection that has read each of that many tenants' three tables.
func Run(ctx context.Context, db *tenancytest.DB, o Options, out io.Writer) ([]Row, error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	n := 0
	for _, c := range o.Counts {
		n = max(n, c)
	}
	// A fleet kept by bench/migrate may be a migration ahead of this command's files (its last
	// run leaves it at version 2): the memory measured does not depend on it, so a catalog that
	// is there is used as it is.
	var inited bool
	if err := db.OwnerPool.QueryRow(ctx, `SELECT to_regclass('tenancy.tenants') IS NOT NULL`).Scan(&inited); err != nil {
		return nil, err
	}
	if !inited {
		if err := db.Client.Init(ctx); err != nil {
			return nil, err
		}
	}
	var have int
	if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM tenancy.tenants WHERE status = 'active'`).Scan(&have); err != nil {
		return nil, err
	}
	if have < n {
		o.Log("generating %d tenants", n-have)
		if err := fleet.Generate(ctx, db.OwnerPool, migrate.Fleet(n-have)); err != nil {
			return nil, err
		}
	}
	var ts []*tenancy.Tenant
	for len(ts) < n {
		after := ""
		if len(ts) > 0 {
			after = ts[len(ts)-1].Slug
		}
		page, err := db.Client.TenantList(ctx, &tenancy.TenantListOpts{After: after, Limit: 100, Status: tenancy.StatusActive})
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return nil, fmt.Errorf("%d tenants, want %d", len(ts), n)
		}
		ts = append(ts, page...)
	}
	super := db.Server.SuperPool().Config().ConnConfig.Copy()
	super.Database = db.Name
	var rows []Row
	var err error
	for _, c := range o.Counts {
		r := Row{Tenants: c}
		if r.Plain, err = plain(ctx, super, ts[:c]); err != nil {
			return nil, err
		}
		if r.Recycled, r.Backends, err = recycled(ctx, db, o.MaxTenants, ts[:c]); err != nil {
			return nil, err
		}
		o.Log("%d tenants: plain %+v, recycled %+v over %d backends", c, r.Plain, r.Recycled, r.Backends)
		rows = append(rows, r)
	}
	print(out, rows, o)
	return rows, nil
}

// plain touches the tenants on one connection, binding each with set_config as tenancy does,
// as a superuser so that it may read its own memory contexts.
func plain(ctx context.Context, cfg *pgx.ConnConfig, ts []*tenancy.Tenant) (Mem, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return Mem{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var pid int
	for _, t := range ts {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true), set_config('tenancy.tenant_id', $2, true)`,
				pgx.Identifier{t.Placement.Schema}.Sanitize()+", public", strconv.FormatInt(t.ID, 10)); err != nil {
				return err
			}
			var n int64
			return tx.QueryRow(ctx, touch).Scan(&pid, &n)
		})
		if err != nil {
			return Mem{}, fmt.Errorf("%s: %w", t.Slug, err)
		}
	}
	m := proc(pid)
	if err := conn.QueryRow(ctx, `SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts`).Scan(&m.Contexts); err != nil {
		return Mem{}, err
	}
	return m, nil
}

// recycled serves the tenants through a Client on the application role's pool of one connection,
// recycled after maxTenants, and returns the largest backend it saw (RSS; the application role may
// not read memory contexts).
func recycled(ctx context.Context, db *tenancytest.DB, maxTenants int, ts []*tenancy.Tenant) (Mem, int, error) {
	cfg, err := pgxpool.ParseConfig(db.AppURL)
	if err != nil {
		return Mem{}, 0, err
	}
	cfg.MaxConns = 1
	tenancy.ConfigurePool(cfg, "")
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return Mem{}, 0, err
	}
	defer pool.Close()
	c, err := tenancy.New(&tenancy.Config{AppPool: pool, ConnMaxTenants: maxTenants})
	if err != nil {
		return Mem{}, 0, err
	}
	peak := Mem{Contexts: -1}
	pids := map[int]bool{}
	for _, t := range ts {
		var pid int
		var n int64
		if err := c.QueryRow(tenancy.WithTenant(ctx, t), touch).Scan(&pid, &n); err != nil {
			return Mem{}, 0, fmt.Errorf("%s: %w", t.Slug, err)
		}
		pids[pid] = true
		if m := proc(pid); m.RSS > peak.RSS {
			peak.RSS, peak.Anon = m.RSS, m.Anon
		}
	}
	return peak, len(pids), nil
}

// proc reads a backend's resident memory from /proc (the server runs on this host).
func proc(pid int) Mem {
	m := Mem{Contexts: -1, RSS: -1, Anon: -1}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.RSS = kb << 10
		case "RssAnon:":
			m.Anon = kb << 10
		}
	}
	return m
}

func print(w io.Writer, rows []Row, o Options) {
	mb := func(n int64) string {
		if n < 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	fmt.Fprintf(w, "machine: %d cores, %s/%s\n\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "| tenants touched | one connection: memory contexts | RSS | RssAnon | recycled (ConnMaxTenants %d): largest RSS | RssAnon | backends |\n|---|---|---|---|---|---|---|\n", o.MaxTenants)
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %d |\n", r.Tenants, mb(r.Plain.Contexts), mb(r.Plain.RSS), mb(r.Plain.Anon), mb(r.Recycled.RSS), mb(r.Recycled.Anon), r.Backends)
	}
}
