package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// errProbeDone rolls back a probe's transaction after it succeeded: probes change nothing.
var errProbeDone = errors.New("probe done")

// TestProofLeastPrivilege connects as the application role, binds a transaction to one tenant and
// tries to escape it with hand-written SQL. What the role can and cannot do is stated here and in
// docs/reliability.md ("Least privilege"); each "allowed" line is a documented boundary of the
// trust placed in the application's own code, not a hole reachable through the binding.
func TestProofLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 2)
	c := db.Client
	poolA := mustCreateTier(t, c, "alpha", tenancy.TierPool)
	poolB := mustCreateTier(t, c, "bravo", tenancy.TierPool)
	schemaC := mustCreateTier(t, c, "charlie", tenancy.TierSchema)
	schemaE := mustCreateTier(t, c, "echo", tenancy.TierSchema)
	dbD := mustCreateTier(t, c, "delta", tenancy.TierDatabase)
	for _, tn := range []*tenancy.Tenant{poolA, poolB, schemaC, schemaE, dbD} {
		addNotes(t, c, tn, tn.Slug+"-1", tn.Slug+"-2")
	}
	var app string
	if err := db.AppPool.QueryRow(ctx, `SELECT current_user`).Scan(&app); err != nil || app != tenancytest.AppRole {
		t.Fatalf("the application pool connects as %q (%v), want %s", app, err, tenancytest.AppRole)
	}
	var super, bypass bool
	if err := db.AppPool.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&super, &bypass); err != nil || super || bypass {
		t.Fatalf("application role: superuser %v, bypassrls %v (%v)", super, bypass, err)
	}
	other := pgx.Identifier{schemaE.Placement.Schema, "notes"}.Sanitize()
	pool := pgx.Identifier{poolA.Placement.Schema, "notes"}.Sanitize()
	eID := strconv.FormatInt(schemaE.ID, 10)
	bID := strconv.FormatInt(poolB.ID, 10)

	// refused: statements that must fail with SQLSTATE 42501 (insufficient privilege) or another
	// named code, run by charlie's (schema tier) or alpha's (pool tier) bound transaction.
	refused := []struct {
		as    *tenancy.Tenant
		sql   string
		state string
	}{
		{schemaC, `SET ROLE ` + tenancytest.OwnerRole, "42501"},
		{schemaC, `SET ROLE postgres`, "42501"},
		{schemaC, `SET SESSION AUTHORIZATION ` + tenancytest.OwnerRole, "42501"},
		{schemaC, `INSERT INTO tenancy.tenants (slug, name, status, tier) VALUES ('evil', 'evil', 'active', 'pool')`, "42501"},
		{schemaC, `UPDATE tenancy.tenants SET status = 'active'`, "42501"},
		{schemaC, `UPDATE tenancy.placements SET schema = 'tenant_1'`, "42501"},
		{schemaC, `DELETE FROM tenancy.domains`, "42501"},
		{schemaC, `INSERT INTO tenancy.domains (host, tenant_id) VALUES ('evil.example', ` + eID + `)`, "42501"},
		{schemaC, `INSERT INTO tenancy.servers (name, url, app_url) VALUES ('evil', 'x', 'x')`, "42501"},
		{schemaC, `SELECT url FROM tenancy.servers`, "42501"},
		{schemaC, `SELECT * FROM tenancy.servers`, "42501"},
		{schemaC, `SELECT * FROM tenancy.migrations`, "42501"},
		{schemaC, `DELETE FROM tenancy.migrations`, "42501"},
		{schemaC, `SELECT * FROM tenancy.moves`, "42501"},
		{schemaC, `SELECT * FROM tenancy.catalog_version`, "42501"},
		{schemaC, `SELECT * FROM tenancy_shape.notes`, "42501"},
		{schemaC, `CREATE TABLE notes2 (i int)`, "42501"},
		{schemaC, `CREATE TABLE ` + pgx.Identifier{schemaC.Placement.Schema, "x"}.Sanitize() + ` (i int)`, "42501"},
		{schemaC, `CREATE TABLE public.x (i int)`, "42501"},
		{schemaC, `CREATE TABLE tenancy.x (i int)`, "42501"},
		{schemaC, `CREATE TABLE tenancy_shape.x (i int)`, "42501"},
		{schemaC, `CREATE SCHEMA evil`, "42501"},
		{schemaC, `CREATE FUNCTION tenancy.current_tenant_id2() RETURNS bigint LANGUAGE sql AS 'SELECT 1'`, "42501"},
		{schemaC, `CREATE OR REPLACE FUNCTION tenancy.current_tenant_id() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT ` + eID + `::bigint'`, "42501"},
		{schemaC, `ALTER TABLE notes DISABLE ROW LEVEL SECURITY`, "42501"},
		{schemaC, `ALTER TABLE notes NO FORCE ROW LEVEL SECURITY`, "42501"},
		{schemaC, `ALTER TABLE ` + other + ` DISABLE ROW LEVEL SECURITY`, "42501"},
		{schemaC, `DROP POLICY tenant_isolation ON notes`, "42501"},
		{schemaC, `CREATE POLICY open ON notes USING (true)`, "42501"},
		{schemaC, `ALTER TABLE notes ADD COLUMN x int`, "42501"},
		{schemaC, `DROP TABLE ` + other, "42501"},
		{schemaC, `TRUNCATE ` + other, "42501"}, // TRUNCATE ignores RLS: it is never granted
		{schemaC, `TRUNCATE notes`, "42501"},
		{schemaC, `ALTER TABLE notes OWNER TO ` + tenancytest.AppRole, "42501"},
		{schemaC, `DROP SCHEMA ` + pgx.Identifier{schemaE.Placement.Schema}.Sanitize() + ` CASCADE`, "42501"},
		{schemaC, `SET LOCAL row_security = off; SELECT count(*) FROM notes`, "42501"},
		{schemaC, `INSERT INTO ` + other + ` (tenant_id, body) VALUES (` + eID + `, 'forged')`, "42501"},
		{schemaC, `CREATE ROLE evil`, "42501"},
		{schemaC, `ALTER ROLE ` + tenancytest.AppRole + ` BYPASSRLS`, "42501"},
		{schemaC, `ALTER ROLE ` + tenancytest.OwnerRole + ` PASSWORD 'x'`, "42501"},
		{schemaC, `COPY notes FROM PROGRAM 'true'`, "42501"},
		{schemaC, `SELECT pg_read_file('/etc/passwd')`, "42501"},
		{poolA, `INSERT INTO notes (tenant_id, body) VALUES (` + bID + `, 'forged')`, "42501"},
		{poolA, `UPDATE notes SET tenant_id = ` + bID, "42501"},
		{poolA, `ALTER TABLE notes DISABLE ROW LEVEL SECURITY`, "42501"},
		{poolA, `TRUNCATE notes`, "42501"},
	}
	for _, r := range refused {
		err := c.Tx(tenancy.WithTenant(ctx, r.as), func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, r.sql, pgx.QueryExecModeSimpleProtocol)
			if err == nil {
				return errProbeDone
			}
			return err
		})
		if got := sqlState(err); got != r.state {
			t.Errorf("as %s: %s\n\tgot %v (SQLSTATE %q), want SQLSTATE %s", r.as.Slug, r.sql, err, got, r.state)
		}
	}

	// Outside a transaction: CREATE DATABASE. A GRANT by a non-owner only warns, and grants nothing.
	if _, err := db.AppPool.Exec(ctx, `CREATE DATABASE evil`); sqlState(err) != "42501" {
		t.Errorf("CREATE DATABASE: %v, want SQLSTATE 42501", err)
	}
	if _, err := db.AppPool.Exec(ctx, `GRANT SELECT, TRUNCATE ON `+other+` TO PUBLIC`); err != nil {
		t.Errorf("GRANT by a non-owner: %v (PostgreSQL warns and grants nothing)", err)
	}
	var granted bool
	if err := db.OwnerPool.QueryRow(ctx, `SELECT has_table_privilege('public', $1, 'SELECT') OR has_table_privilege($2, $1, 'TRUNCATE')`, other, tenancytest.AppRole).Scan(&granted); err != nil || granted {
		t.Errorf("GRANT by the application role took effect (%v)", err)
	}

	// Invisible: the binding (and RLS behind it) hides other tenants' rows whatever the query names.
	invisible := []struct {
		as  *tenancy.Tenant
		sql string
	}{
		{schemaC, `SELECT count(*) FROM ` + other},
		{schemaC, `SELECT count(*) FROM ` + other + ` WHERE tenant_id = ` + eID},
		{schemaC, `SELECT count(*) FROM ` + pool},
		{schemaC, `SET LOCAL search_path = ` + pgx.Identifier{schemaE.Placement.Schema}.Sanitize() + `, public; SELECT count(*) FROM notes`},
		{schemaC, `SELECT set_config('search_path', ` + quote(pgx.Identifier{schemaE.Placement.Schema}.Sanitize()) + `, true); SELECT count(*) FROM notes`},
		{schemaC, `RESET ROLE; SELECT count(*) FROM ` + other},
		{schemaC, `RESET ALL; SELECT count(*) FROM ` + other},
		{schemaC, `RESET tenancy.tenant_id; SELECT count(*) FROM ` + other},
		{poolA, `SELECT count(*) FROM notes WHERE tenant_id = ` + bID},
		{poolA, `SELECT count(*) FROM notes WHERE tenant_id <> ` + strconv.FormatInt(poolA.ID, 10)},
		{poolA, `SET LOCAL tenancy.tenant_id = ''; SELECT count(*) FROM notes`},
	}
	for _, q := range invisible {
		n, err := lastCount(ctx, c, q.as, q.sql)
		if err != nil || n != 0 {
			t.Errorf("as %s: %s\n\tsees %d rows (err %v), want 0", q.as.Slug, q.sql, n, err)
		}
	}
	for _, tn := range []*tenancy.Tenant{poolA, poolB, schemaC, schemaE, dbD} {
		if got := bodies(t, c, tn); len(got) != 2 {
			t.Errorf("%s has %q after the probes, want its two notes", tn.Slug, got)
		}
	}

	// Allowed, and documented as the boundary: the application role is trusted code. A
	// transaction that sets another tenant's id by hand reads that tenant's rows, in the pool and
	// the schema tier alike; so does an unbound session that sets it.
	if n, err := lastCount(ctx, c, schemaC, `SELECT set_config('tenancy.tenant_id', '`+eID+`', true); SELECT count(*) FROM `+other); err != nil || n != 2 {
		t.Errorf("boundary: set_config to another tenant's id: %d rows (%v); docs/reliability.md says the role can do this (2 rows)", n, err)
	}
	if n, err := lastCount(ctx, c, poolA, `SET LOCAL tenancy.tenant_id = '`+bID+`'; SELECT count(*) FROM notes`); err != nil || n != 2 {
		t.Errorf("boundary: SET LOCAL tenancy.tenant_id in the pool tier: %d rows (%v), documented as 2", n, err)
	}
	// The catalog is readable (tenant lookups need it): slugs, names, settings of every tenant.
	var tenants int
	if err := db.AppPool.QueryRow(ctx, `SELECT count(*) FROM tenancy.tenants`).Scan(&tenants); err != nil || tenants != 5 {
		t.Errorf("catalog read: %d tenants (%v), documented as readable", tenants, err)
	}
	if _, err := db.AppPool.Exec(ctx, `SELECT name, app_url FROM tenancy.servers`); err != nil {
		t.Errorf("servers' application URLs: %v, documented as readable (the role's own connection strings)", err)
	}

	// A temporary table outlives the transaction on a pooled connection. Named like a tenant
	// table, it must not shadow the tenant's table for the next tenant bound on that connection:
	// the binding puts pg_temp last in search_path.
	err := c.Tx(tenancy.WithTenant(ctx, schemaC), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TEMP TABLE notes AS SELECT * FROM notes`)
		return err
	})
	if err != nil {
		t.Fatalf("create a temporary table: %v", err)
	}
	for range 4 { // the pool has two connections: each of them, twice
		got := bodies(t, c, schemaE)
		if len(got) != 2 || !strings.HasPrefix(got[0], "echo-") {
			t.Errorf("echo reads %q after charlie made a temporary table named notes: shadowed", got)
		}
	}

	// Unbound, the temporary table is not reached by the plain name either (pg_temp is last in
	// ConfigurePool's search_path): the plain name still fails on the unreadable shape schema.
	for range 2 {
		if _, err := db.AppPool.Exec(ctx, `SELECT count(*) FROM notes`); sqlState(err) != "42501" {
			t.Errorf("unbound read of notes with a temporary table on the connection: %v, want SQLSTATE 42501", err)
		}
	}

	// Backends: the role may signal only its own role's sessions (trusted code again); the
	// owner's and the superuser's are out of reach.
	conn, err := db.OwnerPool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ownerPID int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&ownerPID); err != nil {
		t.Fatal(err)
	}
	_, err = db.AppPool.Exec(ctx, `SELECT pg_terminate_backend($1)`, ownerPID)
	if sqlState(err) != "42501" {
		t.Errorf("pg_terminate_backend of the owner's session: %v, want SQLSTATE 42501", err)
	}
	if _, err := conn.Exec(ctx, `SELECT 1`); err != nil {
		t.Errorf("the owner's session died: %v", err)
	}
	conn.Release()

	// ALTER ROLE ... SET on itself: ordinary roles may set their own defaults. Probed in a
	// transaction that is rolled back: the role is shared by every test database of the cluster.
	err = c.Tx(tenancy.WithTenant(ctx, schemaC), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `ALTER ROLE CURRENT_USER SET tenancy.tenant_id = '`+eID+`'`)
		if err == nil {
			return errProbeDone
		}
		return err
	})
	t.Logf("ALTER ROLE CURRENT_USER SET tenancy.tenant_id: %v (SQLSTATE %q)", err, sqlState(err))
	if !errors.Is(err, errProbeDone) && sqlState(err) != "42501" {
		t.Errorf("ALTER ROLE CURRENT_USER SET: unexpected %v", err)
	}

	// Inside a database-tier tenant's database, the local catalog is read-only for the role too.
	appConn, err := pgx.Connect(ctx, db.Server.URL(tenancytest.AppRole, dbD.Placement.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer appConn.Close(ctx)
	for _, q := range []string{
		`UPDATE tenancy.placements SET tenant_id = 1`,
		`DELETE FROM tenancy.migrations`,
		`CREATE OR REPLACE FUNCTION tenancy.current_tenant_id() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT 1::bigint'`,
		`ALTER TABLE tenant.notes DISABLE ROW LEVEL SECURITY`,
		`TRUNCATE tenant.notes`,
		`CREATE TABLE tenant.x (i int)`,
	} {
		if _, err := appConn.Exec(ctx, q); sqlState(err) != "42501" {
			t.Errorf("in %s's database: %s: %v, want SQLSTATE 42501", dbD.Slug, q, err)
		}
	}
	var n int
	if err := appConn.QueryRow(ctx, `SELECT count(*) FROM tenant.notes`).Scan(&n); err != nil || n != 0 {
		t.Errorf("unbound read of %s's database: %d rows (%v), want 0", dbD.Slug, n, err)
	}
}

func mustCreateTier(t testing.TB, c *tenancy.Client, slug string, tier tenancy.Tier) *tenancy.Tenant {
	t.Helper()
	tn, err := c.TenantCreate(context.Background(), slug, &tenancy.TenantCreateOpts{Tier: tier})
	if err != nil {
		t.Fatalf("create %s (%s): %v", slug, tier, err)
	}
	return tn
}

// lastCount runs sql (statements separated by ';', the last one a count) in a transaction bound
// to tn, and rolls it back.
func lastCount(ctx context.Context, c *tenancy.Client, tn *tenancy.Tenant, sql string) (int, error) {
	var n int
	err := c.Tx(tenancy.WithTenant(ctx, tn), func(ctx context.Context, tx pgx.Tx) error {
		stmts := strings.Split(sql, "; ")
		for _, s := range stmts[:len(stmts)-1] {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, stmts[len(stmts)-1]).Scan(&n); err != nil {
			return err
		}
		return errProbeDone
	})
	if errors.Is(err, errProbeDone) {
		err = nil
	}
	return n, err
}

func quote(s string) string { return fmt.Sprintf("'%s'", strings.ReplaceAll(s, "'", "''")) }
