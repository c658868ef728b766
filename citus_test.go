package tenancy_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestCitus runs on a Citus coordinator with two workers whose database has schema-based
// sharding on (docs/citus.md). The harness installs the catalog first: before the catalog kept
// its schemas local, that failed at once ("cannot insert multiple commands into a prepared
// statement"). One database for all subtests: a Citus database costs seconds to set up.
func TestCitus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.NewCitus(t, &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations},
		&tenancytest.CitusOptions{SchemaSharding: true})
	c := db.Client

	t.Run("kind", func(t *testing.T) {
		kind, err := c.ServerKind(ctx, tenancy.ServerDefault)
		if err != nil || kind != tenancy.ServerKindCitus {
			t.Fatalf("ServerKind = %q, %v; want %q", kind, err, tenancy.ServerKindCitus)
		}
	})

	t.Run("pool and schema tenants are isolated", func(t *testing.T) {
		a, err := c.TenantCreate(ctx, "acme", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.TenantCreate(ctx, "beta", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.TenantCreate(ctx, "pico", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
		if err != nil {
			t.Fatal(err)
		}
		addNotes(t, c, a, "a1", "a2")
		addNotes(t, c, b, "b1")
		addNotes(t, c, p, "p1")
		for tn, want := range map[*tenancy.Tenant]string{a: "a1,a2", b: "b1", p: "p1"} {
			rows, err := c.Query(tenancy.WithTenant(ctx, tn), `SELECT body FROM notes ORDER BY body`)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != want {
				t.Errorf("%s sees %v, want %s", tn.Slug, got, want)
			}
		}
		// Only the schema-tier tenant's schema is a distributed schema, although every CREATE
		// SCHEMA would make one here: the catalog's, the shape's, the shared and the pool
		// schemas stay the coordinator's (TestCitusSchema covers the schema tier).
		rows, err := db.OwnerPool.Query(ctx, `SELECT schemaid::regnamespace::text FROM pg_dist_schema ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		distributed, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(distributed, ",") != b.Placement.Schema {
			t.Errorf("distributed schemas %v, want only %s", distributed, b.Placement.Schema)
		}
	})

	t.Run("database tier refused", func(t *testing.T) {
		_, err := c.TenantCreate(ctx, "bigco", &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase})
		if !errors.Is(err, tenancy.ErrTierNotAvailable) || !strings.Contains(err.Error(), "Citus") {
			t.Fatalf("create in the database tier: %v, want ErrTierNotAvailable naming Citus", err)
		}
		if _, err := c.TenantGet(ctx, "bigco"); !errors.Is(err, tenancy.ErrTenantNotFound) {
			t.Fatalf("after the refusal: %v, want ErrTenantNotFound", err)
		}
	})
}

// TestCitusFacts checks the Citus behaviours docs/citus.md builds on, as the owner, with
// schema-based sharding on.
func TestCitusFacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.NewCitus(t, nil, &tenancytest.CitusOptions{SchemaSharding: true})
	conn, err := db.OwnerPool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	exec := func(sql string) error { _, err := conn.Exec(ctx, sql); return err }
	for _, s := range []string{
		`CREATE SCHEMA f1`, `CREATE SCHEMA f2`, `CREATE SCHEMA f3`,
		`CREATE TABLE f1.top (id int PRIMARY KEY)`,
		`DO $$ BEGIN CREATE TABLE f1.in_do (id int); END $$`,
		`CREATE TABLE f2.top (id int PRIMARY KEY)`,
	} {
		if err := exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	distributed := func(table string) bool {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = $1::regclass`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	if !distributed("f1.top") || distributed("f1.in_do") {
		t.Errorf("top-level table distributed: %v (want true); table made in a DO block: %v (want false)", distributed("f1.top"), distributed("f1.in_do"))
	}
	for sql, want := range map[string]string{
		`CREATE TABLE f2.child (id int REFERENCES f1.top (id))`:             "foreign key",
		`SELECT * FROM f1.top JOIN f2.top USING (id)`:                       "repartitioning",
		`SELECT citus_schema_move('f3', '127.0.0.1', ` + portOf(t, 0) + `)`: "empty",
	} {
		if err := exec(sql); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error about %s", sql, err, want)
		}
	}
	// The binding's set_config does not reach a worker; a propagated SET LOCAL does.
	var local, remote string
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('tenancy.tenant_id', '7', true)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO f1.top VALUES (1)`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT current_setting('tenancy.tenant_id', true)`).Scan(&local); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT coalesce(current_setting('tenancy.tenant_id', true), '') FROM f1.top`).Scan(&remote)
	})
	if err != nil {
		t.Fatal(err)
	}
	if local != "7" || remote != "" {
		t.Errorf("set_config: coordinator sees %q, worker %q; want 7 and empty", local, remote)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL citus.propagate_set_commands TO local; SET LOCAL tenancy.tenant_id TO '7'`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT coalesce(current_setting('tenancy.tenant_id', true), '') FROM f1.top`).Scan(&remote)
	})
	if err != nil {
		t.Fatal(err)
	}
	if remote != "7" {
		t.Errorf("propagated SET LOCAL: worker sees %q, want 7", remote)
	}
}

// portOf is the port of the Citus cluster's worker i, as SQL text.
func portOf(t *testing.T, i int) string {
	t.Helper()
	return strconv.Itoa(tenancytest.CitusCluster(t).Workers[i].Port)
}
