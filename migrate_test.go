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
		admin = db.AdminPool
	}
	c, err := tenancy.New(&tenancy.Config{Pool: db.AppPool, AdminPool: admin, TenantMigrations: tenant})
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
	rows, err := db.AdminPool.Query(context.Background(), `
		SELECT p.schema, p.version,
		       EXISTS (SELECT 1 FROM tenancy.migrations m WHERE m.placement_id = p.id AND m.version = 2),
		       (SELECT max(version) FROM tenancy.migrations m WHERE m.placement_id = p.id),
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
	if _, err := db.AdminPool.Exec(ctx, `CREATE TABLE tenant_18.tags (x int)`); err != nil {
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
	if _, err := db.AdminPool.Exec(ctx, `DROP TABLE tenant_18.tags`); err != nil {
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
	c, err := tenancy.New(&tenancy.Config{Pool: app, AdminPool: admin, TenantMigrations: killedFiles})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Migrate(ctx, &tenancy.MigrateOpts{Concurrency: 3, OnEvent: func(e tenancy.MigrateEvent) {
		if e.Kind == tenancy.MigrateEventDone {
			fmt.Printf("done %s\n", e.Tenant)
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
	deadline := time.Now().Add(10 * time.Second)
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
