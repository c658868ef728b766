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

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// A tenant table of the rls convention, made by a type's or a tenant's own line.
func tenantTable(name, cols string) string {
	return `CREATE TABLE ` + name + ` (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigint GENERATED ALWAYS AS IDENTITY,
    ` + cols + `,
    PRIMARY KEY (tenant_id, id));
ALTER TABLE ` + name + ` ENABLE ROW LEVEL SECURITY;
ALTER TABLE ` + name + ` FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ` + name + `
    USING (tenant_id = tenancy.current_tenant_id()) WITH CHECK (tenant_id = tenancy.current_tenant_id());`
}

// typeLines are the test application's types: school, with a courses table, and plain (no
// migrations of its own).
func typeLines() map[string]fstest.MapFS {
	return map[string]fstest.MapFS{
		"school": {"0001_courses.up.sql": {Data: []byte(tenantTable("courses", "title text NOT NULL"))}},
		"plain":  {},
	}
}

// customLines gives the tenant "bespoke" a table and a column of its own.
func customLines() fstest.MapFS {
	return fstest.MapFS{
		"bespoke/0001_invoices.up.sql":   {Data: []byte(tenantTable("invoices", "amount numeric NOT NULL"))},
		"bespoke/0002_note_color.up.sql": {Data: []byte(`ALTER TABLE notes ADD COLUMN color text NOT NULL DEFAULT 'blue';`)},
	}
}

// newTypedDB returns a test database whose client knows typeLines and customLines (and, if
// adjust is set, what it changes), with the shape schema brought to the type lines.
func newTypedDB(t testing.TB, adjust func(*tenancy.Config)) *tenancytest.DB {
	t.Helper()
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: sharedMigrations,
		TenantMigrations: tenantMigrations,
		ClientConfig: func(cfg *tenancy.Config) {
			cfg.TypeMigrations = map[string]fs.FS{}
			for typ, f := range typeLines() {
				cfg.TypeMigrations[typ] = f
			}
			cfg.CustomMigrations = customLines()
			if adjust != nil {
				adjust(cfg)
			}
		},
	})
	if err := db.Client.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// count runs SELECT count(*) FROM table bound to tn, in a transaction (statements in a bound
// transaction are prepared against the tenant's own schema).
func countIn(ctx context.Context, c *tenancy.Client, tn *tenancy.Tenant, table string) (int, error) {
	var n int
	err := c.TxFor(ctx, tn, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n)
	})
	return n, err
}

func TestTenantTypeEveryTier(t *testing.T) {
	t.Parallel()
	for _, tier := range tenancytest.Tiers {
		t.Run(string(tier), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := newTypedDB(t, nil)
			c := db.Client
			school, err := c.TenantCreate(ctx, "lycee", &tenancy.TenantCreateOpts{Tier: tier, Type: "school"})
			if err != nil {
				t.Fatal(err)
			}
			plain := mustCreateTier(t, c, "corp", tier)
			if school.Type != "school" || plain.Type != tenancy.DefaultType {
				t.Fatalf("types %q and %q, want school and %q", school.Type, plain.Type, tenancy.DefaultType)
			}
			if school.TypeVersion != 1 {
				t.Errorf("school's type version %d, want 1", school.TypeVersion)
			}
			got, err := c.TenantGet(ctx, "lycee")
			if err != nil || got.Type != "school" {
				t.Fatalf("TenantGet: %v, type %q", err, got.Type)
			}
			// The school has its type's table, bound and as the application role; the other
			// tenant has not.
			ctxS := tenancy.WithTenant(ctx, school)
			if _, err := c.Exec(ctxS, `INSERT INTO courses (title) VALUES ('algebra')`); err != nil {
				t.Fatalf("insert into the type's table: %v", err)
			}
			if n, err := countIn(ctx, c, school, "courses"); err != nil || n != 1 {
				t.Fatalf("school's courses: %d, %v", n, err)
			}
			n, err := countIn(ctx, c, plain, "courses")
			if tier == tenancy.TierPool {
				// Pools hold one type: the default type's pool has no courses table.
				if plain.Placement.ID == school.Placement.ID {
					t.Fatal("tenants of two types share a pool")
				}
			}
			if err == nil {
				t.Fatalf("a default-type tenant reads a courses table (%d rows)", n)
			}
		})
	}
}

func TestTenantTypeUnknownRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newTypedDB(t, nil)
	for _, typ := range []string{"college", "School", "pg;drop", strings.Repeat("a", 41)} {
		_, err := db.Client.TenantCreate(ctx, "newco", &tenancy.TenantCreateOpts{Type: typ})
		if !errors.Is(err, tenancy.ErrUnknownType) {
			t.Errorf("type %q: %v, want ErrUnknownType", typ, err)
		}
	}
	if _, err := db.Client.TenantGet(ctx, "newco"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Fatalf("a refused create left a tenant: %v", err)
	}
	if _, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, TypeMigrations: map[string]fs.FS{"Bad-Type": nil}}); !errors.Is(err, tenancy.ErrUnknownType) {
		t.Fatalf("a malformed type in Config: %v", err)
	}
}

// withFile returns a copy of fsys with one more file.
func withFile(fsys fstest.MapFS, name, data string) fstest.MapFS {
	out := fstest.MapFS{}
	for k, v := range fsys {
		out[k] = v
	}
	out[name] = &fstest.MapFile{Data: []byte(data)}
	return out
}

func TestCustomTenantEveryDedicatedTier(t *testing.T) {
	t.Parallel()
	for _, tier := range []tenancy.Tier{tenancy.TierSchema, tenancy.TierDatabase} {
		t.Run(string(tier), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := newTypedDB(t, nil)
			c := db.Client
			tn, err := c.TenantCreate(ctx, "bespoke", &tenancy.TenantCreateOpts{Tier: tier, Type: "school"})
			if err != nil {
				t.Fatal(err)
			}
			if !tn.Customized() || tn.Custom != 2 || tn.TypeVersion != 1 {
				t.Fatalf("custom version %d, type version %d; want 2 and 1", tn.Custom, tn.TypeVersion)
			}
			err = c.TxFor(ctx, tn, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO invoices (amount) VALUES (12.5)`); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO notes (body, color) VALUES ('hi', 'red')`); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO courses (title) VALUES ('art')`)
				return err
			})
			if err != nil {
				t.Fatalf("the customized tenant's own tables: %v", err)
			}
			other := mustCreateTier(t, c, "corp", tier)
			if other.Customized() {
				t.Fatal("a tenant without custom migrations is customized")
			}
			if _, err := countIn(ctx, c, other, "invoices"); err == nil {
				t.Fatal("another tenant has the customized tenant's table")
			}
		})
	}
}

func TestCustomTenantRefusedInPool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newTypedDB(t, nil)
	_, err := db.Client.TenantCreate(ctx, "bespoke", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if !errors.Is(err, tenancy.ErrCustomized) || !strings.Contains(err.Error(), "bespoke/0001_invoices.up.sql") {
		t.Fatalf("create a customized tenant in a pool: %v", err)
	}
	tn, err := db.Client.TenantCreate(ctx, "bespoke", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Client.Move(ctx, tn.Slug, &tenancy.MoveOpts{Tier: tenancy.TierPool})
	if !errors.Is(err, tenancy.ErrCustomized) || !strings.Contains(err.Error(), "bespoke/0002_note_color.up.sql") {
		t.Fatalf("move a customized tenant into a pool: %v", err)
	}
	after, err := db.Client.TenantGet(ctx, "bespoke")
	if err != nil || after.Tier != tenancy.TierSchema || after.Status != tenancy.StatusActive || after.Placement != tn.Placement {
		t.Fatalf("the refused move changed the tenant: %+v, %v", after, err)
	}
}

// TestFleetMigrateTypedAndCustom runs a fleet migration over tenants of two types and a
// customized one, in every tier where each applies: every line gets its new migration on its
// own tenants only, and a second run finds nothing to apply in one query.
func TestFleetMigrateTypedAndCustom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newTypedDB(t, nil)
	c := db.Client
	var tenants []*tenancy.Tenant
	for _, tier := range tenancytest.Tiers {
		tenants = append(tenants,
			mustCreateTier(t, c, "corp-"+string(tier), tier),
			must(t)(c.TenantCreate(ctx, "school-"+string(tier), &tenancy.TenantCreateOpts{Tier: tier, Type: "school"})))
		if tier != tenancy.TierPool {
			tenants = append(tenants, must(t)(c.TenantCreate(ctx, "bespoke-"+string(tier), &tenancy.TenantCreateOpts{Tier: tier, Type: "school"})))
		}
	}
	_ = tenants

	// Release two: one more migration on each line.
	types := typeLines()
	types["school"] = withFile(types["school"], "0002_course_code.up.sql", `ALTER TABLE courses ADD COLUMN code text;`)
	custom := fstest.MapFS{}
	for _, tier := range []string{"schema", "database"} {
		for k, v := range customLines() {
			custom["bespoke-"+tier+strings.TrimPrefix(k, "bespoke")] = v
		}
		custom["bespoke-"+tier+"/0003_invoice_due.up.sql"] = &fstest.MapFile{Data: []byte(`ALTER TABLE invoices ADD COLUMN due date;`)}
	}
	c2, err := tenancy.New(&tenancy.Config{
		AppPool: db.AppPool, OwnerPool: db.OwnerPool,
		SharedMigrations: sharedMigrations,
		TenantMigrations: withFile(dirMap(t, "testdata/migrations/tenant"), "0002_note_pinned.up.sql", `ALTER TABLE notes ADD COLUMN pinned boolean NOT NULL DEFAULT false;`),
		TypeMigrations:   map[string]fs.FS{"school": types["school"], "plain": types["plain"]},
		CustomMigrations: custom,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c2.Migrate(ctx, nil)
	if err != nil {
		t.Fatalf("migrate: %v (%+v)", err, res)
	}
	for _, tier := range tenancytest.Tiers {
		corp := must(t)(c2.TenantGet(ctx, "corp-"+string(tier)))
		school := must(t)(c2.TenantGet(ctx, "school-"+string(tier)))
		if corp.Version != 2 || school.Version != 2 || school.TypeVersion != 2 || corp.TypeVersion != 0 {
			t.Errorf("%s: corp at %d/%d, school at %d/%d; want 2/0 and 2/2", tier, corp.Version, corp.TypeVersion, school.Version, school.TypeVersion)
		}
		hasColumn(t, c2, school, "courses", "code", true)
		hasColumn(t, c2, corp, "notes", "pinned", true)
		if tier == tenancy.TierPool {
			continue
		}
		bespoke := must(t)(c2.TenantGet(ctx, "bespoke-"+string(tier)))
		if bespoke.Custom != 3 || bespoke.TypeVersion != 2 || bespoke.Version != 2 {
			t.Errorf("%s: bespoke at %d/%d/%d, want 2/2/3", tier, bespoke.Version, bespoke.TypeVersion, bespoke.Custom)
		}
		hasColumn(t, c2, bespoke, "invoices", "due", true)
		hasColumn(t, c2, school, "invoices", "due", false)
	}
	again, err := c2.Migrate(ctx, nil)
	if err != nil || again.Total != 0 || again.Queries != 1 {
		t.Fatalf("second run: %+v, %v; want nothing to apply in one query", again, err)
	}
	// A custom line's applied file that changed is refused before anything runs.
	custom["bespoke-schema/0003_invoice_due.up.sql"] = &fstest.MapFile{Data: []byte(`ALTER TABLE invoices ADD COLUMN due timestamptz;`)}
	c3, err := tenancy.New(&tenancy.Config{
		AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedMigrations: sharedMigrations,
		TenantMigrations: withFile(dirMap(t, "testdata/migrations/tenant"), "0002_note_pinned.up.sql", `ALTER TABLE notes ADD COLUMN pinned boolean NOT NULL DEFAULT false;`),
		TypeMigrations:   map[string]fs.FS{"school": types["school"], "plain": types["plain"]},
		CustomMigrations: custom,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c3.Migrate(ctx, nil); err == nil || !strings.Contains(err.Error(), "0003_invoice_due") {
		t.Fatalf("a changed custom migration: %v", err)
	}
}

func must(t testing.TB) func(*tenancy.Tenant, error) *tenancy.Tenant {
	return func(v *tenancy.Tenant, err error) *tenancy.Tenant {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// dirMap reads a directory of migrations into a MapFS.
func dirMap(t testing.TB, dir string) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = &fstest.MapFile{Data: b}
	}
	return out
}

// hasColumn checks, bound to tn, whether table has column.
func hasColumn(t testing.TB, c *tenancy.Client, tn *tenancy.Tenant, table, column string, want bool) {
	t.Helper()
	err := c.TxFor(context.Background(), tn, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT `+pgx.Identifier{column}.Sanitize()+` FROM `+pgx.Identifier{table}.Sanitize()+` LIMIT 0`)
		return err
	})
	if (err == nil) != want {
		t.Errorf("%s: %s.%s present %v, want %v (%v)", tn.Slug, table, column, err == nil, want, err)
	}
}
