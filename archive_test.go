package tenancy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/internal/archive"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The archive tests' application: tenant tables covering the types an archive must carry
// exactly (testdata/archive/migrations).
var (
	archiveShared = os.DirFS("testdata/archive/migrations/shared")
	archiveTenant = os.DirFS("testdata/archive/migrations/tenant")
)

// archiveTenantUpTo returns the tenant migrations up to version 1 only (an older release).
func archiveTenantV1(t testing.TB) fs.FS {
	t.Helper()
	data, err := fs.ReadFile(archiveTenant, "0001_items.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{"0001_items.up.sql": {Data: data}}
}

func archiveDB(t testing.TB, tenant fs.FS) *tenancytest.DB {
	t.Helper()
	return tenancytest.New(t, &tenancytest.Options{SharedMigrations: archiveShared, TenantMigrations: tenant, AppMaxConns: 2})
}

// withSecond adds the second cluster to db as server "second".
func withSecond(t testing.TB, db *tenancytest.DB) {
	t.Helper()
	owner, app := db.SecondServer(t)
	if _, err := db.Client.ServerAdd(context.Background(), "second", owner, app); err != nil {
		t.Fatal(err)
	}
}

// fillItems gives tn n items (every awkward value the types allow, NULLs every fifth row) and
// two notes per item, written through the binding as the application role.
func fillItems(t testing.TB, c *tenancy.Client, tn *tenancy.Tenant, n int) {
	t.Helper()
	fillItemsTail(t, c, tn, n, "")
}

// fillItemsTail is fillItems with tail after each INSERT (citus_pool_test.go's RETURNING).
func fillItemsTail(t testing.TB, c *tenancy.Client, tn *tenancy.Tenant, n int, tail string) {
	t.Helper()
	ctx := tenancy.WithTenant(context.Background(), tn)
	err := c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO items (name, price, ratio, data, tags, blob, at, day, span, uid)
			SELECT CASE g % 4 WHEN 0 THEN 'tab' || E'\t' || 'nl' || E'\n' || 'bs\\' || g
			                  WHEN 1 THEN 'ünïcødé ✓ ' || g WHEN 2 THEN '' ELSE 'plain ' || g END,
			       CASE WHEN g % 5 = 0 THEN NULL ELSE (g * 37.1234 - 50)::numeric(14, 4) END,
			       CASE g % 6 WHEN 0 THEN NULL WHEN 1 THEN 1.0 / 3 WHEN 2 THEN 'Infinity' WHEN 3 THEN -0.0 WHEN 4 THEN 1e-300 ELSE 0.1 + 0.2 END,
			       CASE WHEN g % 5 = 0 THEN NULL ELSE jsonb_build_object('n', g, 'f', 1.5e10, 's', 'q"uote\', 'a', jsonb_build_array(1, 'x', NULL), 'u', 'ü') END,
			       CASE WHEN g % 5 = 0 THEN NULL ELSE ARRAY['a', NULL, 'with space', 'q"', '{br}', 'x' || g] END,
			       CASE WHEN g % 5 = 0 THEN NULL ELSE decode('00ff10' || lpad(to_hex(g), 6, '0') || '5c0a09', 'hex') END,
			       CASE WHEN g % 5 = 0 THEN NULL WHEN g % 7 = 0 THEN 'infinity' ELSE '2024-02-29 23:59:59.123456+05:30'::timestamptz + g * interval '1 hour' END,
			       CASE WHEN g % 5 = 0 THEN NULL ELSE date '1999-12-31' + g END,
			       CASE WHEN g % 5 = 0 THEN NULL ELSE make_interval(0, g, 0, g, 1, 2, 3.5) END,
			       CASE WHEN g % 5 = 0 THEN NULL ELSE md5(g::text)::uuid END
			FROM generate_series(1, $1) g`+tail, n); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO item_notes (item_id, body) SELECT id, 'note ' || k || ' of ' || id FROM items, generate_series(1, 2) k ORDER BY id, k`+tail)
		return err
	})
	if err != nil {
		t.Fatalf("fill %s: %v", tn.Slug, err)
	}
}

// snapshot reads every row of tn's tables as the application role, without tenant_id, in key
// order: two tenants with equal snapshots hold the same rows.
func snapshot(t testing.TB, c *tenancy.Client, tn *tenancy.Tenant) map[string][]string {
	t.Helper()
	ctx := tenancy.WithTenant(context.Background(), tn)
	out := map[string][]string{}
	for _, q := range []struct{ table, sql string }{
		{"items", `SELECT (to_jsonb(x) - 'tenant_id')::text || ' ' || coalesce(x.ratio::text, '') || ' ' || coalesce(x.blob::text, '') FROM items x ORDER BY id`},
		{"item_notes", `SELECT (to_jsonb(x) - 'tenant_id')::text FROM item_notes x ORDER BY id`},
	} {
		rows, err := c.Query(ctx, q.sql)
		if err != nil {
			t.Fatalf("read %s of %s: %v", q.table, tn.Slug, err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("read %s of %s: %v", q.table, tn.Slug, err)
		}
		out[q.table] = got
	}
	return out
}

func sameSnapshot(t testing.TB, what string, want, got map[string][]string) {
	t.Helper()
	for table, w := range want {
		g := got[table]
		if len(w) == 0 {
			t.Fatalf("%s: the source has no %s rows: the test proves nothing", what, table)
		}
		if !slices.Equal(w, g) {
			n := min(len(w), len(g))
			for i := 0; i < n; i++ {
				if w[i] != g[i] {
					t.Fatalf("%s: %s row %d differs:\n want %s\n got  %s", what, table, i, w[i], g[i])
				}
			}
			t.Fatalf("%s: %s has %d rows, want %d", what, table, len(g), len(w))
		}
	}
}

// backup returns tn's archive.
func backup(t testing.TB, c *tenancy.Client, slug string) []byte {
	t.Helper()
	var buf bytes.Buffer
	res, err := c.Backup(context.Background(), slug, &buf, nil)
	if err != nil {
		t.Fatalf("backup %s: %v", slug, err)
	}
	if res.Bytes != int64(buf.Len()) || res.Tables != 2 {
		t.Fatalf("backup %s: result %+v for %d bytes", slug, res, buf.Len())
	}
	return buf.Bytes()
}

// manifestOf reads an archive's manifest (and checks the whole archive).
func manifestOf(t testing.TB, data []byte) *archive.Manifest {
	t.Helper()
	r, err := archive.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return r.Manifest()
}

// sameRowBytes checks that two archives hold byte-for-byte the same rows.
func sameRowBytes(t testing.TB, a, b []byte) {
	t.Helper()
	ma, mb := manifestOf(t, a), manifestOf(t, b)
	if len(ma.Tables) != len(mb.Tables) {
		t.Fatalf("%d tables vs %d", len(ma.Tables), len(mb.Tables))
	}
	for i := range ma.Tables {
		ta, tb := ma.Tables[i], mb.Tables[i]
		if ta.Name != tb.Name || ta.Rows != tb.Rows || ta.SHA256 != tb.SHA256 || ta.Rows == 0 {
			t.Fatalf("table %s: %d rows %s vs %s: %d rows %s", ta.Name, ta.Rows, ta.SHA256[:12], tb.Name, tb.Rows, tb.SHA256[:12])
		}
	}
}

type tierPair struct {
	name       string
	from, to   tenancy.Tier
	fromServer string
	toServer   string
}

var tierPairs = []tierPair{
	{"pool-to-schema", tenancy.TierPool, tenancy.TierSchema, "", tenancy.ServerDefault},
	{"schema-to-database", tenancy.TierSchema, tenancy.TierDatabase, tenancy.ServerDefault, tenancy.ServerDefault},
	{"database-to-pool", tenancy.TierDatabase, tenancy.TierPool, tenancy.ServerDefault, ""},
	{"schema-to-second-server", tenancy.TierSchema, tenancy.TierSchema, tenancy.ServerDefault, "second"},
	{"pool-to-second-server-database", tenancy.TierPool, tenancy.TierDatabase, "", "second"},
	{"second-server-database-to-schema", tenancy.TierDatabase, tenancy.TierSchema, "second", tenancy.ServerDefault},
}

// owners are the owner setups a pair runs under: all three when a pool is involved, where the
// owner-side statements must name the tenant (admin_owner_test.go), else the plain owner.
func (pc tierPair) owners() []tenancytest.Owner {
	if pc.from == tenancy.TierPool || pc.to == tenancy.TierPool {
		return tenancytest.Owners
	}
	return []tenancytest.Owner{tenancytest.OwnerPlain}
}

// setUp makes pc's database under owner o and, in pc's source placement, tenant slug with rows
// items and a neighbour with neighbourRows.
func (pc tierPair) setUp(t *testing.T, o tenancytest.Owner, slug string, rows, neighbourRows int) (db *tenancytest.DB, src, neighbour *tenancy.Tenant) {
	t.Helper()
	ctx := context.Background()
	db = ownerArchiveDB(t, o)
	if pc.fromServer == "second" || pc.toServer == "second" {
		withSecond(t, db)
	}
	var err error
	if src, err = db.Client.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: pc.from, Server: pc.fromServer}); err != nil {
		t.Fatal(err)
	}
	if neighbour, err = db.Client.TenantCreate(ctx, "neighbour", &tenancy.TenantCreateOpts{Tier: pc.from, Server: pc.fromServer}); err != nil {
		t.Fatal(err)
	}
	fillItems(t, db.Client, src, rows)
	fillItems(t, db.Client, neighbour, neighbourRows)
	return db, src, neighbour
}

// TestRestoreTierPairs backs a tenant up in one tier and restores it under a new slug in
// another: the rows are the same to the byte, sequences continue after them, and a neighbour
// in the same pool is neither copied nor touched.
func TestRestoreTierPairs(t *testing.T) {
	t.Parallel()
	for _, pc := range tierPairs {
		for _, o := range pc.owners() {
			t.Run(pc.name+"/"+o.String(), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				db, src, neighbour := pc.setUp(t, o, "source", 40, 7)
				c := db.Client
				if _, err := c.DomainAdd(ctx, "source", "source.example.com", nil); err != nil {
					t.Fatal(err)
				}
				before, neighbourBefore := snapshot(t, c, src), snapshot(t, c, neighbour)
				data := backup(t, c, "source")
				if m := manifestOf(t, data); m.Tenant.Slug != "source" || len(m.Tenant.Domains) != 1 || m.Version != 2 || m.Tables[0].Name != "items" || m.Tables[0].Rows != 40 {
					t.Fatalf("manifest: %+v", m)
				}

				got, err := c.Restore(ctx, bytes.NewReader(data), &tenancy.RestoreOpts{Slug: "restored", Tier: pc.to, Server: pc.toServer})
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tenancy.StatusActive || got.Tier != pc.to || got.ID == src.ID || got.Version != 2 || len(got.Domains) != 0 {
					t.Fatalf("restored: %+v", got)
				}
				if pc.toServer == "second" && got.Placement.Server != "second" {
					t.Fatalf("restored on %q, want second", got.Placement.Server)
				}
				sameSnapshot(t, "restored", before, snapshot(t, c, got))
				sameRowBytes(t, data, backup(t, c, "restored"))
				sameSnapshot(t, "neighbour", neighbourBefore, snapshot(t, c, neighbour))
				sameSnapshot(t, "source", before, snapshot(t, c, src))

				// Sequences continue after the restored rows.
				var id int64
				if err := c.QueryRow(tenancy.WithTenant(ctx, got), `INSERT INTO item_notes (item_id, body) VALUES (1, 'new') RETURNING id`).Scan(&id); err != nil {
					t.Fatal(err)
				}
				if id <= 80 {
					t.Fatalf("new note id %d: the sequence did not continue after the 80 restored notes", id)
				}
			})
		}
	}
}

// TestRestoreOlderArchive restores an archive made by a release with fewer tenant migrations:
// it is loaded at its version and migrated forward (the backfill runs on its rows), in every
// tier. The other way round is refused and leaves nothing.
func TestRestoreOlderArchive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := archiveDB(t, archiveTenantV1(t))
	src, err := old.Client.TenantCreate(ctx, "old", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	fillItems(t, old.Client, src, 20)
	var oldArchive bytes.Buffer
	if _, err := old.Client.Backup(ctx, "old", &oldArchive, nil); err != nil {
		t.Fatal(err)
	}

	db := archiveDB(t, archiveTenant)
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase} {
		got, err := db.Client.Restore(ctx, bytes.NewReader(oldArchive.Bytes()), &tenancy.RestoreOpts{Slug: "new-" + string(tier), Tier: tier})
		if err != nil {
			t.Fatalf("%s: %v", tier, err)
		}
		if got.Version != 2 {
			t.Fatalf("%s: version %d", tier, got.Version)
		}
		var blue, red, items int
		err = db.Client.QueryRow(tenancy.WithTenant(ctx, got), `SELECT count(*) FILTER (WHERE color = 'blue'), count(*) FILTER (WHERE color = 'red'), count(*) FROM items`).Scan(&blue, &red, &items)
		if err != nil {
			t.Fatal(err)
		}
		// price = g*37.1234-50 > 100 for g >= 5, NULL for g % 5 = 0.
		if items != 20 || blue != 12 || red != 8 {
			t.Fatalf("%s: %d items, %d blue, %d red: not migrated forward", tier, items, blue, red)
		}
		var staging int
		if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM tenancy.placements WHERE schema LIKE 'tenancy_restore_%'`).Scan(&staging); err != nil || staging != 0 {
			t.Fatalf("staging placements left: %d %v", staging, err)
		}
	}

	newer := backup(t, db.Client, "new-pool")
	before := catalogState(t, old)
	_, err = old.Client.Restore(ctx, bytes.NewReader(newer), &tenancy.RestoreOpts{Slug: "from-the-future"})
	if !errors.Is(err, tenancy.ErrArchiveTooNew) {
		t.Fatalf("newer archive: %v, want ErrArchiveTooNew", err)
	}
	if after := catalogState(t, old); after != before {
		t.Fatalf("a refused restore changed the catalog: %+v -> %+v", before, after)
	}
}

// catalogStateT is what a refused restore must not change.
type catalogStateT struct {
	tenants, placements, schemas, databases, domains, moves int
}

func catalogState(t testing.TB, db *tenancytest.DB) catalogStateT {
	t.Helper()
	var s catalogStateT
	err := db.OwnerPool.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM tenancy.tenants), (SELECT count(*) FROM tenancy.placements),
		       (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenan%' OR nspname LIKE 'pool\_%'),
		       (SELECT count(*) FROM pg_database WHERE datname LIKE current_database() || '\_%'),
		       (SELECT count(*) FROM tenancy.domains), (SELECT count(*) FROM tenancy.moves)`).
		Scan(&s.tenants, &s.placements, &s.schemas, &s.databases, &s.domains, &s.moves)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rewrite re-packs an archive, passing each entry through edit; with reseal, the manifest's
// checksums and the seal are recomputed, as a forger would.
func rewrite(t testing.TB, data []byte, edit func(name string, body []byte) []byte, reseal bool) []byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	type entry struct {
		name string
		body []byte
	}
	var entries []entry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, entry{hdr.Name, edit(hdr.Name, body)})
	}
	if reseal {
		var m map[string]any
		if err := json.Unmarshal(entries[0].body, &m); err != nil {
			t.Fatal(err)
		}
		tables := m["tables"].([]any)
		for i, tb := range tables {
			body := entries[i+1].body
			sum := sha256.Sum256(body)
			tb.(map[string]any)["sha256"] = hex.EncodeToString(sum[:])
			tb.(map[string]any)["bytes"] = len(body)
			tb.(map[string]any)["rows"] = bytes.Count(body, []byte{'\n'})
		}
		entries[0].body, _ = json.Marshal(m)
		sum := sha256.Sum256(entries[0].body)
		entries[len(entries)-1].body, _ = json.Marshal(map[string]any{"manifest_sha256": hex.EncodeToString(sum[:]), "tables": len(tables)})
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o600, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}

// editManifest returns an edit that changes the manifest's JSON with fn.
func editManifest(fn func(m map[string]any)) func(string, []byte) []byte {
	return func(name string, body []byte) []byte {
		if name != "manifest.json" {
			return body
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			panic(err)
		}
		fn(m)
		out, _ := json.Marshal(m)
		return out
	}
}

// TestRestoreRefusesBadArchives feeds Restore truncated, corrupted, edited and forged archives:
// each is refused with one clear error and changes nothing; a forged archive naming another
// tenant cannot reach that tenant's rows.
func TestRestoreRefusesBadArchives(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := archiveDB(t, archiveTenant)
	c := db.Client
	victim, err := c.TenantCreate(ctx, "victim", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	src, err := c.TenantCreate(ctx, "source", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	fillItems(t, c, victim, 10)
	fillItems(t, c, src, 25)
	victimRows := snapshot(t, c, victim)
	data := backup(t, c, "source")
	// The template database of the database tier exists before the state is taken.
	if _, err := c.TenantCreate(ctx, "warm", &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase}); err != nil {
		t.Fatal(err)
	}
	before := catalogState(t, db)

	flip := bytes.Clone(data)
	flip[len(flip)/2] ^= 0x5a
	editRow := func(name string, body []byte) []byte {
		if name == "tables/0001.copy" {
			body = bytes.Clone(body)
			body[len(body)/2] ^= 1
		}
		return body
	}
	badValue := func(name string, body []byte) []byte {
		if name == "tables/0001.copy" {
			return bytes.Replace(body, []byte("\t"), []byte("\tnot-a-number-or-column\t"), 1)
		}
		return body
	}
	cases := []struct {
		name string
		data []byte
		opts *tenancy.RestoreOpts
		want error
	}{
		{"empty", nil, nil, tenancy.ErrBadArchive},
		{"not-gzip", []byte("hello, world"), nil, tenancy.ErrBadArchive},
		{"truncated-header", data[:15], nil, tenancy.ErrBadArchive},
		{"truncated-quarter", data[:len(data)/4], nil, tenancy.ErrBadArchive},
		{"truncated-half", data[:len(data)/2], &tenancy.RestoreOpts{Slug: "t-half", Tier: tenancy.TierDatabase}, tenancy.ErrBadArchive},
		{"truncated-end", data[:len(data)-9], &tenancy.RestoreOpts{Slug: "t-end"}, tenancy.ErrBadArchive},
		{"corrupted", flip, &tenancy.RestoreOpts{Slug: "t-flip"}, tenancy.ErrBadArchive},
		{"row-edited", rewrite(t, data, editRow, false), &tenancy.RestoreOpts{Slug: "t-row", Tier: tenancy.TierSchema}, tenancy.ErrBadArchive},
		{"manifest-edited-to-victim", rewrite(t, data, editManifest(func(m map[string]any) {
			m["tenant"].(map[string]any)["slug"] = "victim"
		}), false), &tenancy.RestoreOpts{Slug: "t-edit"}, tenancy.ErrBadArchive},
		{"forged-to-victim-slug", rewrite(t, data, editManifest(func(m map[string]any) {
			m["tenant"].(map[string]any)["slug"] = "victim"
			m["tenant"].(map[string]any)["id"] = victim.ID
		}), true), nil, tenancy.ErrTenantExists},
		{"forged-bad-value", rewrite(t, data, badValue, true), &tenancy.RestoreOpts{Slug: "t-value", Tier: tenancy.TierDatabase}, tenancy.ErrBadArchive},
		{"forged-newer-format", rewrite(t, data, editManifest(func(m map[string]any) { m["format_version"] = 99 }), true), nil, tenancy.ErrBadArchive},
		{"forged-other-application", rewrite(t, data, editManifest(func(m map[string]any) {
			m["migrations"].([]any)[0].(map[string]any)["checksum"] = "0000"
		}), true), &tenancy.RestoreOpts{Slug: "t-app"}, tenancy.ErrBadArchive},
		{"forged-extra-column", rewrite(t, data, editManifest(func(m map[string]any) {
			tb := m["tables"].([]any)[0].(map[string]any)
			tb["columns"] = append(tb["columns"].([]any), map[string]any{"name": "evil", "type": "text"})
		}), true), &tenancy.RestoreOpts{Slug: "t-col", Tier: tenancy.TierPool}, tenancy.ErrBadArchive},
	}
	for _, tc := range cases {
		_, err := c.Restore(ctx, bytes.NewReader(tc.data), tc.opts)
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
		t.Logf("%s: %v", tc.name, err)
		if msg := err.Error(); strings.Contains(msg, "\n") || len(msg) > 300 {
			t.Fatalf("%s: not one clear line: %q", tc.name, msg)
		}
		if after := catalogState(t, db); after != before {
			t.Fatalf("%s: the catalog changed: %+v -> %+v", tc.name, before, after)
		}
		sameSnapshot(t, tc.name+": victim", victimRows, snapshot(t, c, victim))
	}

	// An archive forged to carry the victim's id restores as a new tenant with an id of its own:
	// the id in a manifest never chooses whose rows are written.
	forged := rewrite(t, data, editManifest(func(m map[string]any) { m["tenant"].(map[string]any)["id"] = victim.ID }), true)
	got, err := c.Restore(ctx, bytes.NewReader(forged), &tenancy.RestoreOpts{Slug: "forged", Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == victim.ID {
		t.Fatal("the forged archive took the victim's id")
	}
	sameSnapshot(t, "victim after a forged restore", victimRows, snapshot(t, c, victim))
	sameSnapshot(t, "forged", snapshot(t, c, src), snapshot(t, c, got))
}

// BenchmarkBackup backs up one tenant of 40 items and 80 notes, by tier (the figures among a
// fleet come from bench/archive).
func BenchmarkBackup(b *testing.B) {
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase} {
		b.Run(string(tier), func(b *testing.B) {
			db := archiveDB(b, archiveTenant)
			tn, err := db.Client.TenantCreate(context.Background(), "bench", &tenancy.TenantCreateOpts{Tier: tier})
			if err != nil {
				b.Fatal(err)
			}
			fillItems(b, db.Client, tn, 40)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := db.Client.Backup(context.Background(), "bench", io.Discard, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRestoreCrashLeavesNothing interrupts restores at their steps: Repair then removes the
// half-restored tenant and its placement (it does not provision it empty), and the same archive
// restores cleanly afterwards.
func TestRestoreCrashLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := archiveDB(t, archiveTenant)
	c := db.Client
	src, err := c.TenantCreate(ctx, "source", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	fillItems(t, c, src, 12)
	want := snapshot(t, c, src)
	data := backup(t, c, "source")
	if _, err := c.TenantCreate(ctx, "warm", &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase}); err != nil {
		t.Fatal(err)
	}
	before := catalogState(t, db)
	for _, st := range []struct {
		step string
		tier tenancy.Tier
	}{
		{"restore:created", tenancy.TierSchema},
		{"fill:database", tenancy.TierDatabase},
		{"fill:loaded", tenancy.TierDatabase},
		{"fill:committed", tenancy.TierDatabase},
		{"fill:loaded", tenancy.TierPool},
		{"fill:loaded", tenancy.TierSchema},
	} {
		crashed := crashAt(db, st.step)
		_, err := c.Restore(ctx, bytes.NewReader(data), &tenancy.RestoreOpts{Slug: "copy", Tier: st.tier})
		tenancy.SetTestHook(c, nil)
		if err == nil || !crashed.Load() {
			t.Fatalf("%s into %s: no crash (%v)", st.step, st.tier, err)
		}
		if got, err := c.TenantGet(ctx, "copy"); err == nil && got.Status != tenancy.StatusProvisioning {
			t.Fatalf("%s into %s: a half-restored tenant is %s", st.step, st.tier, got.Status)
		}
		res, err := c.Repair(ctx)
		if err != nil || len(res.Failed) > 0 || len(res.Provisioned) > 0 {
			t.Fatalf("%s into %s: repair %+v %v", st.step, st.tier, res, err)
		}
		if after := catalogState(t, db); after != before {
			t.Fatalf("%s into %s: left behind: %+v -> %+v", st.step, st.tier, before, after)
		}
	}
	got, err := c.Restore(ctx, bytes.NewReader(data), &tenancy.RestoreOpts{Slug: "copy", Tier: tenancy.TierDatabase})
	if err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, "copy", want, snapshot(t, c, got))
}

// TestRestoreKeepsPool restores a pool tenant into the pool it came from when that pool exists.
func TestRestoreKeepsPool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := archiveDB(t, archiveTenant)
	c := db.Client
	src, err := c.TenantCreate(ctx, "swimmer", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool, Pool: "lane2"})
	if err != nil {
		t.Fatal(err)
	}
	fillItems(t, c, src, 3)
	data := backup(t, c, "swimmer")
	got, err := c.Restore(ctx, bytes.NewReader(data), &tenancy.RestoreOpts{Slug: "swimmer-copy"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Tier != tenancy.TierPool || got.Placement.Schema != "pool_lane2" {
		t.Fatalf("restored into %s %s, want pool_lane2", got.Tier, got.Placement.Schema)
	}
	sameSnapshot(t, "swimmer-copy", snapshot(t, c, src), snapshot(t, c, got))
}
