package tenancy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancycli"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The Citus pool tests' application (testdata/citus): the archive tests' tables, with a foreign
// key from item_notes to the shared users, which reference the shared plans.
var (
	citusShared = os.DirFS("testdata/citus/migrations/shared")
	citusTenant = os.DirFS("testdata/citus/migrations/tenant")
)

// citusTable is one row of pg_dist_partition.
type citusTable struct {
	method, model string // partmethod ('h' hash, 'n' none), repmodel ('t' reference, 's' ...)
	colocation    int64
	column        string // the distribution column
}

// citusTables lists the Citus tables of the database, by schema.table.
func citusTables(t testing.TB, conn *pgx.Conn) map[string]citusTable {
	t.Helper()
	rows, err := conn.Query(context.Background(), `
		SELECT n.nspname || '.' || c.relname, p.partmethod::text, p.repmodel::text, p.colocationid,
		       coalesce(column_to_column_name(p.logicalrelid, p.partkey), '')
		FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid JOIN pg_namespace n ON n.oid = c.relnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]citusTable{}
	var name string
	var ct citusTable
	if _, err := pgx.ForEachRow(rows, []any{&name, &ct.method, &ct.model, &ct.colocation, &ct.column}, func() error {
		out[name] = ct
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// onShards runs sql (%s: the shard's name) on every shard of table and returns the results.
func onShards(t testing.TB, conn *pgx.Conn, table, sql string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT success, result FROM run_command_on_shards($1, $2) ORDER BY shardid`, table, sql)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var ok bool
	var res string
	if _, err := pgx.ForEachRow(rows, []any{&ok, &res}, func() error {
		if !ok {
			return fmt.Errorf("on a shard of %s: %s", table, res)
		}
		out = append(out, res)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s has no shards", table)
	}
	return out
}

// superCount counts tenant id's rows of schema.table as a superuser, who bypasses RLS: what is
// on the workers, whatever the policies say.
func superCount(t testing.TB, conn *pgx.Conn, schema, table string, id int64) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM `+pgx.Identifier{schema, table}.Sanitize()+` WHERE tenant_id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// tenantShard is the shard of schema.table holding tenant id: its id, whether it holds only
// that tenant_id, and the port of its node.
func tenantShard(t testing.TB, conn *pgx.Conn, table string, id int64) (shard int64, isolated bool, port int) {
	t.Helper()
	err := conn.QueryRow(context.Background(), `
		SELECT s.shardid, s.shardminvalue = s.shardmaxvalue, n.nodeport
		FROM pg_dist_shard s JOIN pg_dist_placement p ON p.shardid = s.shardid JOIN pg_dist_node n ON n.groupid = p.groupid
		WHERE s.shardid = get_shard_id_for_distribution_column($1::regclass, $2::bigint)`, table, id).Scan(&shard, &isolated, &port)
	if err != nil {
		t.Fatal(err)
	}
	return shard, isolated, port
}

// TestCitusPool runs the pool tier on a Citus coordinator with two workers (docs/citus.md), on
// one database for all subtests (a Citus database costs seconds to set up): the pool's tables
// are distributed by tenant_id and co-located, the shared tables they reference are reference
// tables, and the binding, backup, restore, move, hard delete, create, isolation and fleet
// migrations work unchanged, with the application role isolated and a plain owner (forced RLS
// applies to it) doing the owner's part.
func TestCitusPool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.NewCitus(t, &tenancytest.Options{SharedMigrations: citusShared, TenantMigrations: citusTenant, AppMaxConns: 4}, nil)
	c := db.Client
	super, err := pgx.Connect(ctx, tenancytest.CitusCluster(t).SuperURL(db.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	if _, err := db.OwnerPool.Exec(ctx, `INSERT INTO public.plans VALUES (1, 'free');
		INSERT INTO public.users (email, plan_id) VALUES ('ann@example.com', 1), ('bob@example.com', 1)`); err != nil {
		t.Fatal(err)
	}
	acme, err := c.TenantCreate(ctx, "acme", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	// Created after the pool was distributed: joining it is still a catalog row.
	beta, err := c.TenantCreate(ctx, "beta", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	pool := acme.Placement.Schema
	if beta.Placement.Schema != pool {
		t.Fatalf("acme in %s, beta in %s: want one pool", pool, beta.Placement.Schema)
	}
	fillItemsCitus(t, c, acme, 9)
	fillItemsCitus(t, c, beta, 5)
	// Bound writes that reach the reference table: a note's author is a shared user.
	if _, err := c.Exec(tenancy.WithTenant(ctx, acme), `UPDATE item_notes SET author_id = (SELECT id FROM users WHERE email = 'ann@example.com') WHERE id % 2 = 0`); err != nil {
		t.Fatal(err)
	}
	acmeRows, betaRows := snapshot(t, c, acme), snapshot(t, c, beta)

	t.Run("distributed by tenant_id and co-located; referenced shared tables are reference tables", func(t *testing.T) {
		dist := citusTables(t, super)
		items, notes := dist[pool+".items"], dist[pool+".item_notes"]
		for name, ct := range map[string]citusTable{"items": items, "item_notes": notes} {
			if ct.method != "h" || ct.column != "tenant_id" {
				t.Errorf("%s.%s: %+v, want hash-distributed by tenant_id", pool, name, ct)
			}
		}
		if items.colocation == 0 || items.colocation != notes.colocation {
			t.Errorf("items in co-location group %d, item_notes in %d: want one", items.colocation, notes.colocation)
		}
		for _, name := range []string{"public.users", "public.plans"} {
			if ct := dist[name]; ct.method != "n" || ct.model != "t" {
				t.Errorf("%s: %+v, want a reference table", name, ct)
			}
		}
		if ct, ok := dist["public.audit"]; ok {
			t.Errorf("public.audit, which nothing references: %+v, want a plain local table", ct)
		}
		for name, ct := range dist {
			if ct.method == "h" && !strings.HasPrefix(name, "pool_") {
				t.Errorf("%s is distributed (%+v): only pool tables are", name, ct)
			}
		}
		// The rows are on the workers, under their own tenant_id.
		if n := superCount(t, super, pool, "items", acme.ID); n != 9 {
			t.Errorf("acme has %d items on the workers, want 9", n)
		}
	})

	t.Run("shards carry RLS, FORCE, the policy and the application role's grants", func(t *testing.T) {
		check := `SELECT c.relrowsecurity AND c.relforcerowsecurity
			AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
			AND has_table_privilege('` + tenancytest.AppRole + `', c.oid, 'SELECT, INSERT, UPDATE, DELETE')
			FROM pg_class c WHERE c.oid = '%s'::regclass`
		for _, table := range []string{pool + ".items", pool + ".item_notes"} {
			for i, r := range onShards(t, super, table, check) {
				if r != "t" {
					t.Fatalf("%s shard %d: %q, want RLS enabled and forced, a policy, and the application role's grants", table, i, r)
				}
			}
		}
		for i, r := range onShards(t, super, "public.users", `SELECT has_table_privilege('`+tenancytest.AppRole+`', '%s', 'SELECT')`) {
			if r != "t" {
				t.Fatalf("users shard %d: the application role cannot read it (%q)", i, r)
			}
		}
	})

	t.Run("bound reads are isolated; the foreign key to the reference table holds on the workers", func(t *testing.T) {
		sameSnapshot(t, "acme", acmeRows, snapshot(t, c, acme))
		sameSnapshot(t, "beta", betaRows, snapshot(t, c, beta))
		var n int
		if err := c.QueryRow(tenancy.WithTenant(ctx, beta), `SELECT count(*) FROM items`).Scan(&n); err != nil || n != 5 {
			t.Fatalf("beta counts %d items (%v), want 5", n, err)
		}
		_, err := c.Exec(tenancy.WithTenant(ctx, acme), `INSERT INTO item_notes (item_id, body, author_id) SELECT min(id), 'x', 999999 FROM items RETURNING id`)
		if sqlState(err) != "23503" {
			t.Fatalf("a note by a user who does not exist: %v, want a foreign key violation", err)
		}
	})

	t.Run("a bound query naming tenant_id is routed to one worker; under RLS alone it fans out", func(t *testing.T) {
		_, _, port := tenantShard(t, super, pool+".items", acme.ID)
		var shards int
		if err := super.QueryRow(ctx, `SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = $1::regclass`, pool+".items").Scan(&shards); err != nil {
			t.Fatal(err)
		}
		actx := tenancy.WithTenant(ctx, acme)
		plan := func(sql string, args ...any) string {
			rows, err := c.Query(actx, `EXPLAIN (COSTS OFF) `+sql, args...)
			if err != nil {
				t.Fatal(err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			return strings.Join(lines, "\n")
		}
		routed := plan(`SELECT count(*) FROM items WHERE tenant_id = $1`, acme.ID)
		t.Logf("named tenant_id:\n%s", routed)
		if !strings.Contains(routed, "Task Count: 1\n") || !strings.Contains(routed, "port="+strconv.Itoa(port)) {
			t.Errorf("a query naming tenant_id: plan\n%s\nwant Task Count: 1 on the worker at port %d", routed, port)
		}
		fanned := plan(`SELECT count(*) FROM items`)
		t.Logf("RLS alone:\n%s", fanned)
		if !strings.Contains(fanned, fmt.Sprintf("Task Count: %d\n", shards)) {
			t.Errorf("a query under RLS alone: plan\n%s\nwant Task Count: %d (every shard)", fanned, shards)
		}
		var n int
		if err := c.QueryRow(actx, `SELECT count(*) FROM items`).Scan(&n); err != nil || n != 9 {
			t.Errorf("acme counts %d items under RLS alone (%v), want its own 9", n, err)
		}
		// Naming another tenant's id does not get around the policy: the worker applies it.
		if err := c.QueryRow(actx, `SELECT count(*) FROM items WHERE tenant_id = $1`, beta.ID).Scan(&n); err != nil || n != 0 {
			t.Errorf("acme naming beta's tenant_id counts %d items (%v), want 0", n, err)
		}
	})

	t.Run("backup, restore into the pool and hard delete as a plain owner", func(t *testing.T) {
		data := backup(t, c, "acme")
		twin, err := c.Restore(ctx, bytes.NewReader(data), &tenancy.RestoreOpts{Slug: "twin", Tier: tenancy.TierPool})
		if err != nil {
			t.Fatal(err)
		}
		sameSnapshot(t, "twin", acmeRows, snapshot(t, c, twin))
		if n := superCount(t, super, pool, "item_notes", twin.ID); n != 18 {
			t.Errorf("twin has %d notes on the workers, want 18", n)
		}
		insertsStillWorkCitus(t, c, twin)
		if err := c.TenantDelete(ctx, "twin", &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"items", "item_notes"} {
			if n := superCount(t, super, pool, table, twin.ID); n != 0 {
				t.Errorf("%d rows of %s left on the workers after a hard delete", n, table)
			}
		}
		sameSnapshot(t, "acme", acmeRows, snapshot(t, c, acme))
		sameSnapshot(t, "beta", betaRows, snapshot(t, c, beta))
	})

	t.Run("hostile archives are still refused", func(t *testing.T) {
		data := backup(t, c, "beta")
		before := catalogState(t, db)
		for name, forged := range map[string][]byte{
			// An id past the bound a restore may move a pool's shared sequence to.
			"an id beyond 2^53": forge(t, data, setLastID("tables/0002.copy", 1<<53+1), nil),
			// A table that is not the tenant's: the shared users.
			"a shared table": forge(t, data, nil, func(m map[string]any) {
				m["tables"].([]any)[0].(map[string]any)["name"] = "users"
			}),
		} {
			_, err := c.Restore(ctx, bytes.NewReader(forged), &tenancy.RestoreOpts{Slug: "forged", Tier: tenancy.TierPool})
			if !errors.Is(err, tenancy.ErrBadArchive) {
				t.Errorf("%s: %v, want ErrBadArchive", name, err)
			}
		}
		if after := catalogState(t, db); before != after {
			t.Errorf("the catalog changed after refused restores:\n%+v\n%+v", before, after)
		}
		sameSnapshot(t, "beta", betaRows, snapshot(t, c, beta))
		var users int
		if err := super.QueryRow(ctx, `SELECT count(*) FROM public.users`).Scan(&users); err != nil || users != 2 {
			t.Errorf("%d users after the refused restores (%v), want 2", users, err)
		}
		insertsStillWorkCitus(t, c, beta)
	})

	t.Run("a fleet migration distributes the tables it creates", func(t *testing.T) {
		// One statement per file: Citus sends a DDL statement's whole message to the shards,
		// which refuse several ("cannot execute multiple utility events"); tenancy's runner
		// sends migrations statement by statement on Citus.
		next := func(extra map[string]string) *tenancy.Client {
			files := fstest.MapFS{}
			names, err := fs.Glob(citusTenant, "*.sql")
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range names {
				data, err := fs.ReadFile(citusTenant, f)
				if err != nil {
					t.Fatal(err)
				}
				files[f] = &fstest.MapFile{Data: data}
			}
			for f, sql := range extra {
				files[f] = &fstest.MapFile{Data: []byte(sql)}
			}
			c2, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedMigrations: citusShared, TenantMigrations: files})
			if err != nil {
				t.Fatal(err)
			}
			return c2
		}
		links := map[string]string{
			"0010_items_weight.up.sql": `ALTER TABLE items ADD COLUMN weight integer;`,
			"0011_item_links.up.sql": `CREATE TABLE item_links (
			    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
			    id        bigint GENERATED ALWAYS AS IDENTITY,
			    item_id   bigint NOT NULL,
			    PRIMARY KEY (tenant_id, id),
			    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, id) ON DELETE CASCADE);`,
			"0012_item_links_rls.up.sql":   `ALTER TABLE item_links ENABLE ROW LEVEL SECURITY;`,
			"0013_item_links_force.up.sql": `ALTER TABLE item_links FORCE ROW LEVEL SECURITY;`,
			"0014_item_links_policy.up.sql": `CREATE POLICY tenant_isolation ON item_links
			    USING (tenant_id = tenancy.current_tenant_id()) WITH CHECK (tenant_id = tenancy.current_tenant_id());`,
		}
		c2 := next(links)
		res, err := c2.Migrate(ctx, nil)
		if err != nil || len(res.Failed) > 0 {
			t.Fatalf("migrate: %+v, %v", res, err)
		}
		dist := citusTables(t, super)
		got := dist[pool+".item_links"]
		if got.method != "h" || got.column != "tenant_id" || got.colocation != dist[pool+".items"].colocation {
			t.Fatalf("item_links after the fleet migration: %+v, want distributed by tenant_id beside items (%+v)", got, dist[pool+".items"])
		}
		for i, r := range onShards(t, super, pool+".item_links", `SELECT c.relforcerowsecurity AND has_table_privilege('`+tenancytest.AppRole+`', c.oid, 'INSERT') FROM pg_class c WHERE c.oid = '%s'::regclass`) {
			if r != "t" {
				t.Fatalf("item_links shard %d: %q, want forced RLS and the application role's grant", i, r)
			}
		}
		// A reference to a shared table is added once the table is distributed.
		links["0015_item_links_user.up.sql"] = `ALTER TABLE item_links ADD COLUMN user_id bigint REFERENCES users (id);`
		c2 = next(links)
		if res, err := c2.Migrate(ctx, nil); err != nil || len(res.Failed) > 0 {
			t.Fatalf("migrate to 15: %+v, %v", res, err)
		}
		actx, bctx := tenancy.WithTenant(ctx, acme), tenancy.WithTenant(ctx, beta)
		if _, err := c2.Exec(actx, `INSERT INTO item_links (item_id, user_id) SELECT id, (SELECT min(id) FROM users) FROM items RETURNING id`); err != nil {
			t.Fatal(err)
		}
		var a, b int
		if err := c2.QueryRow(actx, `SELECT count(*) FROM item_links`).Scan(&a); err != nil || a != 9 {
			t.Errorf("acme sees %d links (%v), want 9", a, err)
		}
		if err := c2.QueryRow(bctx, `SELECT count(*) FROM item_links`).Scan(&b); err != nil || b != 0 {
			t.Errorf("beta sees %d links (%v), want 0", b, err)
		}
		if _, err := c2.Exec(actx, `INSERT INTO item_links (item_id, user_id) SELECT min(id), 999999 FROM items RETURNING id`); sqlState(err) != "23503" {
			t.Errorf("a link to a user who does not exist: %v, want a foreign key violation", err)
		}
	})
}

// fillItemsCitus is fillItems with RETURNING on both INSERT ... SELECTs: Citus cannot push
// them down to the shards (tenant_id comes from the column default), collects their rows on
// the coordinator and, without RETURNING, sends them to the shards by COPY, which PostgreSQL
// refuses under RLS ("COPY FROM not supported with row-level security"); with RETURNING it
// sends INSERT ... SELECT from intermediate results, which the policies check (docs/citus.md).
func fillItemsCitus(t testing.TB, c *tenancy.Client, tn *tenancy.Tenant, n int) {
	t.Helper()
	fillItemsTail(t, c, tn, n, " RETURNING NULL")
}

// TestCitusIsolate gives a pool tenant shards of its own on Citus (Client.Isolate and tenancy
// move --isolate), with an owner role that has BYPASSRLS, as isolating needs (Citus copies the
// rows as the owner): the tenant's rows, every other tenant's rows (counted as a superuser:
// Citus rewrites the whole shard the tenant shared) and isolation are intact after the split
// and after a move of its shards to the other worker. Bad nodes are refused first.
func TestCitusIsolate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.NewCitus(t, &tenancytest.Options{SharedMigrations: citusShared, TenantMigrations: citusTenant, AppMaxConns: 4,
		Owner: tenancytest.OwnerBypassRLS}, nil)
	c := db.Client
	super, err := pgx.Connect(ctx, tenancytest.CitusCluster(t).SuperURL(db.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	if _, err := db.OwnerPool.Exec(ctx, `INSERT INTO public.plans VALUES (1, 'free'); INSERT INTO public.users (email, plan_id) VALUES ('ann@example.com', 1)`); err != nil {
		t.Fatal(err)
	}
	copyAuthToWorkers(t, super, db.Name)
	acme, beta := mustCreatePool(t, c, "acme"), mustCreatePool(t, c, "beta")
	pool := acme.Placement.Schema
	fillItemsCitus(t, c, acme, 7)
	fillItemsCitus(t, c, beta, 4)
	// Neighbours, some of which share acme's shard before the split.
	for i := range 12 {
		fillItemsCitus(t, c, mustCreatePool(t, c, fmt.Sprintf("n%d", i)), 1+i%3)
	}
	acmeRows, betaRows := snapshot(t, c, acme), snapshot(t, c, beta)
	totals := func() string {
		var s string
		if err := super.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+pool+`.items) || '/' || (SELECT count(*) FROM `+pool+`.item_notes)`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := totals()
	if _, err := c.Isolate(ctx, "acme", &tenancy.IsolateOpts{Node: "nowhere"}); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Errorf("isolate to node \"nowhere\": %v, want an error asking for host:port", err)
	}
	if _, err := c.Isolate(ctx, "acme", &tenancy.IsolateOpts{Node: "127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "no active Citus node") {
		t.Errorf("isolate to a node that is not in the cluster: %v, want an error naming it", err)
	}
	if _, isolated, _ := tenantShard(t, super, pool+".items", acme.ID); isolated {
		t.Fatal("acme is isolated before Isolate ran (or after the refused calls)")
	}
	res, err := c.Isolate(ctx, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"items", "item_notes"} {
		if _, isolated, _ := tenantShard(t, super, pool+"."+table, acme.ID); !isolated {
			t.Errorf("after Isolate, acme's shard of %s holds other tenant_ids too", table)
		}
	}
	if _, isolated, _ := tenantShard(t, super, pool+".items", beta.ID); isolated {
		t.Error("beta was isolated too")
	}
	sameSnapshot(t, "acme after isolation", acmeRows, snapshot(t, c, acme))
	sameSnapshot(t, "beta after acme's isolation", betaRows, snapshot(t, c, beta))

	// To the other worker, through the command line.
	_, _, at := tenantShard(t, super, pool+".items", acme.ID)
	other := 0
	for _, w := range tenancytest.CitusCluster(t).Workers {
		if w.Port != at {
			other = w.Port
		}
	}
	var stdout, stderr bytes.Buffer
	code := tenancycli.Run(ctx, []string{"move", "acme", "--isolate", "--node", "127.0.0.1:" + strconv.Itoa(other), "--json",
		"--database-url", db.AdminURL, "--app-url", db.AppURL, "--migrations", "testdata/citus/migrations"}, nil, &stdout, &stderr, &tenancycli.Options{Getenv: func(string) string { return "" }})
	if code != 0 {
		t.Fatalf("tenancy move acme --isolate --node: exit %d, %s", code, stderr.String())
	}
	var printed struct {
		Node    string `json:"node"`
		Already bool   `json:"already"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &printed); err != nil || printed.Node != "127.0.0.1:"+strconv.Itoa(other) || !printed.Already {
		t.Errorf("tenancy move --isolate --json printed %s (%v), want node 127.0.0.1:%d and already", stdout.String(), err, other)
	}
	for _, table := range []string{"items", "item_notes"} {
		if _, isolated, port := tenantShard(t, super, pool+"."+table, acme.ID); !isolated || port != other {
			t.Errorf("acme's shard of %s: isolated %v on port %d, want isolated on %d", table, isolated, port, other)
		}
	}
	again, err := c.Isolate(ctx, "acme", nil)
	if err != nil || !again.Already || again.Node != "127.0.0.1:"+strconv.Itoa(other) {
		t.Errorf("isolate again: %+v, %v; want already, on the worker at port %d (first isolated on %s)", again, err, other, res.Node)
	}
	sameSnapshot(t, "acme after its move", acmeRows, snapshot(t, c, acme))
	sameSnapshot(t, "beta after acme's move", betaRows, snapshot(t, c, beta))
	insertsStillWorkCitus(t, c, acme)
	insertsStillWorkCitus(t, c, beta)
	if after := totals(); after != before {
		t.Errorf("rows in the pool (items/notes, every tenant): %s before, %s after", before, after)
	}
}

// copyAuthToWorkers copies the coordinator's pg_dist_authinfo to the workers' copies of the
// database: moving a shard, a worker logs in to another as the role that asked (docs/citus.md).
func copyAuthToWorkers(t testing.TB, super *pgx.Conn, dbName string) {
	t.Helper()
	ctx := context.Background()
	rows, err := super.Query(ctx, `SELECT rolename, authinfo FROM pg_dist_authinfo WHERE nodeid = 0`)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Role, Info string }])
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range tenancytest.CitusCluster(t).Workers {
		cfg := super.Config().Copy()
		cfg.Port, cfg.Database = uint16(w.Port), dbName
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range auth {
			if _, err := conn.Exec(ctx, `INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, $1, $2) ON CONFLICT DO NOTHING`, a.Role, a.Info); err != nil {
				t.Fatal(err)
			}
		}
		conn.Close(ctx)
	}
}

// insertsStillWorkCitus inserts an item and a note for tn through the binding, checks the ids
// come from a sequence nobody pushed, and deletes them again.
func insertsStillWorkCitus(t testing.TB, c *tenancy.Client, tn *tenancy.Tenant) {
	t.Helper()
	ctx := tenancy.WithTenant(context.Background(), tn)
	var item, note int64
	if err := c.QueryRow(ctx, `INSERT INTO items (name) VALUES ('after') RETURNING id`).Scan(&item); err != nil {
		t.Fatalf("%s cannot insert any more: %v", tn.Slug, err)
	}
	if err := c.QueryRow(ctx, `INSERT INTO item_notes (item_id, body) VALUES ($1, 'after') RETURNING id`, item).Scan(&note); err != nil {
		t.Fatalf("%s cannot insert any more: %v", tn.Slug, err)
	}
	if item > 1<<20 || note > 1<<20 {
		t.Fatalf("%s's new rows got ids %d and %d: a shared sequence was pushed", tn.Slug, item, note)
	}
	if _, err := c.Exec(ctx, `DELETE FROM items WHERE id = $1`, item); err != nil {
		t.Fatal(err)
	}
}

// TestIsolateRefusedOnPlainServer: on a plain PostgreSQL server a pool tenant has no shards to
// isolate: one clear error, nothing changed.
func TestIsolateRefusedOnPlainServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 2)
	tn, err := db.Client.TenantCreate(ctx, "acme", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	before := catalogState(t, db)
	_, err = db.Client.Isolate(ctx, tn.Slug, nil)
	if !errors.Is(err, tenancy.ErrTierNotAvailable) || !regexp.MustCompile(`plain PostgreSQL.*Citus`).MatchString(err.Error()) {
		t.Fatalf("isolate on a plain server: %v, want ErrTierNotAvailable saying it needs Citus", err)
	}
	if _, err := db.Client.Isolate(ctx, "nobody", nil); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Fatalf("isolate an unknown tenant: %v, want ErrTenantNotFound", err)
	}
	if after := catalogState(t, db); before != after {
		t.Fatalf("the catalog changed:\n%+v\n%+v", before, after)
	}
}

// TestCitusPoolTiers moves tenants into and out of a distributed pool on Citus, between the
// pool and schema tiers, with the test application whose tenant table references no shared
// table (a schema-tier tenant's table that references a reference table is the schema tier's
// affair, docs/citus.md): backup, restore and move in both directions and to another pool, a
// hard delete, and Isolate refused outside the pool tier and for a plain owner.
func TestCitusPoolTiers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.NewCitus(t, &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations, AppMaxConns: 4}, nil)
	c := db.Client
	super, err := pgx.Connect(ctx, tenancytest.CitusCluster(t).SuperURL(db.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	p1, p2 := mustCreatePool(t, c, "p1"), mustCreatePool(t, c, "p2")
	s1, err := c.TenantCreate(ctx, "s1", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	pool := p1.Placement.Schema
	if ct := citusTables(t, super)[pool+".notes"]; ct.method != "h" || ct.column != "tenant_id" {
		t.Fatalf("%s.notes: %+v, want distributed by tenant_id", pool, ct)
	}
	addNotes(t, c, p1, "p1 a", "p1 b", "p1 c")
	addNotes(t, c, p2, "p2 a")
	addNotes(t, c, s1, "s1 a", "s1 b")
	same := func(tn *tenancy.Tenant, want ...string) {
		t.Helper()
		if got := bodies(t, c, tn); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("%s sees %q, want %q", tn.Slug, got, want)
		}
	}

	var buf bytes.Buffer
	if _, err := c.Backup(ctx, "p1", &buf, nil); err != nil {
		t.Fatal(err)
	}
	restored, err := c.Restore(ctx, bytes.NewReader(buf.Bytes()), &tenancy.RestoreOpts{Slug: "p1-schema", Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	same(restored, "p1 a", "p1 b", "p1 c")
	buf.Reset()
	if _, err := c.Backup(ctx, "s1", &buf, nil); err != nil {
		t.Fatal(err)
	}
	restored, err = c.Restore(ctx, bytes.NewReader(buf.Bytes()), &tenancy.RestoreOpts{Slug: "s1-pool", Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	same(restored, "s1 a", "s1 b")
	if n := superCount(t, super, pool, "notes", restored.ID); n != 2 {
		t.Errorf("s1-pool has %d notes on the workers, want 2", n)
	}

	// Out of the pool and into it.
	moved, err := c.Move(ctx, "p1", &tenancy.MoveOpts{Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	same(moved, "p1 a", "p1 b", "p1 c")
	if n := superCount(t, super, pool, "notes", p1.ID); n != 0 {
		t.Errorf("%d notes of p1 left in the pool after it moved out", n)
	}
	moved, err = c.Move(ctx, "s1", &tenancy.MoveOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	same(moved, "s1 a", "s1 b")
	if n := superCount(t, super, pool, "notes", s1.ID); n != 2 {
		t.Errorf("s1 has %d notes on the workers after it moved in, want 2", n)
	}
	addNotes(t, c, moved, "s1 c")
	same(moved, "s1 a", "s1 b", "s1 c")

	// From one pool to another: a second pool is distributed in a co-location group of its own.
	moved, err = c.Move(ctx, "p2", &tenancy.MoveOpts{Tier: tenancy.TierPool, Pool: "other"})
	if err != nil {
		t.Fatal(err)
	}
	same(moved, "p2 a")
	dist := citusTables(t, super)
	if o, d := dist[moved.Placement.Schema+".notes"], dist[pool+".notes"]; o.method != "h" || o.column != "tenant_id" || o.colocation == d.colocation {
		t.Errorf("%s.notes: %+v, want distributed by tenant_id apart from %s.notes (%+v)", moved.Placement.Schema, o, pool, d)
	}
	if n := superCount(t, super, pool, "notes", p2.ID); n != 0 {
		t.Errorf("%d notes of p2 left in %s after it moved to another pool", n, pool)
	}
	p2 = moved

	if _, err := c.Isolate(ctx, "p1", nil); !errors.Is(err, tenancy.ErrTierNotAvailable) || !strings.Contains(err.Error(), "pool-tier") {
		t.Errorf("isolate a schema-tier tenant: %v, want ErrTierNotAvailable naming the pool tier", err)
	}
	// A plain owner is subject to the forced policies: Citus would copy none of the shard's rows
	// as it, and drop them. Refused, and nothing moves.
	var total int
	if err := super.QueryRow(ctx, `SELECT count(*) FROM `+p2.Placement.Schema+`.notes`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Isolate(ctx, "p2", nil); err == nil || !strings.Contains(err.Error(), "BYPASSRLS") {
		t.Errorf("isolate as a plain owner: %v, want a refusal asking for BYPASSRLS", err)
	}
	if _, isolated, _ := tenantShard(t, super, p2.Placement.Schema+".notes", p2.ID); isolated {
		t.Error("p2 was isolated by a refused call")
	}
	var after int
	if err := super.QueryRow(ctx, `SELECT count(*) FROM `+p2.Placement.Schema+`.notes`).Scan(&after); err != nil || after != total {
		t.Errorf("%d notes in the pool after the refused isolation (%v), %d before", after, err, total)
	}
	same(p2, "p2 a")
	// The same holds for moving a schema-tier tenant's distributed schema to another node, and
	// for the rebalancer: both copy as the owner. Refused, and nothing moves.
	p1s, err := c.TenantGet(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := c.TenantNodes(ctx, []*tenancy.Tenant{p1s})
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.CitusNodes(ctx, tenancy.ServerDefault)
	if err != nil {
		t.Fatal(err)
	}
	tried := false
	for _, n := range list {
		if n.Coordinator || !n.HasShards || n.Node == nodes[p1s.ID].Node {
			continue
		}
		tried = true
		if _, err := c.Move(ctx, "p1", &tenancy.MoveOpts{Node: n.Node, TransferMode: tenancy.TransferBlockWrites}); !errors.Is(err, tenancy.ErrOwnerSubjectToRLS) {
			t.Errorf("move p1 to node %s as a plain owner: %v, want ErrOwnerSubjectToRLS", n.Node, err)
		}
		after, err := c.TenantNodes(ctx, []*tenancy.Tenant{p1s})
		if err != nil || after[p1s.ID].Node != nodes[p1s.ID].Node {
			t.Errorf("p1 on %+v after the refused move (%v), was on %s", after[p1s.ID], err, nodes[p1s.ID].Node)
		}
		break
	}
	if !tried {
		t.Errorf("no other worker than p1's (%s) among %+v", nodes[p1s.ID].Node, list)
	}
	same(p1s, "p1 a", "p1 b", "p1 c")

	if err := c.TenantDelete(ctx, "s1", &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
		t.Fatal(err)
	}
	if n := superCount(t, super, pool, "notes", s1.ID); n != 0 {
		t.Errorf("%d notes of s1 left on the workers after a hard delete", n)
	}
	same(p2, "p2 a")
	same(restored, "s1 a", "s1 b")
}

// mustCreatePool creates an active pool-tier tenant or fails the test.
func mustCreatePool(t testing.TB, c *tenancy.Client, slug string) *tenancy.Tenant {
	t.Helper()
	tn, err := c.TenantCreate(context.Background(), slug, &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatalf("create %s: %v", slug, err)
	}
	return tn
}
