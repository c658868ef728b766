package tenancy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// Migration lines for the fleet tests: v1 is what tenants are born with, later versions are the
// new migrations a deploy brings.
var (
	migV1 = fstest.MapFS{"0001_notes.up.sql": {Data: []byte(`
CREATE TABLE notes (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigint GENERATED ALWAYS AS IDENTITY,
    body      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes USING (tenant_id = tenancy.current_tenant_id());
`)}}
	// v2 adds a column and a new tenant table, which the application role must be able to use.
	v2Tags = `
ALTER TABLE notes ADD COLUMN tag text NOT NULL DEFAULT '';
CREATE TABLE tags (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigint GENERATED ALWAYS AS IDENTITY,
    name      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE tags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tags USING (tenant_id = tenancy.current_tenant_id());
`
)

func withFiles(base fstest.MapFS, files map[string]string) fstest.MapFS {
	out := fstest.MapFS{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range files {
		out[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return out
}

// fleet is a test database with n tenants created at v1.
func fleet(t *testing.T, n int) *tenancytest.DB {
	t.Helper()
	db := tenancytest.New(t, &tenancytest.Options{TenantMigrations: migV1})
	for i := range n {
		if _, err := db.Client.TenantCreate(context.Background(), fmt.Sprintf("t%02d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// clientWith is a client on db's pools that carries other tenant migrations (the next deploy).
func clientWith(t *testing.T, db *tenancytest.DB, tenant fs.FS, admin *pgxpool.Pool) *tenancy.Client {
	t.Helper()
	if admin == nil {
		admin = db.OwnerPool
	}
	c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: admin, TenantMigrations: tenant})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkConsistent asserts that every placement's schema and the ledger agree: a placement at
// version >= 2 has the tag column and the ledger row for 2; one below has neither. It returns
// how many placements are at version 2.
func checkConsistent(t *testing.T, db *tenancytest.DB) int {
	t.Helper()
	rows, err := db.OwnerPool.Query(context.Background(), `
		SELECT p.schema, p.version,
		       EXISTS (SELECT 1 FROM tenancy.migrations m WHERE m.placement_id = p.id AND m.version = 2),
		       (SELECT coalesce(max(version), 0) FROM tenancy.migrations m WHERE m.placement_id = p.id),
		       EXISTS (SELECT 1 FROM information_schema.columns c
		               WHERE c.table_schema = p.schema AND c.table_name = 'notes' AND c.column_name = 'tag'),
		       EXISTS (SELECT 1 FROM information_schema.columns c
		               WHERE c.table_schema = p.schema AND c.table_name = 'tags' AND c.column_name = 'name')
		FROM tenancy.placements p WHERE p.kind IN ('shape', 'schema') ORDER BY p.id`)
	if err != nil {
		t.Fatal(err)
	}
	at2 := 0
	var schema string
	var version, maxLedger int64
	var ledger2, col, table bool
	_, err = pgx.ForEachRow(rows, []any{&schema, &version, &ledger2, &maxLedger, &col, &table}, func() error {
		if version != maxLedger || ledger2 != (version >= 2) || col != (version >= 2) || table != (version >= 2) {
			t.Errorf("%s: placement version %d, ledger max %d, ledger has 2: %v, column: %v, table: %v", schema, version, maxLedger, ledger2, col, table)
		}
		if version >= 2 {
			at2++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return at2
}

func TestMigrateOneFailingTenantLeavesTheOthers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := fleet(t, 50)
	// t17 already has a table named like v2's new one, so v2 fails there and only there.
	if _, err := db.OwnerPool.Exec(ctx, `CREATE TABLE tenant_18.tags (x int)`); err != nil {
		t.Fatal(err)
	}
	bad, _ := db.Client.TenantGet(ctx, "t17")
	if bad.Placement.Schema != "tenant_18" {
		t.Fatalf("t17 lives in %s; the test assumes tenant ids follow creation order", bad.Placement.Schema)
	}
	c := clientWith(t, db, withFiles(migV1, map[string]string{"0002_tags.up.sql": v2Tags}), nil)
	var events []tenancy.MigrateEvent
	res, err := c.Migrate(ctx, &tenancy.MigrateOpts{Concurrency: 3, OnEvent: func(e tenancy.MigrateEvent) { events = append(events, e) }})
	var pe *tenancy.PartialError
	if !errors.As(err, &pe) || len(pe.Failed) != 1 || pe.Failed[0].Tenant != "t17" {
		t.Fatalf("Migrate: %v; want a PartialError naming t17 alone", err)
	}
	if !strings.Contains(err.Error(), "t17") || !strings.Contains(err.Error(), `relation "tags" already exists`) {
		t.Errorf("the error should name the tenant and the cause: %v", err)
	}
	if res.Total != 51 || res.Applied != 50 || pe.Failed[0].Version != 1 {
		t.Errorf("total %d applied %d (want 51, 50: the shape and 49 tenants); failed tenant at %d", res.Total, res.Applied, pe.Failed[0].Version)
	}
	if last := events[len(events)-1]; last.Kind != tenancy.MigrateEventFinish || last.Done != 51 || last.Failed != 1 {
		t.Errorf("last event %+v", last)
	}
	if n := checkConsistent(t, db); n != 50 {
		t.Errorf("%d placements at version 2, want 50", n)
	}

	// The new table is usable by the application role, bound to a tenant, and RLS applies.
	t03, _ := db.Client.TenantGet(ctx, "t03")
	if _, err := db.Client.Exec(tenancy.WithTenant(ctx, t03), `INSERT INTO tags (name) VALUES ('red')`); err != nil {
		t.Fatalf("the application role cannot use a table a migration added: %v", err)
	}

	// Fix the tenant; the rerun touches it and nothing else.
	if _, err := db.OwnerPool.Exec(ctx, `DROP TABLE tenant_18.tags`); err != nil {
		t.Fatal(err)
	}
	var done []string
	res, err = c.Migrate(ctx, &tenancy.MigrateOpts{OnEvent: func(e tenancy.MigrateEvent) {
		if e.Kind == tenancy.MigrateEventDone {
			done = append(done, e.Tenant)
		}
	}})
	if err != nil || res.Applied != 1 || len(done) != 1 || done[0] != "t17" {
		t.Fatalf("rerun: %v, applied %d, tenants %v; want t17 alone", err, res.Applied, done)
	}
	if n := checkConsistent(t, db); n != 51 {
		t.Errorf("%d placements at version 2 after the rerun, want 51", n)
	}
	st, err := c.MigrateStatus(ctx)
	if err != nil || st.Behind != 0 || len(st.Versions) != 1 || st.Versions[0].Version != 2 || st.Versions[0].Tenants != 50 || st.Shape != 2 {
		t.Errorf("status %+v, %v", st, err)
	}
}

// ledgerQueryCounter counts the queries sent on a pool.
type ledgerQueryCounter struct{ n atomic.Int64 }

func (c *ledgerQueryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *ledgerQueryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func TestMigrateNothingToApplyIsOneQuery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := fleet(t, 5)
	cfg, err := pgxpool.ParseConfig(db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &ledgerQueryCounter{}
	cfg.ConnConfig.Tracer = tr
	admin, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	c := clientWith(t, db, migV1, admin)
	res, err := c.Migrate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.n.Load(); got != 1 || res.Queries != 1 || res.Total != 0 || res.Applied != 0 {
		t.Errorf("nothing to apply cost %d queries on the admin pool (result says %d), total %d, applied %d; want 1, 0, 0", got, res.Queries, res.Total, res.Applied)
	}
}

func TestMigrateRefusesAnEditedFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := fleet(t, 2)
	edited := withFiles(nil, map[string]string{"0001_notes.up.sql": string(migV1["0001_notes.up.sql"].Data) + "\nCREATE INDEX notes_body ON notes (body);\n"})
	c := clientWith(t, db, withFiles(edited, map[string]string{"0002_tags.up.sql": v2Tags}), nil)
	_, err := c.Migrate(ctx, nil)
	if !errors.Is(err, tenancy.ErrMigrationChanged) || !strings.Contains(err.Error(), "0001_notes.up.sql") {
		t.Fatalf("Migrate with an edited applied file: %v; want ErrMigrationChanged naming the file", err)
	}
	if n := checkConsistent(t, db); n != 0 {
		t.Errorf("%d placements migrated although the run was refused", n)
	}
	// Also when there is nothing else to apply.
	if _, err := clientWith(t, db, edited, nil).Migrate(ctx, nil); !errors.Is(err, tenancy.ErrMigrationChanged) {
		t.Errorf("nothing-to-apply run with an edited file: %v", err)
	}
	// A deleted applied file is refused too.
	if _, err := clientWith(t, db, fstest.MapFS{}, nil).Migrate(ctx, nil); !errors.Is(err, tenancy.ErrMigrationMissing) {
		t.Errorf("run with an applied file deleted: %v", err)
	}
}

func TestMigrateSecondMigratorRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := fleet(t, 4)
	slow := withFiles(migV1, map[string]string{"0002_tags.up.sql": v2Tags + "SELECT pg_sleep(0.3);\n"})
	c := clientWith(t, db, slow, nil)
	started := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := c.Migrate(ctx, &tenancy.MigrateOpts{Concurrency: 1, OnEvent: func(e tenancy.MigrateEvent) {
			if e.Kind == tenancy.MigrateEventStart {
				close(started)
			}
		}})
		first <- err
	}()
	<-started
	_, err := clientWith(t, db, slow, nil).Migrate(ctx, nil)
	if !errors.Is(err, tenancy.ErrMigrationLocked) || !strings.Contains(err.Error(), "pid") {
		t.Errorf("second migrator: %v; want ErrMigrationLocked naming the holder", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first migrator: %v", err)
	}
	if n := checkConsistent(t, db); n != 5 {
		t.Errorf("%d placements at version 2, want 5", n)
	}
}

// TestMigrateHelperProcess is the migrator that TestMigrateKilledMidRun kills. It only runs when
// re-executed with TENANCY_MIGRATE_HELPER set.
func TestMigrateHelperProcess(t *testing.T) {
	if os.Getenv("TENANCY_MIGRATE_HELPER") == "" {
		t.Skip("helper process for TestMigrateKilledMidRun")
	}
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, os.Getenv("TENANCY_MIGRATE_ADMIN_URL"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(os.Getenv("TENANCY_MIGRATE_APP_URL"))
	if err != nil {
		t.Fatal(err)
	}
	tenancy.ConfigurePool(cfg, "")
	app, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tenancy.New(&tenancy.Config{AppPool: app, OwnerPool: admin, TenantMigrations: killedFiles})
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	_, err = c.Migrate(ctx, &tenancy.MigrateOpts{Concurrency: 3, OnEvent: func(e tenancy.MigrateEvent) {
		if e.Kind == tenancy.MigrateEventDone {
			fmt.Printf("done %s\n", e.Tenant)
			if done++; done == 10 {
				// Events come one at a time: holding this one stops every worker at its next
				// placement, so the fleet is partly migrated when the parent's SIGKILL lands,
				// however late that is on a busy machine.
				time.Sleep(time.Hour)
			}
		}
	}})
	fmt.Println("finished", err)
}

var killedFiles = withFiles(migV1, map[string]string{"0002_tags.up.sql": v2Tags + "SELECT pg_sleep(0.05);\n"})

func TestMigrateKilledMidRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := fleet(t, 40)
	cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TENANCY_MIGRATE_HELPER=1",
		"TENANCY_MIGRATE_ADMIN_URL="+db.AdminURL, "TENANCY_MIGRATE_APP_URL="+db.AppURL)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	done := 0
	for done < 10 && sc.Scan() {
		if strings.HasPrefix(sc.Text(), "done ") {
			done++
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if done < 10 {
		t.Fatalf("the helper finished only %d placements before its output ended", done)
	}
	mid := checkConsistent(t, db)
	t.Logf("%d of 41 placements at version 2 after SIGKILL", mid)
	if mid < 10 || mid >= 41 {
		t.Errorf("%d placements at version 2 after the kill; want a partly migrated fleet", mid)
	}

	// The killed migrator's lock goes with its connection; the rerun converges.
	c := clientWith(t, db, killedFiles, nil)
	deadline := time.Now().Add(2 * time.Minute) // a hang guard
	var res *tenancy.MigrateResult
	for {
		res, err = c.Migrate(ctx, &tenancy.MigrateOpts{Concurrency: 4})
		if !errors.Is(err, tenancy.ErrMigrationLocked) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if res.Applied != 41-mid && res.Applied > 41-mid+3 {
		t.Errorf("rerun applied %d placements; %d were behind after the kill", res.Applied, 41-mid)
	}
	if n := checkConsistent(t, db); n != 41 {
		t.Errorf("%d placements at version 2 after the rerun, want 41", n)
	}
}

func TestMigrateOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := fleet(t, 6)
	// A tenant that a crash left in provisioning: its placement has no schema yet.
	if _, err := db.OwnerPool.Exec(ctx, `
		WITH p AS (INSERT INTO tenancy.placements (kind, schema) VALUES ('schema', 'tenant_999') RETURNING id)
		INSERT INTO tenancy.tenants (id, slug, name, status, tier, placement_id) SELECT 999, 'halfmade', 'x', 'provisioning', 'schema', id FROM p`); err != nil {
		t.Fatal(err)
	}
	v3 := "ALTER TABLE tags ADD COLUMN color text;\n"
	c := clientWith(t, db, withFiles(migV1, map[string]string{"0002_tags.up.sql": v2Tags, "0003_color.up.sql": v3}), nil)

	var planned []string
	res, err := c.Migrate(ctx, &tenancy.MigrateOpts{DryRun: true, OnEvent: func(e tenancy.MigrateEvent) {
		if e.Kind == tenancy.MigrateEventPlanned {
			planned = append(planned, fmt.Sprintf("%s %d->%d %v", e.Tenant, e.From, e.To, e.Versions))
		}
	}})
	if err != nil || len(planned) != 7 || planned[0] != "(shape) 1->3 [2 3]" || planned[1] != "t00 1->3 [2 3]" || res.Skipped != 1 {
		t.Fatalf("dry run: %v, skipped %d, plan %q", err, res.Skipped, planned)
	}
	if n := checkConsistent(t, db); n != 0 {
		t.Fatalf("the dry run migrated %d placements", n)
	}

	// Two tenants, to version 2 only: the shape goes first, to the same version.
	res, err = c.Migrate(ctx, &tenancy.MigrateOpts{Tenants: []string{"t01", "t04"}, To: 2})
	if err != nil || res.Applied != 3 || res.Skipped != 0 {
		t.Fatalf("selected tenants: %v, applied %d (want 3: shape, t01, t04)", err, res.Applied)
	}
	st, err := c.MigrateStatus(ctx)
	if err != nil || st.Shape != 2 || st.Behind != 7 || len(st.Versions) != 3 || st.Versions[1].Tenants != 4 || st.Versions[2].Tenants != 2 ||
		st.Versions[0].Version != 0 || st.Versions[0].ByStatus[tenancy.StatusProvisioning] != 1 {
		t.Fatalf("status after a partial run: %+v, %v", st, err)
	}
	if _, err := c.Migrate(ctx, &tenancy.MigrateOpts{To: 7}); !errors.Is(err, tenancy.ErrUnknownVersion) {
		t.Errorf("--to an unknown version: %v", err)
	}

	// Canary: t00 fails, so the fleet beyond the first two tenants is left alone.
	if _, err := db.OwnerPool.Exec(ctx, `CREATE TABLE tenant_1.tags (x int)`); err != nil {
		t.Fatal(err)
	}
	res, err = c.Migrate(ctx, &tenancy.MigrateOpts{Canary: 2, Concurrency: 2})
	var pe *tenancy.PartialError
	if !errors.Is(err, tenancy.ErrCanaryFailed) || !errors.As(err, &pe) || len(pe.Failed) != 1 || pe.Failed[0].Tenant != "t00" {
		t.Fatalf("canary: %v", err)
	}
	if res.Applied != 2 { // the shape and t01 (2 -> 3)
		t.Errorf("canary run applied %d placements, want 2", res.Applied)
	}
	var untouched int
	if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM tenancy.placements WHERE kind = 'schema' AND version < 3 AND schema <> 'tenant_999'`).Scan(&untouched); err != nil || untouched != 5 {
		t.Errorf("%d tenants below 3 after the failed canary, want 5 (t00 and the four beyond the canary): %v", untouched, err)
	}

	// Fail-fast with concurrency 1 stops at t00 and reaches nobody after it.
	res, err = c.Migrate(ctx, &tenancy.MigrateOpts{FailFast: true, Concurrency: 1})
	if !errors.Is(err, tenancy.ErrStopped) || res.Applied != 0 {
		t.Errorf("fail-fast: %v, applied %d", err, res.Applied)
	}
	if _, err := db.OwnerPool.Exec(ctx, `DROP TABLE tenant_1.tags`); err != nil {
		t.Fatal(err)
	}
	if res, err = c.Migrate(ctx, nil); err != nil || res.Applied != 5 || res.Skipped != 1 {
		t.Fatalf("final run: %v, applied %d, skipped %d", err, res.Applied, res.Skipped)
	}
	if st, _ := c.MigrateStatus(ctx); st.Behind != 1 {
		t.Errorf("after the final run %d tenants are behind, want 1 (the provisioning one)", st.Behind)
	}
}

func TestMigrateShapeMustFollowRLS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := fleet(t, 3)
	c := clientWith(t, db, withFiles(migV1, map[string]string{"0002_audit.up.sql": "CREATE TABLE audit (tenant_id bigint, line text);\n"}), nil)
	_, err := c.Migrate(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "shape") || !strings.Contains(err.Error(), "audit lacks") {
		t.Fatalf("a tenant table without RLS: %v", err)
	}
	var migrated int
	if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM tenancy.placements WHERE kind IN ('shape', 'schema') AND version > 1`).Scan(&migrated); err != nil || migrated != 0 {
		t.Errorf("%d placements migrated although the shape refused the migration (%v)", migrated, err)
	}
}

func TestMigrateGooseFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := fleet(t, 3)
	files := withFiles(migV1, map[string]string{
		"0002_body_index.sql": `-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS notes_body ON notes (body);
-- +goose Down
DROP INDEX notes_body;
`,
		"0003_fn.sql": `-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION note_count() RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT count(*) FROM notes);
END
$$;
-- +goose StatementEnd
-- +goose Down
DROP FUNCTION note_count();
`,
	})
	c := clientWith(t, db, files, nil)
	res, err := c.Migrate(ctx, &tenancy.MigrateOpts{Concurrency: 2})
	if err != nil || res.Applied != 4 {
		t.Fatalf("Migrate: %v, applied %d", err, res.Applied)
	}
	// A tenant created now is born at the same version (the index is built in its plain form
	// inside the creating transaction).
	if _, err := c.TenantCreate(ctx, "late", nil); err != nil {
		t.Fatal(err)
	}
	var indexes, functions, ledger int
	err = db.OwnerPool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM pg_indexes WHERE indexname = 'notes_body'),
		       (SELECT count(*) FROM pg_proc WHERE proname = 'note_count'),
		       (SELECT count(*) FROM tenancy.migrations WHERE version IN (2, 3))`).Scan(&indexes, &functions, &ledger)
	if err != nil || indexes != 5 || functions != 5 || ledger != 10 {
		t.Errorf("indexes %d, functions %d, ledger rows %d; want 5, 5, 10 (shape and four tenants): %v", indexes, functions, ledger, err)
	}
	late, _ := c.TenantGet(ctx, "late")
	var n int64
	if err := c.QueryRow(tenancy.WithTenant(ctx, late), `SELECT note_count()`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the goose function, called as the application role: %d, %v", n, err)
	}
}

// A fleet migration's connections are bounded as the application's are (Config.ConnMaxTenants):
// a backend keeps the relations of every schema it migrated in its caches, so the runner closes
// a connection after that many placements. On a limit of 2, migrating 6 placements one at a time
// opens new connections along the way; without a limit it keeps one.
func TestMigrateRecyclesOwnerConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v2 := withFiles(migV1, map[string]string{"0002_tags.up.sql": v2Tags})
	for _, tc := range []struct {
		limit   int
		atLeast int64 // new connections the run opens
		atMost  int64
	}{{2, 2, 6}, {-1, 0, 1}} {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			t.Parallel()
			db := fleet(t, 5)
			owner, err := pgxpool.New(ctx, db.AdminURL)
			if err != nil {
				t.Fatal(err)
			}
			defer owner.Close()
			c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: owner, TenantMigrations: v2, ConnMaxTenants: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			if err := owner.Ping(ctx); err != nil { // one connection open before the run
				t.Fatal(err)
			}
			before := owner.Stat().NewConnsCount()
			res, err := c.Migrate(ctx, &tenancy.MigrateOpts{Concurrency: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Failed) > 0 {
				t.Fatalf("failed: %v", res.Failed)
			}
			opened := owner.Stat().NewConnsCount() - before
			if opened < tc.atLeast || opened > tc.atMost {
				t.Errorf("ConnMaxTenants %d: the run opened %d connections, want %d to %d", tc.limit, opened, tc.atLeast, tc.atMost)
			}
			if n := checkConsistent(t, db); n != 6 {
				t.Errorf("%d placements at version 2, want 6", n)
			}
		})
	}
}
