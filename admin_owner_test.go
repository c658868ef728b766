package tenancy_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The administrative paths run as the owner role, which users often configure as postgres
// itself: a superuser or BYPASSRLS owner ignores even forced RLS. Every owner-side statement on
// a pool placement must therefore name the tenant; these tests run under all three owners.

func ownerArchiveDB(t testing.TB, o tenancytest.Owner) *tenancytest.DB {
	t.Helper()
	return tenancytest.New(t, &tenancytest.Options{Owner: o, SharedMigrations: archiveShared, TenantMigrations: archiveTenant, AppMaxConns: 2})
}

// superConn is a superuser connection to db's database (name it: a tenant database).
func superConn(t testing.TB, db *tenancytest.DB, database string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), db.Server.URL("", database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// poolRows counts, as a superuser, the rows of each tenant id in pool_default.
func poolRows(t testing.TB, db *tenancytest.DB) map[int64]int64 {
	t.Helper()
	rows, err := superConn(t, db, db.Name).Query(context.Background(), `
		SELECT tenant_id, count(*) FROM (SELECT tenant_id FROM pool_default.items UNION ALL SELECT tenant_id FROM pool_default.item_notes) r
		GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int64{}
	var id, n int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPoolAdminPathsOwnerBypassesRLS: with pool tenants side by side, backup, restore (into the
// pool and out of it), move (out of the pool and into it), hard delete, exec and check each touch
// exactly the named tenant's rows, whatever the owner role: plain, BYPASSRLS or superuser.
func TestPoolAdminPathsOwnerBypassesRLS(t *testing.T) {
	t.Parallel()
	for _, o := range tenancytest.Owners {
		t.Run(o.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := ownerArchiveDB(t, o)
			c := db.Client
			items := map[string]int{"p1": 3, "p2": 5, "p3": 7}
			byslug := map[string]*tenancy.Tenant{}
			want := map[string]map[string][]string{}
			for _, slug := range []string{"p1", "p2", "p3"} {
				tn, err := c.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
				if err != nil {
					t.Fatal(err)
				}
				fillItems(t, c, tn, items[slug])
				byslug[slug], want[slug] = tn, snapshot(t, c, tn)
			}
			before := poolRows(t, db)

			// Backup: the archive holds p1's rows only (an item and two notes per item).
			var buf bytes.Buffer
			res, err := c.Backup(ctx, "p1", &buf, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows != int64(3*items["p1"]) {
				t.Fatalf("backup p1: %d rows, want %d (p1's own)", res.Rows, 3*items["p1"])
			}
			archived := buf.Bytes()

			// Restore into the pool, beside the others: its verification counts its own rows.
			cp, err := c.Restore(ctx, bytes.NewReader(archived), &tenancy.RestoreOpts{Slug: "copy"})
			if err != nil {
				t.Fatalf("restore into the pool: %v", err)
			}
			sameSnapshot(t, "copy", want["p1"], snapshot(t, c, cp))
			// And out of it, into a schema.
			cs, err := c.Restore(ctx, bytes.NewReader(archived), &tenancy.RestoreOpts{Slug: "copy-schema", Tier: tenancy.TierSchema})
			if err != nil {
				t.Fatalf("restore into a schema: %v", err)
			}
			sameSnapshot(t, "copy-schema", want["p1"], snapshot(t, c, cs))
			if n := countRows(t, db, cs); n != int64(3*items["p1"]) {
				t.Fatalf("copy-schema's schema holds %d rows, want %d", n, 3*items["p1"])
			}

			// Move out of the pool: the new schema holds p2's rows only; then back in.
			mv, err := c.Move(ctx, "p2", &tenancy.MoveOpts{Tier: tenancy.TierSchema})
			if err != nil {
				t.Fatal(err)
			}
			if n := countRows(t, db, mv); n != int64(3*items["p2"]) {
				t.Fatalf("p2's new schema holds %d rows, want %d", n, 3*items["p2"])
			}
			sameSnapshot(t, "p2 moved", want["p2"], snapshot(t, c, mv))
			if _, err := c.Move(ctx, "p2", &tenancy.MoveOpts{Tier: tenancy.TierPool}); err != nil {
				t.Fatalf("move back into the pool: %v", err)
			}

			// Hard delete of a pool tenant removes its rows only.
			if err := c.TenantDelete(ctx, "copy", &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
				t.Fatal(err)
			}
			if after := poolRows(t, db); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("rows per tenant in the pool: %v, want %v as before", after, before)
			}
			for _, slug := range []string{"p1", "p2", "p3"} {
				tn, err := c.TenantGet(ctx, slug)
				if err != nil {
					t.Fatal(err)
				}
				sameSnapshot(t, slug, want[slug], snapshot(t, c, tn))
			}

			// Exec sees each tenant's own rows.
			er, err := c.ExecTenants(ctx, `SELECT count(*) FROM items`, &tenancy.ExecTenantsOpts{All: true})
			if err != nil {
				t.Fatal(err)
			}
			if er.Succeeded != 4 {
				t.Fatalf("exec ran in %d tenants, want 4", er.Succeeded)
			}
			rs, err := c.ExecTenants(ctx, `SELECT count(*) FROM items`, &tenancy.ExecTenantsOpts{Tenants: []string{"p1", "p3"},
				OnResult: func(r *tenancy.TenantRows) {
					if r.Err != nil || len(r.Rows) != 1 || r.Rows[0][0] != int64(items[r.Tenant]) {
						t.Errorf("exec in %s: %v %v, want %d items", r.Tenant, r.Rows, r.Err, items[r.Tenant])
					}
				}})
			if err != nil || rs.Succeeded != 2 {
				t.Fatal(rs, err)
			}

			chk, err := c.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !chk.OK() {
				t.Fatalf("check: %v", chk.Problems)
			}
		})
	}
}

// countRows counts, as a superuser, every row of a dedicated tenant's schema, whatever its tag.
func countRows(t testing.TB, db *tenancytest.DB, tn *tenancy.Tenant) int64 {
	t.Helper()
	database := db.Name
	if tn.Placement.Database != "" {
		database = tn.Placement.Database
	}
	s := pgx.Identifier{tn.Placement.Schema}.Sanitize()
	var n int64
	if err := superConn(t, db, database).QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM `+s+`.items) + (SELECT count(*) FROM `+s+`.item_notes)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCheckFindsForeignRows: rows tagged with another tenant's id in a dedicated placement
// (schema or database tier) are reported by Check, whatever the owner role, and a backup of
// the placement's tenant leaves them out.
func TestCheckFindsForeignRows(t *testing.T) {
	t.Parallel()
	for _, o := range tenancytest.Owners {
		t.Run(o.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := ownerArchiveDB(t, o)
			c := db.Client
			var tenants []*tenancy.Tenant
			for _, tier := range []tenancy.Tier{tenancy.TierSchema, tenancy.TierDatabase} {
				tn, err := c.TenantCreate(ctx, "t-"+string(tier), &tenancy.TenantCreateOpts{Tier: tier})
				if err != nil {
					t.Fatal(err)
				}
				fillItems(t, c, tn, 2)
				tenants = append(tenants, tn)
			}
			if res, err := c.Check(ctx); err != nil || !res.OK() {
				t.Fatalf("check before: %v %v", res, err)
			}
			for _, tn := range tenants {
				database := db.Name
				if tn.Placement.Database != "" {
					database = tn.Placement.Database
				}
				// A row of tenant 999 slipped in (by hand, or a copy made by a role that bypasses RLS).
				_, err := superConn(t, db, database).Exec(ctx, `INSERT INTO `+pgx.Identifier{tn.Placement.Schema, "items"}.Sanitize()+` (tenant_id, name) VALUES (999, 'stray')`)
				if err != nil {
					t.Fatal(err)
				}
			}
			res, err := c.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			found := map[string]bool{}
			for _, p := range res.Problems {
				if p.Problem == tenancy.ProblemForeignRows && strings.Contains(p.Detail, "items") {
					found[p.Tenant] = true
				} else {
					t.Errorf("unexpected problem: %v", p)
				}
			}
			for _, tn := range tenants {
				if !found[tn.Slug] {
					t.Errorf("check did not report the foreign row in %s's placement: %v", tn.Slug, res.Problems)
				}
				var buf bytes.Buffer
				br, err := c.Backup(ctx, tn.Slug, &buf, nil)
				if err != nil {
					t.Fatal(err)
				}
				if br.Rows != 6 {
					t.Errorf("backup %s: %d rows, want its own 6", tn.Slug, br.Rows)
				}
			}
		})
	}
}
