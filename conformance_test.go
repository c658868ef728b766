package tenancy_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// placementCase is one place a tenant can live: a tier, on the catalog's server or another.
type placementCase struct {
	name   string
	tier   tenancy.Tier
	second bool // on a second PostgreSQL cluster
	owner  tenancytest.Owner
}

var placementCases = []placementCase{
	{"pool", tenancy.TierPool, false, tenancytest.OwnerPlain},
	{"schema", tenancy.TierSchema, false, tenancytest.OwnerPlain},
	{"database", tenancy.TierDatabase, false, tenancytest.OwnerPlain},
	{"schema-second-server", tenancy.TierSchema, true, tenancytest.OwnerPlain},
	{"database-second-server", tenancy.TierDatabase, true, tenancytest.OwnerPlain},
	// The owner role bypasses RLS: the pool's administrative paths must name the tenant.
	{"pool-owner-bypassrls", tenancy.TierPool, false, tenancytest.OwnerBypassRLS},
	{"pool-owner-superuser", tenancy.TierPool, false, tenancytest.OwnerSuperuser},
}

// conformanceOptions is the test database of pc.
func conformanceOptions(pc placementCase) *tenancytest.Options {
	return &tenancytest.Options{
		SharedMigrations: os.DirFS("testdata/migrations/shared"),
		TenantMigrations: os.DirFS("testdata/migrations/tenant"),
		AppMaxConns:      2,
		Owner:            pc.owner,
	}
}

// conformanceDB gives a test a catalog where tenants of pc are created by create.
func conformanceDB(t *testing.T, pc placementCase) (*tenancytest.DB, func(slug string) *tenancy.Tenant) {
	t.Helper()
	db := tenancytest.New(t, conformanceOptions(pc))
	return db, conformanceCreate(t, db, pc)
}

// conformanceCreate returns what creates tenants of pc in db.
func conformanceCreate(t *testing.T, db *tenancytest.DB, pc placementCase) func(slug string) *tenancy.Tenant {
	t.Helper()
	ctx := context.Background()
	server := tenancy.ServerDefault
	if pc.second {
		owner, app := db.SecondServer(t)
		if _, err := db.Client.ServerAdd(ctx, "second", owner, app); err != nil {
			t.Fatal(err)
		}
		server = "second"
	}
	create := func(slug string) *tenancy.Tenant {
		t.Helper()
		tn, err := db.Client.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: pc.tier, Server: server})
		if err != nil {
			t.Fatalf("create %s: %v", slug, err)
		}
		return tn
	}
	return create
}

// TestConformance runs the whole public API against every tier and against placements on a
// second server, as the application role. A tier that fails any of it is not done.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, pc := range placementCases {
		t.Run(pc.name, func(t *testing.T) {
			t.Parallel()
			db, create := conformanceDB(t, pc)
			conformance(t, pc, db, create)
		})
	}
}

// TestConformanceCitus runs the same suite on a Citus coordinator with two workers (docs/citus.md),
// in the tiers that Citus serves: the database tier is refused there (TestCitus). A database each:
// the suite migrates and deletes tenants, which would meet the other tier's.
func TestConformanceCitus(t *testing.T) {
	t.Parallel()
	for _, pc := range placementCases[:2] {
		t.Run(pc.name, func(t *testing.T) {
			t.Parallel()
			db := tenancytest.NewCitus(t, conformanceOptions(pc), nil)
			conformance(t, pc, db, conformanceCreate(t, db, pc))
		})
	}
}

// conformance is the suite: tenants of pc in db, made by create.
func conformance(t *testing.T, pc placementCase, db *tenancytest.DB, create func(slug string) *tenancy.Tenant) {
	ctx := context.Background()
	c := db.Client
	a, b := create("alpha"), create("beta")

	t.Run("created", func(t *testing.T) {
		for _, tn := range []*tenancy.Tenant{a, b} {
			if tn.Tier != pc.tier || tn.Status != tenancy.StatusActive || tn.Version != c.LatestVersion() {
				t.Fatalf("%s: tier %s status %s version %d, want %s active %d", tn.Slug, tn.Tier, tn.Status, tn.Version, pc.tier, c.LatestVersion())
			}
			if pc.second != (tn.Placement.Server == "second") {
				t.Fatalf("%s placed on server %q", tn.Slug, tn.Placement.Server)
			}
		}
		if _, err := c.TenantCreate(ctx, "alpha", &tenancy.TenantCreateOpts{Tier: pc.tier}); !errors.Is(err, tenancy.ErrTenantExists) {
			t.Fatalf("duplicate create: %v", err)
		}
	})

	ctxA, ctxB := tenancy.WithTenant(ctx, a), tenancy.WithTenant(ctx, b)
	insert := func(ctx context.Context, n int) {
		t.Helper()
		err := c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			for i := 0; i < n; i++ {
				if _, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ($1)`, "note"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	count := func(ctx context.Context) int {
		t.Helper()
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	insert(ctxA, 3)
	insert(ctxB, 2)
	if _, err := c.Exec(ctxB, `INSERT INTO notes (body) VALUES ('one-shot')`); err != nil {
		t.Fatal(err)
	}

	t.Run("isolation", func(t *testing.T) {
		if got := count(ctxA); got != 3 {
			t.Fatalf("alpha sees %d notes, want 3", got)
		}
		if got := count(ctxB); got != 3 {
			t.Fatalf("beta sees %d notes, want 3", got)
		}
		// Hand-written SQL that omits tenant_id still touches only the bound tenant.
		tag, err := c.Exec(ctxA, `UPDATE notes SET body = 'changed'`)
		if err != nil || tag.RowsAffected() != 3 {
			t.Fatalf("update all as alpha: %v rows, %v", tag.RowsAffected(), err)
		}
		rows, err := c.Query(ctxB, `SELECT tenant_id, body FROM notes`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var body string
			if err := rows.Scan(&id, &body); err != nil {
				t.Fatal(err)
			}
			if id != b.ID || body == "changed" {
				t.Fatalf("beta read tenant %d's row %q", id, body)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		// Writing a row for another tenant is refused by the policy.
		_, err = c.Exec(ctxB, `INSERT INTO notes (tenant_id, body) VALUES ($1, 'forged')`, a.ID)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Fatalf("insert for another tenant: %v, want an RLS violation (42501)", err)
		}
		if got := count(ctxA); got != 3 {
			t.Fatalf("alpha has %d notes after beta's forged insert, want 3", got)
		}
	})

	t.Run("no tenant", func(t *testing.T) {
		if _, err := c.Exec(ctx, `DELETE FROM notes`); !errors.Is(err, tenancy.ErrNoTenant) {
			t.Fatalf("unbound Exec: %v", err)
		}
		err := c.Tx(ctx, func(context.Context, pgx.Tx) error { t.Fatal("ran without a tenant"); return nil })
		if !errors.Is(err, tenancy.ErrNoTenant) {
			t.Fatalf("unbound Tx: %v", err)
		}
		if count(ctxA) != 3 || count(ctxB) != 3 {
			t.Fatal("an unbound call changed rows")
		}
	})

	t.Run("suspend and resume", func(t *testing.T) {
		s, err := c.TenantSuspend(ctx, "alpha")
		if err != nil || s.Status != tenancy.StatusSuspended {
			t.Fatalf("suspend: %v %v", s, err)
		}
		if _, err := c.TenantSuspend(ctx, "alpha"); err != nil {
			t.Fatalf("suspending twice: %v", err)
		}
		r, err := c.TenantResume(ctx, "alpha")
		if err != nil || r.Status != tenancy.StatusActive {
			t.Fatalf("resume: %v %v", r, err)
		}
		got, err := c.TenantGet(ctx, "alpha")
		if err != nil || got.Placement != a.Placement {
			t.Fatalf("placement changed: %+v %v", got, err)
		}
	})

	t.Run("migrate", func(t *testing.T) {
		// A second build of the application with one more tenant migration.
		files := fstest.MapFS{}
		_ = fs.WalkDir(tenantMigrations, ".", func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := fs.ReadFile(tenantMigrations, path)
				files[path] = &fstest.MapFile{Data: data}
			}
			return err
		})
		files["0099_note_color.up.sql"] = &fstest.MapFile{Data: []byte(`ALTER TABLE notes ADD COLUMN color text NOT NULL DEFAULT 'yellow';`)}
		c2, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool,
			SharedMigrations: sharedMigrations, TenantMigrations: files})
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		res, err := c2.Migrate(ctx, nil)
		if err != nil {
			t.Fatalf("migrate: %v", err)
		}
		if res.Applied < 1 {
			t.Fatalf("migrate applied %d placements", res.Applied)
		}
		for _, slug := range []string{"alpha", "beta"} {
			tn, err := c2.TenantGet(ctx, slug)
			if err != nil || tn.Version != 99 {
				t.Fatalf("%s after migrate: version %d, %v", slug, tn.Version, err)
			}
			var color string
			if err := c2.QueryRow(tenancy.WithTenant(ctx, tn), `SELECT color FROM notes LIMIT 1`).Scan(&color); err != nil || color != "yellow" {
				t.Fatalf("%s: new column: %q, %v", slug, color, err)
			}
		}
		if res, err := c2.Migrate(ctx, nil); err != nil || res.Queries != 1 || res.Total != 0 {
			t.Fatalf("second migrate: %+v, %v (want nothing to apply, one query)", res, err)
		}
		server := tenancy.ServerDefault
		if pc.second {
			server = "second"
		}
		born, err := c2.TenantCreate(ctx, "gamma", &tenancy.TenantCreateOpts{Tier: pc.tier, Server: server})
		if err != nil || born.Version != 99 {
			t.Fatalf("a tenant created after the migration: %+v, %v", born, err)
		}
	})

	t.Run("hard delete", func(t *testing.T) {
		if err := c.TenantDelete(ctx, "beta", &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.TenantGet(ctx, "beta"); !errors.Is(err, tenancy.ErrTenantNotFound) {
			t.Fatalf("deleted tenant still found: %v", err)
		}
		if got := count(ctxA); got != 3 {
			t.Fatalf("alpha has %d notes after beta's deletion, want 3", got)
		}
		// beta's rows are gone from wherever they lived: bound again to its old
		// identity, nothing is there (or the placement itself is gone).
		var n int
		err := c.QueryRow(ctxB, `SELECT count(*) FROM notes`).Scan(&n)
		if err == nil && n != 0 {
			t.Fatalf("beta's %d rows survived its deletion", n)
		}
		if pc.tier == tenancy.TierPool {
			// The read above may be refused (on Citus the binding checks the catalog): count
			// as a superuser, which RLS does not hide rows from (on Citus, on the workers too).
			super, err := pgx.Connect(ctx, db.Server.URL("", db.Name))
			if err != nil {
				t.Fatal(err)
			}
			defer super.Close(ctx)
			if err := super.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{b.Placement.Schema, "notes"}.Sanitize()+` WHERE tenant_id = $1`, b.ID).Scan(&n); err != nil || n != 0 {
				t.Fatalf("beta's rows left in the pool after its deletion: %d, %v", n, err)
			}
		}
	})
}

// TestDatabaseTierRefusesSharedReferences: tenant migrations with a foreign key to a shared table
// cannot serve a database of their own; creating such a tenant fails and leaves nothing behind.
func TestDatabaseTierRefusesSharedReferences(t *testing.T) {
	t.Parallel()
	tenantFiles := fstest.MapFS{"0001_notes.up.sql": &fstest.MapFile{Data: []byte(`
		CREATE TABLE notes (
			tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
			id bigint GENERATED ALWAYS AS IDENTITY,
			author_id bigint REFERENCES users (id),
			PRIMARY KEY (tenant_id, id));
		ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
		ALTER TABLE notes FORCE ROW LEVEL SECURITY;
		CREATE POLICY tenant_isolation ON notes USING (tenant_id = tenancy.current_tenant_id());`)}}
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: tenantFiles})
	ctx := context.Background()
	if _, err := db.Client.TenantCreate(ctx, "inschema", nil); err != nil {
		t.Fatalf("schema tier: %v", err)
	}
	_, err := db.Client.TenantCreate(ctx, "owndb", &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase})
	if err == nil || !strings.Contains(err.Error(), "shared tables") {
		t.Fatalf("database tier with a foreign key to a shared table: %v", err)
	}
	if _, err := db.Client.TenantGet(ctx, "owndb"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Fatalf("the refused tenant was left in the catalog: %v", err)
	}
}
