package migrate

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/bench/internal/fleet"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// Options size a run.
type Options struct {
	Tenants     int    // tenants in the fleet
	Create      int    // tenants created with TenantCreate (timed); the rest are generated in bulk
	Naive       int    // tenants migrated by the naive baseline (0: none)
	Concurrency int    // MigrateOpts.Concurrency (0: tenancy's default)
	PsqlDir     string // where psql is; "" means $PATH
	Log         func(format string, args ...any)
}

// The tenant schema: three small tables following the RLS convention, a few rows each.
const v1Up = `
CREATE TABLE projects (
    tenant_id  bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id         bigint GENERATED ALWAYS AS IDENTITY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE tasks (
    tenant_id  bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id         bigint GENERATED ALWAYS AS IDENTITY,
    project_id bigint NOT NULL,
    title      text NOT NULL,
    done       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)
);
CREATE TABLE comments (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigint GENERATED ALWAYS AS IDENTITY,
    task_id   bigint NOT NULL,
    body      text NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id)
);
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects USING (tenant_id = tenancy.current_tenant_id());
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks USING (tenant_id = tenancy.current_tenant_id());
ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
ALTER TABLE comments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON comments USING (tenant_id = tenancy.current_tenant_id());
`

// v2Up is the new migration: a column with a default and an index on two small tables.
const v2Up = `ALTER TABLE projects ADD COLUMN archived boolean NOT NULL DEFAULT false;
CREATE INDEX projects_archived ON projects (tenant_id, archived);
ALTER TABLE tasks ADD COLUMN priority integer NOT NULL DEFAULT 0;
CREATE INDEX tasks_priority ON tasks (tenant_id, priority);
`

const v2Down = `DROP INDEX projects_archived;
ALTER TABLE projects DROP COLUMN archived;
DROP INDEX tasks_priority;
ALTER TABLE tasks DROP COLUMN priority;
`

// seed gives each tenant a few rows.
func seed(id int64) string {
	return fmt.Sprintf(`SELECT set_config('tenancy.tenant_id', '%[1]d', true);
INSERT INTO projects (tenant_id, name) SELECT %[1]d, 'project ' || g FROM generate_series(1, 3) g;
INSERT INTO tasks (tenant_id, project_id, title) SELECT %[1]d, p.id, 'task ' || g FROM projects p, generate_series(1, 4) g;
INSERT INTO comments (tenant_id, task_id, body) SELECT %[1]d, t.id, 'ok' FROM tasks t;
`, id)
}

var (
	filesV1 = fstest.MapFS{"0001_schema.up.sql": {Data: []byte(v1Up)}}
	filesV2 = fstest.MapFS{"0001_schema.up.sql": {Data: []byte(v1Up)}, "0002_archived_priority.up.sql": {Data: []byte(v2Up)}}
)

// Report is what a run measured.
type Report struct {
	Server, Machine        string
	Tenants, Created       int
	CreateP50, CreateP95   time.Duration
	CreateTotal            time.Duration
	Generate               time.Duration
	Psql                   time.Duration
	Tenancy                time.Duration
	Concurrency            int
	Noop                   time.Duration
	NoopQueries            int
	NaiveN                 int
	Naive, NaiveNoop       time.Duration
	TenancyN, TenancyNNoop time.Duration
}

// DBOptions is the database Run needs (tenancytest.New, Open or OpenKept): the fleet's first
// migration only.
func DBOptions() *tenancytest.Options { return &tenancytest.Options{TenantMigrations: filesV1} }

type bench struct {
	o          Options
	admin, app *pgxpool.Pool
	ownerURL   string
	dir        string
	rep        Report
	reused     bool
}

// Run builds the fleet in db (made with DBOptions), or finishes the fleet an earlier run left
// there (a database from tenancytest.OpenKept), times one new migration applied by tenancy, by a
// psql script and by the naive migrator, then nothing to apply, and prints the figures to out.
// It leaves the fleet at the first migration.
func Run(ctx context.Context, db *tenancytest.DB, o Options, out io.Writer) (*Report, error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Create > o.Tenants {
		o.Create = o.Tenants
	}
	if o.Naive > o.Tenants {
		o.Naive = o.Tenants
	}
	b := &bench{o: o, app: db.AppPool, ownerURL: db.AdminURL}
	var err error
	if b.dir, err = os.MkdirTemp("", "bench-migrate-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.dir)
	// pgxpool's default size, as an application's would be: the fleet runner's default
	// concurrency follows the owner pool's size, and the harness's pool has 4.
	if b.admin, err = pgxpool.New(ctx, db.AdminURL); err != nil {
		return nil, err
	}
	defer b.admin.Close()
	if err := b.setUp(ctx); err != nil {
		return nil, fmt.Errorf("set up: %w", err)
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"create tenants", b.create},
		{"generate fleet", b.generate},
		{"psql script", b.psql},
		{"naive", b.naive},
		{"tenancy", b.tenancy},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	b.print(out)
	return &b.rep, nil
}

// setUp finds whether the database holds an earlier run's fleet and, if so, brings any
// placement that run left at version 2 back to 1.
func (b *bench) setUp(ctx context.Context) error {
	if err := b.admin.QueryRow(ctx, `SELECT current_setting('server_version')`).Scan(&b.rep.Server); err != nil {
		return err
	}
	b.rep.Machine = fmt.Sprintf("%d cores, %s/%s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	if err := b.admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenancy.tenants)`).Scan(&b.reused); err != nil {
		return err
	}
	if b.reused {
		// An earlier run may have stopped with placements at version 2: bring them back to 1.
		var at2 []string
		rows, err := b.admin.Query(ctx, `SELECT schema FROM tenancy.placements WHERE version = 2 ORDER BY id`)
		if err != nil {
			return err
		}
		if at2, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		if len(at2) > 0 {
			b.o.Log("reverting %d placements left at version 2", len(at2))
			if err := b.revert(ctx, at2); err != nil {
				return err
			}
		}
	}
	return b.client(filesV1).Init(ctx)
}

func (b *bench) client(files fstest.MapFS) *tenancy.Client {
	c, err := tenancy.New(&tenancy.Config{AppPool: b.app, OwnerPool: b.admin, TenantMigrations: files})
	if err != nil {
		panic(err) // the files are constants
	}
	return c
}

// create makes the first tenants through TenantCreate, one at a time, timing each.
func (b *bench) create(ctx context.Context) error {
	c := b.client(filesV1)
	times := make([]time.Duration, 0, b.o.Create)
	start := time.Now()
	for i := range b.o.Create {
		name := slug(i + 1)
		if b.reused {
			// The fleet exists: time sign-ups on it, then remove them so the fleet stays the same.
			name = fmt.Sprintf("extra-%05d", i+1)
		}
		t0 := time.Now()
		if _, err := c.TenantCreate(ctx, name, nil); err != nil {
			return err
		}
		times = append(times, time.Since(t0))
		if b.reused {
			if err := c.TenantDelete(ctx, name, &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
				return err
			}
		}
	}
	b.rep.CreateTotal = time.Since(start)
	b.rep.Created = b.o.Create
	if len(times) > 0 {
		slices.Sort(times)
		b.rep.CreateP50, b.rep.CreateP95 = times[len(times)/2], times[len(times)*95/100]
	}
	if b.reused {
		b.rep.CreateTotal = 0
		for _, d := range times {
			b.rep.CreateTotal += d
		}
	}
	b.o.Log("TenantCreate: %d tenants in %s (p50 %s, p95 %s)", b.o.Create, b.rep.CreateTotal.Round(time.Millisecond), b.rep.CreateP50, b.rep.CreateP95)
	return nil
}

func slug(i int) string { return fmt.Sprintf("bench-%05d", i) }

// Fleet is the bulk-generated fleet of n tenants (slugs bench-00001, ...) at the first
// migration, for other commands that measure a fleet like this one (bench/memory).
func Fleet(n int) fleet.Spec { return (&bench{o: Options{Tenants: n}}).fleetSpec() }

// fleetSpec is the rest of the fleet, generated in bulk (bench/internal/fleet): each schema
// with the same DDL TenantCreate runs (v1, grants) and a few rows.
func (b *bench) fleetSpec() fleet.Spec {
	return fleet.Spec{
		Tenants: b.o.Tenants - b.o.Create,
		Names:   func(i int, id int64) (string, string) { return slug(b.o.Create + i + 1), fmt.Sprintf("Bench %d", id) },
		Version: 1,
		SQL: func(id int64) string {
			// The grants TenantCreate gives, spelled out: "ON ALL TABLES IN SCHEMA" scans all of
			// pg_class, which makes generating a big fleet quadratic.
			return v1Up + seed(id) + fmt.Sprintf(`GRANT USAGE ON SCHEMA tenant_%[1]d TO %[2]s;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_%[1]d.projects, tenant_%[1]d.tasks, tenant_%[1]d.comments TO %[2]s;
GRANT USAGE, SELECT ON SEQUENCE tenant_%[1]d.projects_id_seq, tenant_%[1]d.tasks_id_seq, tenant_%[1]d.comments_id_seq TO %[2]s;
`, id, pgx.Identifier{tenancytest.AppRole}.Sanitize())
		},
	}
}

// generate adds the rest of the fleet in bulk, or with -reuse the schemas an interrupted
// generation did not get to.
func (b *bench) generate(ctx context.Context) error {
	if b.o.Tenants <= b.o.Create {
		return nil
	}
	start := time.Now()
	if b.reused {
		var n int
		if err := b.admin.QueryRow(ctx, `SELECT count(*) FROM tenancy.tenants WHERE status = 'active'`).Scan(&n); err != nil {
			return err
		}
		if n != b.o.Tenants {
			return fmt.Errorf("-reuse: the database has %d tenants, not %d", n, b.o.Tenants)
		}
		missing, err := fleet.Resume(ctx, b.admin, b.fleetSpec())
		if err != nil {
			return err
		}
		b.rep.Tenants = b.o.Tenants
		b.o.Log("-reuse: %d tenants there, generated the %d missing schemas in %s", n, missing, time.Since(start).Round(time.Millisecond))
		return nil
	}
	if err := fleet.Generate(ctx, b.admin, b.fleetSpec()); err != nil {
		return err
	}
	b.rep.Generate = time.Since(start)
	b.rep.Tenants = b.o.Tenants
	b.o.Log("generated %d tenants in bulk in %s", b.o.Tenants-b.o.Create, b.rep.Generate.Round(time.Millisecond))
	return nil
}

// schemas lists the tenant schemas in tenant id order, the first n (0: all).
func (b *bench) schemas(ctx context.Context, n int) ([]string, []string, error) {
	rows, err := b.admin.Query(ctx, `
		SELECT p.schema, t.slug FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id
		ORDER BY t.id LIMIT CASE WHEN $1 = 0 THEN NULL ELSE $1 END`, n)
	if err != nil {
		return nil, nil, err
	}
	var schemas, slugs []string
	var s, sl string
	_, err = pgx.ForEachRow(rows, []any{&s, &sl}, func() error {
		schemas, slugs = append(schemas, s), append(slugs, sl)
		return nil
	})
	return schemas, slugs, err
}

// script writes a psql script running sql in each schema, a transaction per schema.
func (b *bench) script(name string, schemas []string, sql string) (string, error) {
	path := filepath.Join(b.dir, name)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	for _, s := range schemas {
		fmt.Fprintf(f, "BEGIN;\nSET LOCAL search_path = %s, public;\n%sCOMMIT;\n", s, sql)
	}
	return path, f.Close()
}

func (b *bench) runPsql(ctx context.Context, path string) (time.Duration, error) {
	psql := "psql"
	if p := filepath.Join(b.o.PsqlDir, "psql"); b.o.PsqlDir != "" && fileExists(p) {
		psql = p
	}
	cmd := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", b.ownerURL, "-f", path)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s: %w\n%s", cmd, err, out)
	}
	return time.Since(start), nil
}

// revert undoes v2 in the given schemas (DDL and ledger), so that the next contender meets the
// same fleet.
func (b *bench) revert(ctx context.Context, schemas []string) error {
	path, err := b.script("revert.sql", schemas, v2Down)
	if err != nil {
		return err
	}
	if _, err := b.runPsql(ctx, path); err != nil {
		return err
	}
	_, err = b.admin.Exec(ctx, `
		WITH p AS (UPDATE tenancy.placements SET version = 1 WHERE schema = ANY ($1) AND version = 2 RETURNING id)
		DELETE FROM tenancy.migrations m USING p WHERE m.placement_id = p.id AND m.version = 2`, schemas)
	return err
}

// psql times the physical limit: the same DDL as one plain script over every tenant schema.
func (b *bench) psql(ctx context.Context) error {
	schemas, _, err := b.schemas(ctx, 0)
	if err != nil {
		return err
	}
	path, err := b.script("v2.sql", schemas, v2Up)
	if err != nil {
		return err
	}
	if b.rep.Psql, err = b.runPsql(ctx, path); err != nil {
		return err
	}
	b.o.Log("psql script: %d schemas in %s", len(schemas), b.rep.Psql.Round(time.Millisecond))
	return b.revert(ctx, schemas)
}

// naive migrates the first n tenants the way django-tenants' standard executor does: one tenant
// after another on one connection, switching search_path with its own round trip and reading the
// tenant's version before applying; then again with nothing to apply. tenancy then does the same
// tenants.
func (b *bench) naive(ctx context.Context) error {
	n := b.o.Naive
	if n == 0 {
		return nil
	}
	schemas, slugs, err := b.schemas(ctx, n)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, b.ownerURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	pass := func() (time.Duration, error) {
		start := time.Now()
		for _, s := range schemas {
			if _, err := conn.Exec(ctx, "SET search_path TO "+s+", public"); err != nil {
				return 0, err
			}
			var id, v int64
			if err := conn.QueryRow(ctx, `SELECT p.id, coalesce(max(m.version), 0) FROM tenancy.placements p LEFT JOIN tenancy.migrations m ON m.placement_id = p.id WHERE p.schema = $1 GROUP BY p.id`, s).Scan(&id, &v); err != nil {
				return 0, err
			}
			if v >= 2 {
				continue
			}
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, v2Up, pgx.QueryExecModeSimpleProtocol); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `WITH l AS (INSERT INTO tenancy.migrations (placement_id, version, name, checksum) VALUES ($1, 2, 'archived_priority', ''))
					UPDATE tenancy.placements SET version = 2 WHERE id = $1`, id)
				return err
			})
			if err != nil {
				return 0, fmt.Errorf("%s: %w", s, err)
			}
		}
		return time.Since(start), nil
	}
	if b.rep.Naive, err = pass(); err != nil {
		return err
	}
	if b.rep.NaiveNoop, err = pass(); err != nil {
		return err
	}
	b.rep.NaiveN = n
	b.o.Log("naive: %d tenants in %s, nothing to apply in %s", n, b.rep.Naive.Round(time.Millisecond), b.rep.NaiveNoop.Round(time.Millisecond))
	if err := b.revert(ctx, schemas); err != nil {
		return err
	}
	c := b.client(filesV2)
	res, err := c.Migrate(ctx, &tenancy.MigrateOpts{Tenants: slugs, Concurrency: b.o.Concurrency})
	if err != nil {
		return err
	}
	b.rep.TenancyN = res.Duration
	if res, err = c.Migrate(ctx, &tenancy.MigrateOpts{Tenants: slugs}); err != nil {
		return err
	}
	b.rep.TenancyNNoop = res.Duration
	b.o.Log("tenancy: the same %d tenants in %s, nothing to apply in %s", n, b.rep.TenancyN.Round(time.Millisecond), b.rep.TenancyNNoop)
	return b.revert(ctx, append(schemas, "tenancy_shape"))
}

// tenancy times the fleet runner over the whole fleet, then with nothing to apply.
func (b *bench) tenancy(ctx context.Context) error {
	c := b.client(filesV2)
	last := time.Now()
	res, err := c.Migrate(ctx, &tenancy.MigrateOpts{Concurrency: b.o.Concurrency, OnEvent: func(e tenancy.MigrateEvent) {
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			b.o.Log("  %d/%d", e.Done, e.Total)
		}
	}})
	if err != nil {
		return err
	}
	if res.Applied != b.o.Tenants+1 {
		return fmt.Errorf("migrated %d placements, want %d", res.Applied, b.o.Tenants+1)
	}
	b.rep.Tenancy, b.rep.Concurrency = res.Duration, res.Concurrency
	b.o.Log("tenancy: %d placements in %s (concurrency %d)", res.Applied, res.Duration.Round(time.Millisecond), res.Concurrency)
	var noops []time.Duration
	for range 5 {
		res, err := c.Migrate(ctx, nil)
		if err != nil {
			return err
		}
		noops = append(noops, res.Duration)
		b.rep.NoopQueries = res.Queries
	}
	slices.Sort(noops)
	b.rep.Noop = noops[len(noops)/2]
	var n int
	if err := b.admin.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'tasks' AND column_name = 'priority'`).Scan(&n); err != nil {
		return err
	}
	if n != b.o.Tenants+1 {
		return fmt.Errorf("%d schemas have the new column, want %d", n, b.o.Tenants+1)
	}
	return nil
}

func (b *bench) print(w io.Writer) {
	r := &b.rep
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	s := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	fmt.Fprintf(w, "machine: %s; PostgreSQL %s; loopback\n\n", r.Machine, r.Server)
	fmt.Fprintf(w, "| what | figure |\n|---|---|\n")
	if r.Created > 0 && b.reused {
		fmt.Fprintf(w, "| TenantCreate, one at a time, on the %d-tenant fleet (%d tenants, each hard-deleted after) | p50 %s, p95 %s |\n", r.Tenants, r.Created, ms(r.CreateP50), ms(r.CreateP95))
	} else if r.Created > 0 {
		fmt.Fprintf(w, "| TenantCreate, one at a time (%d tenants) | p50 %s, p95 %s, %.0f tenants/s |\n", r.Created, ms(r.CreateP50), ms(r.CreateP95), float64(r.Created)/r.CreateTotal.Seconds())
	}
	if r.Generate > 0 && !b.reused {
		fmt.Fprintf(w, "| bulk generation of the other %d tenants | %s |\n", r.Tenants-r.Created, s(r.Generate))
	}
	fmt.Fprintf(w, "| one new migration, %d tenants: plain psql script (physical limit) | %s |\n", b.o.Tenants, s(r.Psql))
	fmt.Fprintf(w, "| one new migration, %d tenants: tenancy migrate (concurrency %d) | %s (%.2fx the script) |\n", b.o.Tenants, r.Concurrency, s(r.Tenancy), r.Tenancy.Seconds()/r.Psql.Seconds())
	fmt.Fprintf(w, "| nothing to apply, %d tenants: tenancy migrate (median of 5) | %s, %d query |\n", b.o.Tenants, ms(r.Noop), r.NoopQueries)
	if r.NaiveN > 0 {
		fmt.Fprintf(w, "| one new migration, %d tenants: naive one-by-one | %s |\n", r.NaiveN, s(r.Naive))
		fmt.Fprintf(w, "| one new migration, %d tenants: tenancy migrate | %s (naive / tenancy = %.2f) |\n", r.NaiveN, s(r.TenancyN), r.Naive.Seconds()/r.TenancyN.Seconds())
		fmt.Fprintf(w, "| nothing to apply, %d tenants: naive / tenancy | %s / %s |\n", r.NaiveN, ms(r.NaiveNoop), ms(r.TenancyNNoop))
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
