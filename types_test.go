package tenancy_test

import (
	"context"
	"errors"
	"io/fs"
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
