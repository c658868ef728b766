package archive

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/bench/internal/fleet"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// Options size a run.
type Options struct {
	Tenants  int    // schema-tier tenants in the fleet
	Rows     int    // rows per table of the tenant backed up
	MoveRows int    // rows of the tenant moved (0: no move)
	Reps     int    // repetitions of each timing (the median is reported)
	Creates  int    // tenants created by TenantCreate, timed one at a time (0: skip; create.go)
	DumpReps int    // repetitions of pg_dump (0: Reps); a 10,000-tenant pg_dump takes minutes
	Reuse    bool   // the database holds the fleet of an earlier run: use it, leave it as found
	BinDir   string // where pg_dump, pg_restore and psql are; "" means $PATH
	Log      func(format string, args ...any)
}

// Report is what a run measured.
type Report struct {
	Server, Machine       string
	Tenants, Rows         int
	Generate              time.Duration
	Backup, PgDump        time.Duration
	BackupBytes, DumpSize int64
	Restore, PgRestore    time.Duration
	MoveRows              int
	MoveToSchema          time.Duration
	MoveToPool            time.Duration
	Create                createReport
}

// schema is a frozen copy of the reference application's first migrations (examples/taskboard,
// its own module): the generator below writes into exactly these tables, and the figures in
// docs/benchmarks.md were measured on them, so the app's later migrations must not change them.
//
//go:embed schema/shared/*.sql schema/tenant/*.sql
var schema embed.FS

func schemaDir(dir string) fs.FS {
	f, err := fs.Sub(schema, "schema/"+dir)
	if err != nil {
		panic(err) // the folders are embedded: cannot happen
	}
	return f
}

// DBOptions is the database Run needs (tenancytest.New or Open): the reference application's
// schema, a plain owner.
func DBOptions() *tenancytest.Options {
	return &tenancytest.Options{SharedMigrations: schemaDir("shared"), TenantMigrations: schemaDir("tenant")}
}

type bench struct {
	o      Options
	db     *tenancytest.DB
	admin  *pgxpool.Pool
	client *tenancy.Client
	dir    string
	rep    Report
}

// Run builds the fleet in db (made with DBOptions), times backup, restore and move against
// pg_dump and pg_restore, and prints the figures to out.
func Run(ctx context.Context, db *tenancytest.DB, o Options, out io.Writer) (*Report, error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Reps < 1 {
		o.Reps = 1
	}
	b := &bench{o: o, db: db, admin: db.OwnerPool, client: db.Client}
	var err error
	if b.dir, err = os.MkdirTemp("", "bench-archive-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.dir)
	if err := b.admin.QueryRow(ctx, `SELECT current_setting('server_version')`).Scan(&b.rep.Server); err != nil {
		return nil, err
	}
	b.rep.Machine = fmt.Sprintf("%d cores, %s/%s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	for _, s := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"generate fleet", b.generate},
		{"create", b.create},
		{"backup", b.backup},
		{"restore", b.restore},
		{"move", b.move},
	} {
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	b.print(out)
	return &b.rep, nil
}

// fill gives tenant id rows in each of the taskboard's tenant tables (n per table, or n in all
// when total), as the owner bound to the tenant (in any tier).
func (b *bench) fill(ctx context.Context, id int64, n int, total bool) error {
	per := map[string]int{}
	for _, t := range []string{"projects", "tasks", "comments", "labels", "task_labels", "api_tokens", "activity"} {
		per[t] = n
	}
	if total {
		// The shape of a real tenant: many tasks, comments and activity, few projects and labels.
		per = map[string]int{"projects": n / 100, "labels": n / 1000, "api_tokens": n / 1000,
			"tasks": n * 3 / 10, "comments": n * 3 / 10, "task_labels": n / 5}
		per["activity"] = n - per["projects"] - per["labels"] - per["api_tokens"] - per["tasks"] - per["comments"] - per["task_labels"]
	}
	return pgx.BeginFunc(ctx, b.admin, func(tx pgx.Tx) error {
		var schema string
		if err := tx.QueryRow(ctx, `SELECT p.schema FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id WHERE t.id = $1`, id).Scan(&schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('tenancy.tenant_id', $1::bigint::text, true), set_config('search_path', $2, true)`, id, pgx.Identifier{schema}.Sanitize()+", public"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`
			INSERT INTO projects (name, description) SELECT 'Project ' || g, repeat('Description of the project. ', 3) FROM generate_series(1, %[1]d) g;
			INSERT INTO labels (name, color) SELECT 'label ' || g, '#' || lpad(to_hex(g * 997 %% 16777216), 6, '0') FROM generate_series(1, %[2]d) g;
			INSERT INTO tasks (project_id, title, description, status, due_date)
			SELECT p.a[1 + g %% array_length(p.a, 1)], 'Task ' || g, 'Do the thing number ' || g || E'.\nCarefully.',
			       (ARRAY['todo', 'doing', 'done'])[1 + g %% 3], CASE WHEN g %% 4 = 0 THEN NULL ELSE date '2025-01-01' + g %% 365 END
			FROM (SELECT array_agg(id ORDER BY id) a FROM projects) p, generate_series(1, %[3]d) g;
			INSERT INTO comments (task_id, body)
			SELECT t.a[1 + g %% array_length(t.a, 1)], 'A comment, number ' || g || ', with some words in it.'
			FROM (SELECT array_agg(id ORDER BY id) a FROM tasks) t, generate_series(1, %[4]d) g;
			INSERT INTO task_labels (task_id, label_id)
			SELECT DISTINCT t.a[1 + g %% array_length(t.a, 1)], l.a[1 + (g / array_length(t.a, 1)) %% array_length(l.a, 1)]
			FROM (SELECT array_agg(id ORDER BY id) a FROM tasks) t, (SELECT array_agg(id ORDER BY id) a FROM labels) l, generate_series(1, %[5]d) g;
			INSERT INTO api_tokens (name, token_hash, prefix) SELECT 'token ' || g, sha256(g::text::bytea), 'tb_' || g FROM generate_series(1, %[6]d) g;
			INSERT INTO activity (verb, subject) SELECT (ARRAY['created', 'updated', 'commented'])[1 + g %% 3], 'task ' || g FROM generate_series(1, %[7]d) g;`,
			max(per["projects"], 1), max(per["labels"], 1), per["tasks"], per["comments"], per["task_labels"], per["api_tokens"], per["activity"]),
			pgx.QueryExecModeSimpleProtocol)
		return err
	})
}

// generate makes the fleet: one tenant through TenantCreate (the one backed up, filled with
// rows), the others in bulk (bench/internal/fleet) with the tenant migration's own SQL.
func (b *bench) generate(ctx context.Context) error {
	start := time.Now()
	if b.o.Reuse {
		var n int
		if err := b.admin.QueryRow(ctx, `SELECT count(*) FROM tenancy.tenants`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			b.rep.Tenants, b.rep.Rows = n, b.o.Rows
			b.o.Log("-reuse: a fleet of %d tenants", n)
			return nil
		}
	}
	subject, err := b.client.TenantCreate(ctx, "subject", nil)
	if err != nil {
		return err
	}
	if err := b.fill(ctx, subject.ID, b.o.Rows, false); err != nil {
		return err
	}
	up, err := fs.ReadFile(schemaDir("tenant"), "0001_projects.up.sql")
	if err != nil {
		return err
	}
	err = fleet.Generate(ctx, b.admin, fleet.Spec{
		Tenants: b.o.Tenants - 1,
		Names: func(_ int, id int64) (string, string) {
			return fmt.Sprintf("fleet-%d", id), fmt.Sprintf("Fleet %d", id)
		},
		Version: 1,
		SQL:     func(int64) string { return string(up) },
		Log:     b.o.Log,
	})
	if err != nil {
		return err
	}
	if _, err := b.admin.Exec(ctx, `ANALYZE`); err != nil {
		return err
	}
	b.rep.Generate, b.rep.Tenants, b.rep.Rows = time.Since(start), b.o.Tenants, b.o.Rows
	b.o.Log("fleet of %d tenants in %s", b.o.Tenants, b.rep.Generate.Round(time.Millisecond))
	return nil
}

// medianOf is the median of ds.
func medianOf(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// median runs fn reps times and returns the median duration.
func (b *bench) median(fn func(i int) error) (time.Duration, error) {
	var ds []time.Duration
	for i := range b.o.Reps {
		start := time.Now()
		if err := fn(i); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

func (b *bench) bin(name string) string {
	if p := filepath.Join(b.o.BinDir, name); b.o.BinDir != "" && fileExists(p) {
		return p
	}
	return name
}

func (b *bench) backup(ctx context.Context) error {
	archive := filepath.Join(b.dir, "subject.tar.gz")
	var err error
	b.rep.Backup, err = b.median(func(int) error {
		f, err := os.Create(archive)
		if err != nil {
			return err
		}
		defer f.Close()
		res, err := b.client.Backup(ctx, "subject", f, nil)
		if err == nil {
			b.rep.BackupBytes = res.Bytes
		}
		return err
	})
	if err != nil {
		return err
	}
	t, err := b.client.TenantGet(ctx, "subject")
	if err != nil {
		return err
	}
	dump := filepath.Join(b.dir, "subject.dump")
	reps := b.o.Reps
	if b.o.DumpReps > 0 {
		b.o.Reps = b.o.DumpReps
	}
	defer func() { b.o.Reps = reps }()
	b.rep.PgDump, err = b.median(func(int) error {
		// As the superuser: the owner is subject to the forced RLS policies, which pg_dump refuses.
		cmd := exec.CommandContext(ctx, b.bin("pg_dump"), "-Fc", "-n", t.Placement.Schema, "-f", dump, "-d", b.superURL(b.db.Name))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", cmd, err, out)
		}
		return nil
	})
	if st, err := os.Stat(dump); err == nil {
		b.rep.DumpSize = st.Size()
	}
	b.o.Log("backup: tenancy %s, pg_dump -n %s", b.rep.Backup.Round(time.Microsecond), b.rep.PgDump.Round(time.Millisecond))
	return err
}

func (b *bench) restore(ctx context.Context) error {
	archive := filepath.Join(b.dir, "subject.tar.gz")
	// Cold (the schema made in the restore) and from the warm pool (Config.WarmPlacements,
	// refilled before each, untimed), alternately.
	warm, err := b.warmClient()
	if err != nil {
		return err
	}
	defer warm.Close()
	var cold, hot []time.Duration
	for i := range b.o.Reps {
		for _, x := range []struct {
			c  *tenancy.Client
			ds *[]time.Duration
		}{{b.client, &cold}, {warm, &hot}} {
			if _, err := x.c.WarmFill(ctx); err != nil {
				return err
			}
			f, err := os.Open(archive)
			if err != nil {
				return err
			}
			slug := fmt.Sprintf("restored-%d", i)
			start := time.Now()
			_, err = x.c.Restore(ctx, f, &tenancy.RestoreOpts{Slug: slug, Tier: tenancy.TierSchema, Server: tenancy.ServerDefault})
			*x.ds = append(*x.ds, time.Since(start))
			f.Close()
			if err != nil {
				return err
			}
			if err := b.removeAfter(ctx, slug); err != nil {
				return err
			}
		}
	}
	b.rep.Restore, b.rep.Create.WarmRestore = medianOf(cold), medianOf(hot)
	// pg_restore into a database holding only what the dump refers to outside its schema
	// (tenancy.current_tenant_id, the shared users table); only pg_restore itself is timed.
	// Named after the test database, so that closing it drops this one too.
	super := b.db.Server.SuperPool()
	target := b.db.Name + "_pg_restore"
	for _, sql := range []string{`DROP DATABASE IF EXISTS ` + target + ` WITH (FORCE)`, `CREATE DATABASE ` + target + ` OWNER ` + b.db.OwnerRole} {
		if _, err := super.Exec(ctx, sql); err != nil {
			return err
		}
	}
	defer super.Exec(context.WithoutCancel(ctx), `DROP DATABASE IF EXISTS `+target+` WITH (FORCE)`)
	dumpPrereq := exec.CommandContext(ctx, b.bin("pg_dump"), "-s", "-n", "tenancy", "-n", "public", "-d", b.superURL(b.db.Name))
	prereq, err := dumpPrereq.Output()
	if err != nil {
		return fmt.Errorf("%s: %w", dumpPrereq, err)
	}
	load := exec.CommandContext(ctx, b.bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "DROP SCHEMA public", "-f", "-", "-d", b.superURL(target))
	load.Stdin = strings.NewReader(string(prereq))
	if out, err := load.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", load, err, out)
	}
	conn, err := pgx.Connect(ctx, b.superURL(target))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	t, err := b.client.TenantGet(ctx, "subject")
	if err != nil {
		return err
	}
	b.rep.PgRestore, err = b.median(func(int) error {
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{t.Placement.Schema}.Sanitize()+` CASCADE`); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, b.bin("pg_restore"), "-d", b.superURL(target), "--single-transaction", filepath.Join(b.dir, "subject.dump"))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", cmd, err, out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.o.Log("restore: tenancy %s, from the warm pool %s, pg_restore %s", b.rep.Restore.Round(time.Microsecond), b.rep.Create.WarmRestore.Round(time.Microsecond), b.rep.PgRestore.Round(time.Millisecond))
	return nil
}

func (b *bench) move(ctx context.Context) error {
	if b.o.MoveRows == 0 {
		return nil
	}
	t, err := b.client.TenantCreate(ctx, "big", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		return err
	}
	if err := b.fill(ctx, t.ID, b.o.MoveRows, true); err != nil {
		return err
	}
	start := time.Now()
	if _, err := b.client.Move(ctx, "big", &tenancy.MoveOpts{Tier: tenancy.TierSchema, Server: tenancy.ServerDefault}); err != nil {
		return err
	}
	b.rep.MoveToSchema = time.Since(start)
	start = time.Now()
	if _, err := b.client.Move(ctx, "big", &tenancy.MoveOpts{Tier: tenancy.TierPool}); err != nil {
		return err
	}
	b.rep.MoveToPool = time.Since(start)
	if err := b.removeAfter(ctx, "big"); err != nil {
		return err
	}
	b.rep.MoveRows = b.o.MoveRows
	b.o.Log("move of %d rows: pool->schema %s, schema->pool %s", b.o.MoveRows, b.rep.MoveToSchema.Round(time.Millisecond), b.rep.MoveToPool.Round(time.Millisecond))
	return nil
}

func (b *bench) print(w io.Writer) {
	r := &b.rep
	fmt.Fprintf(w, "PostgreSQL %s, %s; %d schema-tier tenants (taskboard schema, 7 tables); the tenant backed up has %d rows per table (median of %d)\n",
		r.Server, r.Machine, r.Tenants, r.Rows, b.o.Reps)
	fmt.Fprintf(w, "backup   tenancy Backup      %9s  (%d bytes)\n", r.Backup.Round(time.Microsecond), r.BackupBytes)
	fmt.Fprintf(w, "backup   pg_dump -Fc -n      %9s  (%d bytes)  tenancy is %.1fx faster\n", r.PgDump.Round(time.Microsecond), r.DumpSize, float64(r.PgDump)/float64(r.Backup))
	fmt.Fprintf(w, "restore  tenancy Restore     %9s  (new schema-tier tenant, migrations, rows, checks)\n", r.Restore.Round(time.Microsecond))
	fmt.Fprintf(w, "restore  tenancy Restore     %9s  (from the warm pool: a warm placement claimed, rows, checks)\n", r.Create.WarmRestore.Round(time.Microsecond))
	fmt.Fprintf(w, "restore  pg_restore          %9s  (into a database with only its prerequisites)\n", r.PgRestore.Round(time.Microsecond))
	b.printCreate(w)
	if r.MoveRows > 0 {
		fmt.Fprintf(w, "move     %d rows pool->schema %s, schema->pool %s\n", r.MoveRows, r.MoveToSchema.Round(time.Millisecond), r.MoveToPool.Round(time.Millisecond))
	}
}

// superURL is the superuser's URL on database db.
func (b *bench) superURL(db string) string { return b.db.Server.URL("", db) }

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
