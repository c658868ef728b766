package tenancy_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The schema tier on Citus (docs/citus.md): tenant migrations written to be split with care (a
// dollar-quoted function body, comments and a string holding ';'), the next deploy adding a table
// and a column, and a bad one that creates a table inside a DO block.
const (
	citusNotes = `-- notes; the convention's table
CREATE TABLE notes (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigint GENERATED ALWAYS AS IDENTITY,
    body      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());
/* a block comment; /* nested; */ still one */
COMMENT ON TABLE notes IS 'notes; one a row';
CREATE FUNCTION note_len(b text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
    RETURN length(b); -- a ';' in a body
END
$fn$;
`
	citusTags = `CREATE TABLE tags (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    name      text NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
ALTER TABLE tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE tags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tags
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());
ALTER TABLE notes ADD COLUMN tag text;
`
	citusInDo = `DO $$ BEGIN
    CREATE TABLE sneaky (tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(), x int, PRIMARY KEY (tenant_id, x));
    ALTER TABLE sneaky ENABLE ROW LEVEL SECURITY;
    ALTER TABLE sneaky FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON sneaky USING (tenant_id = tenancy.current_tenant_id());
END $$;`
)

var (
	citusV1 = fstest.MapFS{"0001_notes.up.sql": {Data: []byte(citusNotes)}}
	citusV2 = fstest.MapFS{"0001_notes.up.sql": {Data: []byte(citusNotes)}, "0002_tags.up.sql": {Data: []byte(citusTags)}}
	citusV3 = fstest.MapFS{"0001_notes.up.sql": {Data: []byte(citusNotes)}, "0002_tags.up.sql": {Data: []byte(citusTags)},
		"0003_local.up.sql": {Data: []byte(citusInDo)}}
)

// citusDB is a Citus test database seen as a superuser (who sees every row on every node) and
// as the test's clients.
type citusDB struct {
	*tenancytest.DB
	super *pgx.Conn
}

func newCitusSchemaDB(t *testing.T, tenant fs.FS) *citusDB {
	t.Helper()
	ctx := context.Background()
	// Schema-based sharding stays off for the database: tenancy distributes tenant schemas itself.
	// The owner bypasses RLS: the plain owner's own binding (BindOwnerTx, for backup and
	// restore) reaches the workers only with the pool tier's Citus work (citus-pool branch);
	// once merged, this can run with tenancytest.OwnerPlain as well.
	db := tenancytest.NewCitus(t, &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: tenant,
		Owner: tenancytest.OwnerBypassRLS}, nil)
	super, err := pgx.Connect(ctx, tenancytest.CitusCluster(t).SuperURL(db.Name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { super.Close(context.Background()) })
	return &citusDB{DB: db, super: super}
}

// distributedSchema reports whether schema is a distributed schema.
func (d *citusDB) distributedSchema(t *testing.T, schema string) bool {
	t.Helper()
	var ok bool
	if err := d.super.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_dist_schema s JOIN pg_namespace n ON n.oid = s.schemaid
		WHERE n.nspname = $1)`, schema).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// tables returns schema's tables, and those of them that Citus does not distribute.
func (d *citusDB) tables(t *testing.T, schema string) (all, local []string) {
	t.Helper()
	rows, err := d.super.Query(context.Background(), `
		SELECT c.relname, EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	var dist bool
	if _, err := pgx.ForEachRow(rows, []any{&name, &dist}, func() error {
		all = append(all, name)
		if !dist {
			local = append(local, name)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return all, local
}

// mustDistributed fails unless tn's schema is distributed and every table in it is too, with
// the tables want among them.
func (d *citusDB) mustDistributed(t *testing.T, tn *tenancy.Tenant, want ...string) {
	t.Helper()
	if !d.distributedSchema(t, tn.Placement.Schema) {
		t.Errorf("%s: schema %s is not a distributed schema", tn.Slug, tn.Placement.Schema)
	}
	all, local := d.tables(t, tn.Placement.Schema)
	if len(local) > 0 {
		t.Errorf("%s: tables %v stayed local", tn.Slug, local)
	}
	for _, w := range want {
		if !slices.Contains(all, w) {
			t.Errorf("%s: no table %s in %v", tn.Slug, w, all)
		}
	}
}

// superNotes returns the (tenant_id, body) pairs of schema's notes, as a superuser sees them.
func (d *citusDB) superNotes(t *testing.T, schema string) []string {
	t.Helper()
	rows, err := d.super.Query(context.Background(), `SELECT tenant_id::text || ':' || body FROM `+pgx.Identifier{schema, "notes"}.Sanitize()+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// nodeOf returns tn's Citus node.
func nodeOf(t *testing.T, c *tenancy.Client, tn *tenancy.Tenant) tenancy.TenantNode {
	t.Helper()
	nodes, err := c.TenantNodes(context.Background(), []*tenancy.Tenant{tn})
	if err != nil {
		t.Fatal(err)
	}
	n, ok := nodes[tn.ID]
	if !ok {
		t.Fatalf("%s: no node (not on a Citus server?)", tn.Slug)
	}
	return n
}

// notesOf is "<id>:<body>" for each body, as superNotes lists them.
func notesOf(tn *tenancy.Tenant, bodies ...string) []string {
	var out []string
	for _, b := range bodies {
		out = append(out, strconv.FormatInt(tn.ID, 10)+":"+b)
	}
	return out
}

// TestCitusSchema runs a schema-tier tenant's life on a Citus coordinator with two workers:
// create (a distributed schema whose tables are all distributed), fleet migration, backup and
// restore, move to another node, hard delete, warm placements, and rebalancing after a third
// worker is added; reads and writes go through the binding as the application role, and
// every tenant sees only its own rows. One database for all subtests (each costs seconds).
func TestCitusSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newCitusSchemaDB(t, citusV1)
	c := db.Client
	schemaTier := &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema}
	create := func(t *testing.T, slug string) *tenancy.Tenant {
		t.Helper()
		tn, err := c.TenantCreate(ctx, slug, schemaTier)
		if err != nil {
			t.Fatalf("create %s: %v", slug, err)
		}
		return tn
	}
	mustSee := func(t *testing.T, c *tenancy.Client, tn *tenancy.Tenant, want ...string) {
		t.Helper()
		if got := bodies(t, c, tn); !slices.Equal(got, want) {
			t.Errorf("%s sees %v through the binding, want %v", tn.Slug, got, want)
		}
	}
	var acme, beta, pooled *tenancy.Tenant
	var v1Archive bytes.Buffer // acme at version 1: its restore at version 2 goes through a staging schema

	t.Run("create", func(t *testing.T) {
		acme, beta = create(t, "acme"), create(t, "beta")
		var err error
		if pooled, err = c.TenantCreate(ctx, "pooled", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool}); err != nil {
			t.Fatal(err)
		}
		db.mustDistributed(t, acme, "notes")
		db.mustDistributed(t, beta, "notes")
		// tenancy's own schemas stay the coordinator's (catalog.KeepLocal).
		for _, s := range []string{"tenancy", "tenancy_shape", "public", pooled.Placement.Schema} {
			if db.distributedSchema(t, s) {
				t.Errorf("schema %s is distributed, want it local", s)
			}
		}
		addNotes(t, c, acme, "a1", "a2")
		addNotes(t, c, beta, "b1")
		addNotes(t, c, pooled, "p1")
		mustSee(t, c, acme, "a1", "a2")
		mustSee(t, c, beta, "b1")
		mustSee(t, c, pooled, "p1")
		if _, err := c.Backup(ctx, "acme", &v1Archive, nil); err != nil {
			t.Fatal(err)
		}
		if got := db.superNotes(t, acme.Placement.Schema); !slices.Equal(got, notesOf(acme, "a1", "a2")) {
			t.Errorf("acme's rows on its node: %v", got)
		}
		// The migration's function and comment made it, whole.
		var n int
		if err := db.super.QueryRow(ctx, `SELECT `+pgx.Identifier{acme.Placement.Schema}.Sanitize()+`.note_len('a;b')`).Scan(&n); err != nil || n != 3 {
			t.Errorf("note_len('a;b') = %d, %v; want 3", n, err)
		}
		// The node: a worker for the schema-tier tenants.
		workers := map[string]bool{}
		for _, w := range tenancytest.CitusCluster(t).Workers {
			workers["127.0.0.1:"+strconv.Itoa(w.Port)] = true
		}
		for _, tn := range []*tenancy.Tenant{acme, beta} {
			if n := nodeOf(t, c, tn); !n.Distributed || n.Coordinator || !workers[n.Node] {
				t.Errorf("%s: node %+v, want one of the workers %v", tn.Slug, n, workers)
			}
		}
	})
	if acme == nil {
		t.FailNow()
	}

	t.Run("migrate", func(t *testing.T) {
		c2, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedMigrations: sharedMigrations, TenantMigrations: citusV2})
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		res, err := c2.Migrate(ctx, nil)
		if err != nil || len(res.Failed) > 0 {
			t.Fatalf("migrate: %+v, %v", res, err)
		}
		for _, tn := range []*tenancy.Tenant{acme, beta} {
			db.mustDistributed(t, tn, "notes", "tags")
			// The new column is on the worker's shard: a superuser reads it through Citus.
			if _, err := db.super.Exec(ctx, `SELECT tag FROM `+qualified(tn)); err != nil {
				t.Errorf("%s: %v", tn.Slug, err)
			}
		}
		bctx := tenancy.WithTenant(ctx, acme)
		if _, err := c2.Exec(bctx, `INSERT INTO tags (name) VALUES ('red')`); err != nil {
			t.Fatal(err)
		}
		if _, err := c2.Exec(bctx, `UPDATE notes SET tag = 'red' WHERE body = 'a1'`); err != nil {
			t.Fatal(err)
		}
		var tags int
		if err := c2.QueryRow(tenancy.WithTenant(ctx, beta), `SELECT count(*) FROM tags`).Scan(&tags); err != nil || tags != 0 {
			t.Errorf("beta sees %d tags, %v; want 0", tags, err)
		}
		c = c2 // the next deploy from now on
	})

	t.Run("restore", func(t *testing.T) {
		var buf bytes.Buffer
		if _, err := c.Backup(ctx, "acme", &buf, nil); err != nil {
			t.Fatal(err)
		}
		cp, err := c.Restore(ctx, &buf, &tenancy.RestoreOpts{Slug: "acme-copy", Tier: tenancy.TierSchema})
		if err != nil {
			t.Fatal(err)
		}
		db.mustDistributed(t, cp, "notes", "tags")
		mustSee(t, c, cp, "a1", "a2")
		mustSee(t, c, acme, "a1", "a2")
		if got := db.superNotes(t, cp.Placement.Schema); !slices.Equal(got, notesOf(cp, "a1", "a2")) {
			t.Errorf("the copy's rows on its node: %v", got)
		}
		// An archive of version 1, through a local staging schema migrated forward.
		old, err := c.Restore(ctx, &v1Archive, &tenancy.RestoreOpts{Slug: "acme-old", Tier: tenancy.TierSchema})
		if err != nil {
			t.Fatal(err)
		}
		db.mustDistributed(t, old, "notes", "tags")
		mustSee(t, c, old, "a1", "a2")
		if old.Version != 2 {
			t.Errorf("acme-old at version %d, want 2", old.Version)
		}
		var staging int
		if err := db.super.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenancy_restore%'`).Scan(&staging); err != nil || staging != 0 {
			t.Errorf("%d staging schemas left, %v", staging, err)
		}
	})

	t.Run("move to a node", func(t *testing.T) {
		from := nodeOf(t, c, acme)
		var to string
		for _, w := range tenancytest.CitusCluster(t).Workers {
			if n := "127.0.0.1:" + strconv.Itoa(w.Port); n != from.Node {
				to = n
			}
		}
		// block_writes: a logical-replication move (TransferAuto) needs a free background worker
		// on the target, which a shared test cluster may lack (tenancytest's
		// max_worker_processes). The rebalance below does the same.
		moved, err := c.Move(ctx, "acme", &tenancy.MoveOpts{Node: to, TransferMode: tenancy.TransferBlockWrites})
		if err != nil {
			t.Fatal(err)
		}
		if moved.Placement != acme.Placement || moved.Status != tenancy.StatusActive {
			t.Errorf("after the move: %+v %s, want the same placement %+v, active", moved.Placement, moved.Status, acme.Placement)
		}
		if n := nodeOf(t, c, acme); n.Node != to {
			t.Errorf("acme is on %+v after the move, want %s (from %s)", n, to, from.Node)
		}
		mustSee(t, c, acme, "a1", "a2")
		mustSee(t, c, beta, "b1")
		if got := db.superNotes(t, acme.Placement.Schema); !slices.Equal(got, notesOf(acme, "a1", "a2")) {
			t.Errorf("acme's rows after the move: %v", got)
		}
		// Bad input: one clear error, nothing moved.
		for name, tc := range map[string]struct {
			slug string
			opts *tenancy.MoveOpts
			is   error
			says string
		}{
			"same node":    {"acme", &tenancy.MoveOpts{Node: to}, nil, "already"},
			"not a node":   {"acme", &tenancy.MoveOpts{Node: "nowhere"}, nil, "invalid node"},
			"unknown node": {"acme", &tenancy.MoveOpts{Node: "127.0.0.1:1"}, nil, "no node 127.0.0.1:1"},
			"with a tier":  {"acme", &tenancy.MoveOpts{Node: from.Node, Tier: tenancy.TierPool}, nil, "no Tier"},
			"bad mode":     {"acme", &tenancy.MoveOpts{Node: from.Node, TransferMode: "teleport"}, nil, "transfer mode"},
			"pool tenant":  {"pooled", &tenancy.MoveOpts{Node: from.Node}, tenancy.ErrTierNotAvailable, "schema-tier"},
		} {
			_, err := c.Move(ctx, tc.slug, tc.opts)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%s: %v, want an error saying %q", name, err, tc.says)
			}
		}
		if n := nodeOf(t, c, acme); n.Node != to {
			t.Errorf("acme moved to %+v by a refused move", n)
		}
		// An empty distributed schema is on no node: there is nothing to move.
		hollow := create(t, "hollow")
		if _, err := db.super.Exec(ctx, `DROP TABLE `+pgx.Identifier{hollow.Placement.Schema, "tags"}.Sanitize()+`, `+qualified(hollow)); err != nil {
			t.Fatal(err)
		}
		if n := nodeOf(t, c, hollow); !n.Empty || n.Node != "" {
			t.Errorf("hollow's node: %+v, want empty", n)
		}
		if _, err := c.Move(ctx, "hollow", &tenancy.MoveOpts{Node: from.Node}); !errors.Is(err, tenancy.ErrEmptySchema) {
			t.Errorf("move an empty schema: %v, want ErrEmptySchema", err)
		}
		if err := c.TenantDelete(ctx, "hollow", &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("hard delete", func(t *testing.T) {
		cp, err := c.TenantGet(ctx, "acme-copy")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.TenantDelete(ctx, "acme-copy", &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
			t.Fatal(err)
		}
		var left int
		if err := db.super.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, cp.Placement.Schema).Scan(&left); err != nil || left != 0 {
			t.Errorf("schema %s: %d left on the coordinator, %v", cp.Placement.Schema, left, err)
		}
		// Nor on a worker.
		rows, err := db.super.Query(ctx, `SELECT result FROM run_command_on_workers($1)`,
			`SELECT count(*) FROM pg_namespace WHERE nspname = `+quoteLit(cp.Placement.Schema))
		if err != nil {
			t.Fatal(err)
		}
		results, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if r != "0" {
				t.Errorf("schema %s still on a worker: %v", cp.Placement.Schema, results)
			}
		}
		mustSee(t, c, acme, "a1", "a2")
	})

	t.Run("warm placements", func(t *testing.T) {
		wc, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedMigrations: sharedMigrations,
			TenantMigrations: citusV2, WarmPlacements: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer wc.Close()
		if res, err := wc.WarmFill(ctx); err != nil || res.Ready != 1 {
			t.Fatalf("WarmFill: %+v, %v", res, err)
		}
		tn, err := wc.TenantCreate(ctx, "warmco", schemaTier)
		if err != nil {
			t.Fatal(err)
		}
		if tn.Placement.Schema != "tenant_"+strconv.FormatInt(tn.ID, 10) {
			t.Errorf("warmco's schema %s: not a claimed warm placement renamed after it?", tn.Placement.Schema)
		}
		db.mustDistributed(t, tn, "notes", "tags")
		addNotes(t, wc, tn, "w1")
		mustSee(t, wc, tn, "w1")
		mustSee(t, wc, beta, "b1")
	})

	t.Run("check", func(t *testing.T) {
		// Check and DropOrphans take distributed schemas for what they are: nothing wrong, nothing to drop.
		mustAgree(t, c)
	})

	t.Run("rebalance", func(t *testing.T) {
		for _, slug := range []string{"r1", "r2", "r3", "r4"} {
			addNotes(t, c, create(t, slug), slug+"-note")
		}
		all, err := c.TenantList(ctx, &tenancy.TenantListOpts{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		before := map[int64][]string{}
		for _, tn := range all {
			before[tn.ID] = bodies(t, c, tn)
		}
		added := tenancytest.CitusCluster(t).AddWorker(t, db.DB)
		newNode := "127.0.0.1:" + strconv.Itoa(added.Port)
		plan, err := c.Rebalance(ctx, &tenancy.RebalanceOpts{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Moves) == 0 {
			t.Fatal("the dry run plans no move to the new worker")
		}
		for _, tn := range all {
			if n, ok := nodeFor(t, c, tn); ok && n.Node == newNode {
				t.Fatalf("%s is on the new worker after a dry run", tn.Slug)
			}
		}
		res, err := c.Rebalance(ctx, &tenancy.RebalanceOpts{TransferMode: tenancy.TransferBlockWrites})
		if err != nil {
			t.Fatal(err)
		}
		onNew := 0
		for _, m := range res.Moves {
			if !m.Pool && len(m.Tenants) == 0 && !strings.HasPrefix(m.Schema, "tenant_warm_") {
				t.Errorf("move %+v names no tenant", m)
			}
		}
		for _, tn := range all {
			if n, ok := nodeFor(t, c, tn); ok && n.Node == newNode {
				onNew++
			}
			// Intact and isolated: each tenant sees exactly its own rows, through the binding.
			if got := bodies(t, c, tn); !slices.Equal(got, before[tn.ID]) {
				t.Errorf("%s sees %v after the rebalance, want %v", tn.Slug, got, before[tn.ID])
			}
		}
		if onNew == 0 {
			t.Errorf("no tenant on the new worker %s after the rebalance (%d moves: %+v)", newNode, len(res.Moves), res.Moves)
		}
		if again, err := c.Rebalance(ctx, &tenancy.RebalanceOpts{DryRun: true}); err != nil || len(again.Moves) != 0 {
			t.Errorf("a second rebalance: %+v, %v; want nothing to move", again, err)
		}
	})

	// Last: this deploy's migration fails on every tenant and leaves the shape schema ahead.
	t.Run("table made in a DO block", func(t *testing.T) {
		c3, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedMigrations: sharedMigrations, TenantMigrations: citusV3})
		if err != nil {
			t.Fatal(err)
		}
		defer c3.Close()
		// A new tenant: refused, and nothing of it is left.
		if _, err := c3.TenantCreate(ctx, "sneaky", schemaTier); !errors.Is(err, tenancy.ErrNotDistributed) || !strings.Contains(err.Error(), "top-level CREATE TABLE") {
			t.Fatalf("create with a table made in a DO block: %v, want ErrNotDistributed", err)
		}
		if _, err := c3.TenantGet(ctx, "sneaky"); !errors.Is(err, tenancy.ErrTenantNotFound) {
			t.Errorf("after the refused create: %v, want ErrTenantNotFound", err)
		}
		// The fleet: every tenant fails and stays at version 2, without the table.
		res, err := c3.Migrate(ctx, nil)
		if err != nil && !errors.Is(err, tenancy.ErrStopped) {
			t.Logf("migrate: %v", err)
		}
		if res == nil || len(res.Failed) == 0 {
			t.Fatalf("migrate: %+v, %v; want every schema-tier tenant failed", res, err)
		}
		for _, f := range res.Failed {
			if f.Tenant != "" && !strings.HasPrefix(f.Tenant, "pool:") && !errors.Is(f, tenancy.ErrNotDistributed) {
				t.Errorf("%s failed with %v, want ErrNotDistributed", f.Tenant, f.Err)
			}
		}
		got, err := c3.TenantGet(ctx, "beta")
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 {
			t.Errorf("beta at version %d, want 2", got.Version)
		}
		if all, _ := db.tables(t, beta.Placement.Schema); slices.Contains(all, "sneaky") {
			t.Errorf("beta has the DO block's table: %v", all)
		}
	})
}

// nodeFor is nodeOf for a tenant that may not be on Citus (ok false).
func nodeFor(t *testing.T, c *tenancy.Client, tn *tenancy.Tenant) (tenancy.TenantNode, bool) {
	t.Helper()
	nodes, err := c.TenantNodes(context.Background(), []*tenancy.Tenant{tn})
	if err != nil {
		t.Fatal(err)
	}
	n, ok := nodes[tn.ID]
	return n, ok
}

func quoteLit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// On a plain PostgreSQL server the Citus operations are refused with ErrNotCitus, and change
// nothing.
func TestCitusOperationsRefusedOnPlain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 2)
	c := db.Client
	tn, err := c.TenantCreate(ctx, "plain", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(ctx, "plain", &tenancy.MoveOpts{Node: "127.0.0.1:5432"}); !errors.Is(err, tenancy.ErrNotCitus) {
		t.Errorf("move to a node: %v, want ErrNotCitus", err)
	}
	if _, err := c.Rebalance(ctx, nil); !errors.Is(err, tenancy.ErrNotCitus) {
		t.Errorf("rebalance: %v, want ErrNotCitus", err)
	}
	if _, err := c.Rebalance(ctx, &tenancy.RebalanceOpts{TransferMode: "teleport"}); err == nil || !strings.Contains(err.Error(), "transfer mode") {
		t.Errorf("rebalance with a bad transfer mode: %v", err)
	}
	if _, err := c.CitusNodes(ctx, tenancy.ServerDefault); !errors.Is(err, tenancy.ErrNotCitus) {
		t.Errorf("CitusNodes: %v, want ErrNotCitus", err)
	}
	nodes, err := c.TenantNodes(ctx, []*tenancy.Tenant{tn})
	if err != nil || len(nodes) != 0 {
		t.Errorf("TenantNodes on a plain server: %v, %v; want none", nodes, err)
	}
	got, err := c.TenantGet(ctx, "plain")
	if err != nil || got.Status != tenancy.StatusActive || got.Placement != tn.Placement {
		t.Errorf("after the refusals: %+v, %v", got, err)
	}
}
