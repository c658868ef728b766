package tenancy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// warmClient returns a client of db that keeps n warm placements, with the given tenant
// migrations (the test application's if nil), filled before it returns.
func warmClient(t *testing.T, db *tenancytest.DB, n int, tenant fs.FS) *tenancy.Client {
	t.Helper()
	if tenant == nil {
		tenant = tenantMigrations
	}
	c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedMigrations: sharedMigrations,
		TenantMigrations: tenant, WarmPlacements: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if res, err := c.WarmFill(context.Background()); err != nil || res.Ready != n {
		t.Fatalf("WarmFill: %+v, %v", res, err)
	}
	return c
}

// warmIDs returns the placement ids waiting in tenancy.warm.
func warmIDs(t *testing.T, db *tenancytest.DB) map[int64]bool {
	t.Helper()
	rows, err := db.OwnerPool.Query(context.Background(), `SELECT placement_id FROM tenancy.warm`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out
}

// mustAgree fails unless Check finds nothing wrong and DropOrphans finds nothing to drop.
func mustAgree(t *testing.T, c *tenancy.Client) {
	t.Helper()
	ctx := context.Background()
	res, err := c.Check(ctx)
	if err != nil || !res.OK() {
		t.Fatalf("check: %+v, %v", res, err)
	}
	dropped, err := c.DropOrphans(ctx)
	if err != nil || len(dropped.Dropped)+len(dropped.Kept) > 0 {
		t.Fatalf("DropOrphans: %+v, %v", dropped, err)
	}
}

// A create from the warm pool gets a warm placement renamed after the tenant and marked as
// its own, at the latest version, active at once; the application role reads and writes there
// and sees no other tenant's rows; check and repair see warm placements as nothing wrong.
func TestWarmCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 4)
	c := warmClient(t, db, 2, nil)
	mustAgree(t, c) // two warm placements, no tenant: no orphans
	warm := warmIDs(t, db)
	// The application role cannot reach a warm schema, to leave rows there for a future tenant.
	var warmSchema string
	if err := db.OwnerPool.QueryRow(ctx, `SELECT schema FROM tenancy.placements WHERE id = $1`, firstKey(warm)).Scan(&warmSchema); err != nil {
		t.Fatal(err)
	}
	err := pgx.BeginFunc(ctx, db.AppPool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('tenancy.tenant_id', '1', true)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{warmSchema, "notes"}.Sanitize()+` (body) VALUES ('planted')`)
		return err
	})
	if pgErr := (*pgconn.PgError)(nil); !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, "schema") {
		t.Fatalf("the application role writing into warm schema %s: %v, want permission denied", warmSchema, err)
	}
	cold := mustCreate(t, db.Client, "cold")
	tn := mustCreate(t, c, "acme")
	if !warm[tn.Placement.ID] {
		t.Fatalf("acme's placement %d is not one of the warm ones %v", tn.Placement.ID, warm)
	}
	if want := fmt.Sprintf("tenant_%d", tn.ID); tn.Placement.Schema != want || tn.Version != c.LatestVersion() || tn.Tier != tenancy.TierSchema {
		t.Fatalf("acme: schema %s version %d tier %s, want %s at %d", tn.Placement.Schema, tn.Version, tn.Tier, want, c.LatestVersion())
	}
	st := readPlacement(t, db, "acme", tn.Placement.Schema)
	if !st.schemaFound || !strings.HasPrefix(st.comment, fmt.Sprintf("tenancy:tenant:%d ", tn.ID)) || st.ledgerRows == 0 {
		t.Fatalf("acme's placement: %+v", st)
	}
	addNotes(t, c, tn, "acme's note")
	addNotes(t, db.Client, cold, "cold's note")
	if got := bodies(t, c, tn); len(got) != 1 || got[0] != "acme's note" {
		t.Fatalf("acme sees %q", got)
	}
	if got := bodies(t, db.Client, cold); len(got) != 1 || got[0] != "cold's note" {
		t.Fatalf("cold sees %q", got)
	}
	if _, err := c.WarmFill(ctx); err != nil {
		t.Fatal(err)
	}
	if ws, err := c.WarmStatus(ctx); err != nil || ws.Ready != 2 || ws.Stale != 0 || ws.Target != 2 {
		t.Fatalf("WarmStatus: %+v, %v", ws, err)
	}
	mustAgree(t, c)
	// A hard delete drops the schema that was warm, as any other.
	if err := c.TenantDelete(ctx, "acme", &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
		t.Fatal(err)
	}
	if st := readPlacement(t, db, "acme", tn.Placement.Schema); st.schemaFound || st.placements != 0 {
		t.Fatalf("after delete: %+v", st)
	}
}

// The background refill puts back what creates took.
func TestWarmRefillsInBackground(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 4)
	c := warmClient(t, db, 1, nil)
	for i := range 3 {
		mustCreate(t, c, fmt.Sprintf("t%d", i))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ws, err := c.WarmStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ws.Ready == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("warm placements not refilled: %+v", ws)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(warmIDs(t, db)); n != 1 {
		t.Fatalf("%d warm placements, want 1", n)
	}
}

// A create that crashes after claiming a warm placement claims nothing: the tenant does not
// exist, the placement is still warm under its warm name, and the next create gets it.
func TestWarmClaimCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 4)
	c := warmClient(t, db, 1, nil)
	warm := warmIDs(t, db)
	tenancy.SetTestHook(c, func(ctx context.Context, step string, tx pgx.Tx) error {
		if step == crash.WarmClaimed {
			_, _ = tx.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
			return errCrash
		}
		return nil
	})
	if _, err := c.TenantCreate(ctx, "acme", nil); err == nil {
		t.Fatal("create crashed, yet succeeded")
	}
	tenancy.SetTestHook(c, nil)
	if _, err := c.TenantGet(ctx, "acme"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Fatalf("after the crash: %v, want ErrTenantNotFound", err)
	}
	if got := warmIDs(t, db); len(got) != 1 || !got[firstKey(warm)] {
		t.Fatalf("warm placements %v, want %v", got, warm)
	}
	mustAgree(t, c)
	tn := mustCreate(t, c, "acme")
	if !warm[tn.Placement.ID] {
		t.Fatalf("the rerun got placement %d, not the warm one %v", tn.Placement.ID, warm)
	}
}

// A refill that crashes leaves nothing: no placement row, no schema.
func TestWarmFillCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 4)
	c := warmClient(t, db, 0, nil)
	c2, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedMigrations: sharedMigrations,
		TenantMigrations: tenantMigrations, WarmPlacements: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c2.Close)
	tenancy.SetTestHook(c2, func(ctx context.Context, step string, tx pgx.Tx) error {
		if step == crash.WarmMade {
			_, _ = tx.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
			return errCrash
		}
		return nil
	})
	if _, err := c2.WarmFill(ctx); err == nil {
		t.Fatal("fill crashed, yet succeeded")
	}
	var placements, schemas int
	if err := db.OwnerPool.QueryRow(ctx, `SELECT (SELECT count(*) FROM tenancy.placements WHERE kind = 'schema'),
		(SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant_warm_%')`).Scan(&placements, &schemas); err != nil {
		t.Fatal(err)
	}
	if placements != 0 || schemas != 0 || len(warmIDs(t, db)) != 0 {
		t.Fatalf("after the crash: %d placements, %d warm schemas", placements, schemas)
	}
	mustAgree(t, c)
	tenancy.SetTestHook(c2, nil)
	if res, err := c2.WarmFill(ctx); err != nil || res.Made != 1 {
		t.Fatalf("fill again: %+v, %v", res, err)
	}
}

// Creates racing for one warm placement: it goes to exactly one of them, the others make their
// own; every tenant ends up active in a placement of its own.
func TestWarmCreateRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 4)
	c := warmClient(t, db, 1, nil)
	warm := warmIDs(t, db)
	const n = 6
	var wg sync.WaitGroup
	tenants := make([]*tenancy.Tenant, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { tenants[i], errs[i] = c.TenantCreate(ctx, fmt.Sprintf("racer-%d", i), nil) })
	}
	wg.Wait()
	seen := map[int64]bool{}
	fromWarm := 0
	for i, tn := range tenants {
		if errs[i] != nil {
			t.Fatalf("racer-%d: %v", i, errs[i])
		}
		if tn.Status != tenancy.StatusActive || seen[tn.Placement.ID] {
			t.Fatalf("racer-%d: %s in placement %d (seen: %v)", i, tn.Status, tn.Placement.ID, seen[tn.Placement.ID])
		}
		seen[tn.Placement.ID] = true
		if warm[tn.Placement.ID] {
			fromWarm++
		}
	}
	if fromWarm != 1 {
		t.Fatalf("%d tenants got the one warm placement", fromWarm)
	}
	for _, tn := range tenants {
		addNotes(t, c, tn, tn.Slug)
		if got := bodies(t, c, tn); len(got) != 1 || got[0] != tn.Slug {
			t.Fatalf("%s sees %q", tn.Slug, got)
		}
	}
	mustAgree(t, c)
}

// Warm placements made before a new tenant migration are never claimed: a create gets a
// placement at the new version, and the next fill drops the old warm ones and makes new ones.
func TestWarmAfterMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 4)
	warmClient(t, db, 2, nil)
	stale := warmIDs(t, db)
	v2 := fstest.MapFS{
		"0001_notes.up.sql": {Data: mustRead(t, "testdata/migrations/tenant/0001_notes.up.sql")},
		"0002_extra.up.sql": {Data: []byte("ALTER TABLE notes ADD COLUMN extra text;\n")},
	}
	c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedMigrations: sharedMigrations,
		TenantMigrations: v2, WarmPlacements: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if _, err := c.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ws, err := c.WarmStatus(ctx); err != nil || ws.Ready != 0 || ws.Stale != 2 {
		t.Fatalf("WarmStatus after the migration: %+v, %v", ws, err)
	}
	tn := mustCreate(t, c, "acme")
	if stale[tn.Placement.ID] || tn.Version != 2 {
		t.Fatalf("acme got placement %d at version %d (stale warm: %v)", tn.Placement.ID, tn.Version, stale)
	}
	if _, err := c.Exec(tenancy.WithTenant(ctx, tn), `INSERT INTO notes (body, extra) VALUES ('a', 'b')`); err != nil {
		t.Fatal(err)
	}
	// The create kicked the background refill, which may be at it already: WarmFill waits for it.
	if res, err := c.WarmFill(ctx); err != nil || res.Ready != 2 {
		t.Fatalf("WarmFill: %+v, %v", res, err)
	}
	for id := range warmIDs(t, db) {
		if stale[id] {
			t.Fatalf("stale warm placement %d kept", id)
		}
	}
	var left int
	if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant_warm_%'`).Scan(&left); err != nil || left != 2 {
		t.Fatalf("%d warm schemas, want 2 (%v)", left, err)
	}
	for id := range stale {
		var n int
		if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM tenancy.placements WHERE id = $1`, id).Scan(&n); err != nil || n != 0 {
			t.Fatalf("stale placement %d: %d rows (%v)", id, n, err)
		}
	}
	tn2 := mustCreate(t, c, "beta")
	if tn2.Version != 2 {
		t.Fatalf("beta at version %d", tn2.Version)
	}
	if _, err := c.Exec(tenancy.WithTenant(ctx, tn2), `INSERT INTO notes (body, extra) VALUES ('a', 'b')`); err != nil {
		t.Fatal(err)
	}
	mustAgree(t, c)
}

// Bad sizes are refused with the field's name.
func TestWarmConfig(t *testing.T) {
	t.Parallel()
	db := newDB(t, 2)
	for _, n := range []int{-1, tenancy.WarmMax + 1} {
		_, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, WarmPlacements: n})
		if err == nil || !strings.Contains(err.Error(), "Config.WarmPlacements") {
			t.Errorf("WarmPlacements %d: %v", n, err)
		}
	}
}

func firstKey(m map[int64]bool) int64 {
	for k := range m {
		return k
	}
	return 0
}

// A restore claims a warm placement too, loads and checks the archive there as in a new one;
// a tampered archive is refused after the claim and leaves nothing behind (the claimed placement
// is dropped with the half-restored tenant).
func TestWarmRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := archiveDB(t, archiveTenant)
	c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedMigrations: archiveShared,
		TenantMigrations: archiveTenant, WarmPlacements: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	src := mustCreate(t, c, "source")
	fillItems(t, c, src, 30)
	data := backup(t, c, "source")
	if _, err := c.WarmFill(ctx); err != nil {
		t.Fatal(err)
	}
	warm := warmIDs(t, db)
	restored, err := c.Restore(ctx, bytes.NewReader(data), &tenancy.RestoreOpts{Slug: "copy", Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	if !warm[restored.Placement.ID] || restored.Status != tenancy.StatusActive || restored.Placement.Schema != fmt.Sprintf("tenant_%d", restored.ID) {
		t.Fatalf("restored %+v, warm %v", restored, warm)
	}
	digest := func(tn *tenancy.Tenant) string {
		var s string
		if err := c.QueryRow(tenancy.WithTenant(ctx, tn), `SELECT count(*) || ' ' || md5(string_agg((to_jsonb(i) - 'tenant_id')::text, ',' ORDER BY i.id)) FROM items i`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if a, b := digest(src), digest(restored); a != b || strings.HasPrefix(a, "0 ") {
		t.Fatalf("source %s, copy %s", a, b)
	}
	mustAgree(t, c)

	if res, err := c.WarmFill(ctx); err != nil || res.Ready != 1 {
		t.Fatalf("WarmFill: %+v, %v", res, err)
	}
	claimed := firstKey(warmIDs(t, db))
	tampered := rewrite(t, data, func(name string, body []byte) []byte {
		if strings.HasPrefix(name, "tables/") && len(body) > 0 {
			body = append([]byte{}, body...)
			body[len(body)/2] ^= 1
		}
		return body
	}, false)
	if _, err := c.Restore(ctx, bytes.NewReader(tampered), &tenancy.RestoreOpts{Slug: "bad", Tier: tenancy.TierSchema}); !errors.Is(err, tenancy.ErrBadArchive) {
		t.Fatalf("tampered archive: %v, want ErrBadArchive", err)
	}
	if _, err := c.TenantGet(ctx, "bad"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Fatalf("after the refused restore: %v", err)
	}
	var left int
	if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM tenancy.placements WHERE id = $1`, claimed).Scan(&left); err != nil || left != 0 {
		t.Fatalf("the warm placement the refused restore claimed: %d rows (%v)", left, err)
	}
	mustAgree(t, c)
}

// Warm placements carry the common tenant line only: a tenant whose type has a line of its own,
// or one with custom migrations, gets a placement made for it, with its lines, and the warm
// placements stay for the next default-type tenant.
func TestWarmNotForTypedOrCustom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newTypedDB(t, func(cfg *tenancy.Config) { cfg.WarmPlacements = 2 })
	c := db.Client
	if res, err := c.WarmFill(ctx); err != nil || res.Ready != 2 {
		t.Fatalf("WarmFill: %+v, %v", res, err)
	}
	before := warmIDs(t, db)
	school, err := c.TenantCreate(ctx, "lycee", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema, Type: "school"})
	if err != nil {
		t.Fatal(err)
	}
	if before[school.Placement.ID] || school.TypeVersion != 1 {
		t.Fatalf("the school got warm placement %d (type line at %d)", school.Placement.ID, school.TypeVersion)
	}
	if n, err := countIn(ctx, c, school, "courses"); err != nil || n != 0 {
		t.Fatalf("school's courses: %d, %v", n, err)
	}
	custom, err := c.TenantCreate(ctx, "bespoke", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	if before[custom.Placement.ID] || custom.Custom == 0 {
		t.Fatalf("the customized tenant got warm placement %d (custom line at %d)", custom.Placement.ID, custom.Custom)
	}
	plain, err := c.TenantCreate(ctx, "corp", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	if !before[plain.Placement.ID] {
		t.Fatalf("a default-type tenant did not get a warm placement (%d, warm %v)", plain.Placement.ID, before)
	}
}
