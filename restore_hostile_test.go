package tenancy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// Hostile archives: a checksum is a seal, not a signature, so these are forged with consistent
// checksums and seals. None may change anything another tenant can observe.

// forge re-packs an archive with rows passed through rows (nil: unchanged) and resealed, then the
// manifest passed through manifest (nil: unchanged) and the seal recomputed: what anyone who can
// write the file can do.
func forge(t testing.TB, data []byte, rows func(name string, body []byte) []byte, manifest func(m map[string]any)) []byte {
	t.Helper()
	if rows == nil {
		rows = func(_ string, body []byte) []byte { return body }
	}
	out := rewrite(t, data, rows, true)
	if manifest == nil {
		return out
	}
	var sum [32]byte
	return rewrite(t, out, func(name string, body []byte) []byte {
		switch name {
		case "manifest.json":
			body = editManifest(manifest)(name, body)
			sum = sha256.Sum256(body)
		case "end.json":
			var e map[string]any
			if err := json.Unmarshal(body, &e); err != nil {
				panic(err)
			}
			e["manifest_sha256"] = hex.EncodeToString(sum[:])
			body, _ = json.Marshal(e)
		}
		return body
	}, false)
}

// setLastID gives the last row of table entry (e.g. "tables/0002.copy") the id id (first column).
func setLastID(entry string, id int64) func(string, []byte) []byte {
	return func(name string, body []byte) []byte {
		if name != entry {
			return body
		}
		lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
		last := lines[len(lines)-1]
		tab := bytes.IndexByte(last, '\t')
		lines[len(lines)-1] = append([]byte(strconv.FormatInt(id, 10)), last[tab:]...)
		return append(bytes.Join(lines, []byte("\n")), '\n')
	}
}

// poolSequences is the position of the shared sequences of the archive tests' pool tables.
func poolSequences(t testing.TB, db *tenancytest.DB, schema string) [2]int64 {
	t.Helper()
	var s [2]int64
	err := db.OwnerPool.QueryRow(context.Background(), `
		SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence(quote_ident($1) || '.items', 'id')::regclass), 0),
		       coalesce(pg_sequence_last_value(pg_get_serial_sequence(quote_ident($1) || '.item_notes', 'id')::regclass), 0)`, schema).Scan(&s[0], &s[1])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// insertsStillWork inserts an item and a note for tn as the application role, and checks the ids
// come from a sequence nobody pushed to its end.
func insertsStillWork(t testing.TB, c *tenancy.Client, tn *tenancy.Tenant, what string) {
	t.Helper()
	ctx := tenancy.WithTenant(context.Background(), tn)
	var item, note int64
	if err := c.QueryRow(ctx, `INSERT INTO items (name) VALUES ('after') RETURNING id`).Scan(&item); err != nil {
		t.Fatalf("%s: %s cannot insert any more: %v", what, tn.Slug, err)
	}
	if err := c.QueryRow(ctx, `INSERT INTO item_notes (item_id, body) VALUES ($1, 'after') RETURNING id`, item).Scan(&note); err != nil {
		t.Fatalf("%s: %s cannot insert any more: %v", what, tn.Slug, err)
	}
	if item > 1<<20 || note > 1<<20 {
		t.Fatalf("%s: %s's new rows got ids %d and %d: a shared sequence was pushed", what, tn.Slug, item, note)
	}
	if _, err := c.Exec(ctx, `DELETE FROM items WHERE id = $1`, item); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreHostileSequences restores archives that would push the pool's shared sequences to
// their end (a sequence position of 2^63-2, a row id of 2^63-2, an id just past 2^53) into the
// pool: each is refused with one clear error, and the pool's sequences, the catalog and the
// neighbour are as before. A refused restore whose ids were within bounds moves no shared
// sequence either (setval is not transactional). Into the schema and database tiers the same
// archives are accepted: the sequences there are the tenant's own.
func TestRestoreHostileSequences(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := archiveDB(t, archiveTenant)
	c := db.Client
	victim, err := c.TenantCreate(ctx, "victim", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	src, err := c.TenantCreate(ctx, "source", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	fillItems(t, c, victim, 10)
	fillItems(t, c, src, 5)
	data := backup(t, c, "source")
	if m := manifestOf(t, data); m.Tables[0].Name != "items" || m.Tables[1].Name != "item_notes" {
		t.Fatalf("tables %s, %s", m.Tables[0].Name, m.Tables[1].Name)
	}
	if _, err := c.TenantCreate(ctx, "warm", &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase}); err != nil {
		t.Fatal(err)
	}
	victimRows := snapshot(t, c, victim)
	pool := victim.Placement.Schema
	seqs := poolSequences(t, db, pool)
	before := catalogState(t, db)

	const huge = math.MaxInt64 - 1
	hugeSeq := forge(t, data, nil, func(m map[string]any) {
		for _, tb := range m["tables"].([]any) {
			tb.(map[string]any)["sequences"] = []any{map[string]any{"column": "id", "last_value": huge, "is_called": true}}
		}
	})
	hugeID := forge(t, data, setLastID("tables/0002.copy", huge), nil)
	pastBound := forge(t, data, setLastID("tables/0002.copy", 1<<53+1), nil)
	// An item id within bounds, then a failure: its notes no longer find their item.
	withinThenFails := forge(t, data, setLastID("tables/0001.copy", 1<<40), nil)

	for _, tc := range []struct {
		name string
		data []byte
	}{{"sequence-2^63-2", hugeSeq}, {"id-2^63-2", hugeID}, {"id-past-2^53", pastBound}, {"within-bounds-then-fails", withinThenFails}} {
		_, err := c.Restore(ctx, bytes.NewReader(tc.data), &tenancy.RestoreOpts{Slug: "hostile", Tier: tenancy.TierPool})
		if err == nil {
			t.Fatalf("%s: restored into the pool", tc.name)
		}
		t.Logf("%s: %v", tc.name, err)
		if tc.name != "within-bounds-then-fails" && !errors.Is(err, tenancy.ErrBadArchive) {
			t.Fatalf("%s: %v, want ErrBadArchive", tc.name, err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || len(msg) > 300 {
			t.Fatalf("%s: not one clear line: %q", tc.name, msg)
		}
		if after := catalogState(t, db); after != before {
			t.Fatalf("%s: the catalog changed: %+v -> %+v", tc.name, before, after)
		}
		if got := poolSequences(t, db, pool); got != seqs {
			t.Fatalf("%s: the pool's shared sequences moved: %v -> %v", tc.name, seqs, got)
		}
		sameSnapshot(t, tc.name+": victim", victimRows, snapshot(t, c, victim))
		insertsStillWork(t, c, victim, tc.name)
		seqs = poolSequences(t, db, pool) // the victim's own inserts moved them
	}

	for _, tier := range []tenancy.Tier{tenancy.TierSchema, tenancy.TierDatabase} {
		for _, tc := range []struct {
			name, slug string
			data       []byte
		}{{"sequence-2^63-2", "seq", hugeSeq}, {"id-2^63-2", "id", hugeID}} {
			slug := "own-" + string(tier) + "-" + tc.slug
			if _, err := c.Restore(ctx, bytes.NewReader(tc.data), &tenancy.RestoreOpts{Slug: slug, Tier: tier}); err != nil {
				t.Fatalf("%s into %s: %v", tc.name, tier, err)
			}
			if got := poolSequences(t, db, pool); got != seqs {
				t.Fatalf("%s into %s: the pool's shared sequences moved: %v -> %v", tc.name, tier, seqs, got)
			}
			insertsStillWork(t, c, victim, tc.name+" into "+string(tier))
			seqs = poolSequences(t, db, pool)
		}
	}
}

// TestRestoreCollidingIDs restores into a pool an archive whose ids are exactly those of a
// tenant already there: keys lead with tenant_id, so the neighbour's rows, its reads and its
// inserts afterwards are unaffected, and so are the restored tenant's.
func TestRestoreCollidingIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := archiveDB(t, archiveTenant)
	c := db.Client
	victim, err := c.TenantCreate(ctx, "victim", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	src, err := c.TenantCreate(ctx, "source", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	fillItems(t, c, victim, 8)
	fillItems(t, c, src, 8)
	victimRows, srcRows := snapshot(t, c, victim), snapshot(t, c, src)
	twin, err := c.Restore(ctx, bytes.NewReader(backup(t, c, "source")), &tenancy.RestoreOpts{Slug: "twin", Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(tn *tenancy.Tenant) []int64 {
		rows, err := c.Query(tenancy.WithTenant(ctx, tn), `SELECT id FROM items ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if a, b := ids(victim), ids(twin); len(a) != 8 || !slices.Equal(a, b) {
		t.Fatalf("ids %v and %v: the tenants' ids do not collide, the test proves nothing", a, b)
	}
	sameSnapshot(t, "victim", victimRows, snapshot(t, c, victim))
	sameSnapshot(t, "twin", srcRows, snapshot(t, c, twin))
	insertsStillWork(t, c, victim, "after a colliding restore")
	insertsStillWork(t, c, twin, "after a colliding restore")
	sameSnapshot(t, "victim", victimRows, snapshot(t, c, victim))
	sameSnapshot(t, "twin", srcRows, snapshot(t, c, twin))
}

// TestRestoreRefusesForeignTables forges archives naming a shared table, a catalog table, a
// table the tenant migrations do not make, an extra table, and impossible counts, into every
// tier: each is refused with one clear error, and neither the catalog nor the shared table
// changes.
func TestRestoreRefusesForeignTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := archiveDB(t, archiveTenant)
	c := db.Client
	src, err := c.TenantCreate(ctx, "source", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	fillItems(t, c, src, 4)
	data := backup(t, c, "source")
	if _, err := db.OwnerPool.Exec(ctx, `INSERT INTO accounts (email) VALUES ('someone@example.com')`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TenantCreate(ctx, "warm", &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase}); err != nil {
		t.Fatal(err)
	}
	before := catalogState(t, db)
	accounts := func() string {
		var s string
		if err := db.OwnerPool.QueryRow(ctx, `SELECT coalesce(string_agg(id || ' ' || email, ','), '') FROM accounts`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	accountsBefore := accounts()
	rename := func(to string) []byte {
		return forge(t, data, nil, func(m map[string]any) { m["tables"].([]any)[0].(map[string]any)["name"] = to })
	}
	set := func(key string, v any) []byte {
		return forge(t, data, nil, func(m map[string]any) { m["tables"].([]any)[0].(map[string]any)[key] = v })
	}
	sharedRows := forge(t, data, nil, func(m map[string]any) {
		// accounts' columns and key, as a third table: the shared table's shape exactly.
		m["tables"] = append(m["tables"].([]any), map[string]any{"name": "accounts",
			"columns":  []any{map[string]any{"name": "id", "type": "bigint"}, map[string]any{"name": "email", "type": "text"}},
			"order_by": []any{"id"}, "rows": 0, "bytes": 0, "sha256": hex.EncodeToString(func() []byte { s := sha256.Sum256(nil); return s[:] }())})
	})
	cases := []struct {
		name string
		data []byte
	}{
		{"shared-table-name", rename("accounts")},
		{"catalog-table-name", rename("tenants")},
		{"qualified-name", rename("public.accounts")},
		{"unknown-table", rename("evil")},
		{"extra-shared-table", sharedRows},
		{"negative-rows", set("rows", -1)},
		{"huge-rows", set("rows", int64(1)<<62)},
		{"negative-bytes", set("bytes", -5)},
		{"huge-bytes", set("bytes", int64(1)<<62)},
	}
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase} {
		for _, tc := range cases {
			_, err := c.Restore(ctx, bytes.NewReader(tc.data), &tenancy.RestoreOpts{Slug: "foreign", Tier: tier})
			if !errors.Is(err, tenancy.ErrBadArchive) {
				t.Fatalf("%s into %s: %v, want ErrBadArchive", tc.name, tier, err)
			}
			t.Logf("%s into %s: %v", tc.name, tier, err)
			if msg := err.Error(); strings.Contains(msg, "\n") || len(msg) > 300 {
				t.Fatalf("%s: not one clear line: %q", tc.name, msg)
			}
			if after := catalogState(t, db); after != before {
				t.Fatalf("%s into %s: the catalog changed: %+v -> %+v", tc.name, tier, before, after)
			}
			if got := accounts(); got != accountsBefore {
				t.Fatalf("%s into %s: the shared table changed: %q -> %q", tc.name, tier, accountsBefore, got)
			}
		}
	}
}

// uniqueTenant is a tenant migration with a unique constraint not led by tenant_id: in a pool,
// one tenant's row can collide with another's.
var uniqueTenant = fstest.MapFS{"0001_badges.up.sql": {Data: []byte(`
CREATE TABLE badges (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigint GENERATED ALWAYS AS IDENTITY,
    code      text NOT NULL UNIQUE,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE badges ENABLE ROW LEVEL SECURITY;
ALTER TABLE badges FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON badges
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());
`)}}

// TestRestorePoolRefusesCrossTenantKeys: a restore into a pool whose tables have a unique key
// not led by tenant_id is refused before a row is loaded, whether or not a value collides, so
// a restore can neither wait on nor probe another tenant's values. The schema tier takes it.
func TestRestorePoolRefusesCrossTenantKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: archiveShared, TenantMigrations: uniqueTenant, AppMaxConns: 2})
	c := db.Client
	victim, err := c.TenantCreate(ctx, "victim", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	src, err := c.TenantCreate(ctx, "source", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(tenancy.WithTenant(ctx, victim), `INSERT INTO badges (code) VALUES ('victim-secret')`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(tenancy.WithTenant(ctx, src), `INSERT INTO badges (code) VALUES ('victim-secret'), ('own')`); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := c.Backup(ctx, "source", &buf, nil); err != nil {
		t.Fatal(err)
	}
	clean := forge(t, buf.Bytes(), func(name string, body []byte) []byte {
		return bytes.ReplaceAll(body, []byte("victim-secret"), []byte("other"))
	}, nil)
	before := catalogState(t, db)
	for _, tc := range []struct {
		name string
		data []byte
	}{{"colliding", buf.Bytes()}, {"not-colliding", clean}} {
		_, err := c.Restore(ctx, bytes.NewReader(tc.data), &tenancy.RestoreOpts{Slug: "prober", Tier: tenancy.TierPool})
		if !errors.Is(err, tenancy.ErrTierNotAvailable) {
			t.Fatalf("%s: %v, want ErrTierNotAvailable", tc.name, err)
		}
		t.Logf("%s: %v", tc.name, err)
		if strings.Contains(err.Error(), "victim-secret") {
			t.Fatalf("%s: the error shows another tenant's value: %v", tc.name, err)
		}
		if after := catalogState(t, db); after != before {
			t.Fatalf("%s: the catalog changed: %+v -> %+v", tc.name, before, after)
		}
	}
	if _, err := c.Restore(ctx, bytes.NewReader(buf.Bytes()), &tenancy.RestoreOpts{Slug: "own", Tier: tenancy.TierSchema}); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreHostileOlderArchive: an archive of an older release, loaded into a staging schema
// and migrated forward, is bounded the same way before its rows reach the pool.
func TestRestoreHostileOlderArchive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := archiveDB(t, archiveTenantV1(t))
	if _, err := old.Client.TenantCreate(ctx, "old", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool}); err != nil {
		t.Fatal(err)
	}
	oldTenant, err := old.Client.TenantGet(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	fillItems(t, old.Client, oldTenant, 3)
	data := backup(t, old.Client, "old")

	db := archiveDB(t, archiveTenant)
	victim, err := db.Client.TenantCreate(ctx, "victim", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	fillItems(t, db.Client, victim, 3)
	seqs := poolSequences(t, db, victim.Placement.Schema)
	before := catalogState(t, db)
	for name, forged := range map[string][]byte{
		"id": forge(t, data, setLastID("tables/0002.copy", math.MaxInt64-1), nil),
		"sequence": forge(t, data, nil, func(m map[string]any) {
			m["tables"].([]any)[1].(map[string]any)["sequences"] = []any{map[string]any{"column": "id", "last_value": math.MaxInt64 - 1, "is_called": true}}
		}),
	} {
		_, err := db.Client.Restore(ctx, bytes.NewReader(forged), &tenancy.RestoreOpts{Slug: "hostile", Tier: tenancy.TierPool})
		if !errors.Is(err, tenancy.ErrBadArchive) {
			t.Fatalf("%s: %v, want ErrBadArchive", name, err)
		}
		if got := poolSequences(t, db, victim.Placement.Schema); got != seqs {
			t.Fatalf("%s: the pool's shared sequences moved: %v -> %v", name, seqs, got)
		}
		if after := catalogState(t, db); after != before {
			t.Fatalf("%s: the catalog changed: %+v -> %+v", name, before, after)
		}
		insertsStillWork(t, db.Client, victim, name)
		seqs = poolSequences(t, db, victim.Placement.Schema)
	}
}
