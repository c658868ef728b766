package catalog_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/migrate"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// legacyLocalCatalogSQL is what releases before the local migration line installed in template
// and home databases (internal/placement's localCatalogSQL, before it became this line), kept here verbatim.
const legacyLocalCatalogSQL = `
CREATE SCHEMA tenancy;
CREATE TABLE tenancy.placements (
    id         bigint PRIMARY KEY,
    kind       text NOT NULL,
    schema     text NOT NULL,
    version    bigint NOT NULL DEFAULT 0,
    tenant_id  bigint,          -- the tenant it was made for; NULL in a template
    catalog    text NOT NULL    -- the catalog database that made it
);
CREATE TABLE tenancy.migrations (
    placement_id bigint NOT NULL REFERENCES tenancy.placements (id) ON DELETE CASCADE,
    version      bigint NOT NULL,
    name         text NOT NULL,
    checksum     text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    duration_ms  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (placement_id, version)
);
CREATE FUNCTION tenancy.current_tenant_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('tenancy.tenant_id', true), '')::bigint $$;`

// emptyDatabase returns an owner connection to a new, empty database, dropped when the test ends.
func emptyDatabase(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	s := tenancytest.Cluster(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "tenancy_localcat_" + hex.EncodeToString(b)
	if _, err := s.SuperPool().Exec(ctx, `CREATE DATABASE `+name+` OWNER `+tenancytest.OwnerRole); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = s.SuperPool().Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	conn, err := pgx.Connect(ctx, s.URL(tenancytest.OwnerRole, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func install(t *testing.T, conn *pgx.Conn, migs []migrate.Migration) error {
	t.Helper()
	return pgx.BeginFunc(context.Background(), conn, func(tx pgx.Tx) error {
		if migs == nil {
			return catalog.InstallLocal(context.Background(), tx)
		}
		return catalog.InstallLocalFrom(context.Background(), tx, migs)
	})
}

func versions(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT version || '_' || name FROM tenancy.catalog_version ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// withLocal returns the local migration line with extra migrations after it.
func withLocal(t *testing.T, extra map[string]string) []migrate.Migration {
	t.Helper()
	fsys := fstest.MapFS{}
	base, err := migrate.Load(catalog.LocalFiles())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range base {
		fsys[fmtName(m)] = &fstest.MapFile{Data: []byte(m.Up)}
	}
	for name, body := range extra {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	migs, err := migrate.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return migs
}

// localLine is the shipped local line's versions as versions reports them.
func localLine(t *testing.T) []string {
	t.Helper()
	migs, err := migrate.Load(catalog.LocalFiles())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range migs {
		out = append(out, fmt.Sprintf("%d_%s", m.Version, m.Name))
	}
	return out
}

func fmtName(m migrate.Migration) string { return fmt.Sprintf("%04d_%s.up.sql", m.Version, m.Name) }

func TestInstallLocalFresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := emptyDatabase(t)
	if err := install(t, conn, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := versions(t, conn), localLine(t); !slices.Equal(got, want) {
		t.Fatalf("versions = %v, want %v", got, want)
	}
	// What the old string made, a placement row and its ledger, and the function RLS policies use.
	if _, err := conn.Exec(ctx, `INSERT INTO tenancy.placements (id, kind, schema, catalog) VALUES (1, 'database', 'tenant', 'c')`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO tenancy.migrations (placement_id, version, name, checksum) VALUES (1, 1, 'x', 'y')`); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := conn.QueryRow(ctx, `SELECT set_config('tenancy.tenant_id', '7', false)::bigint, tenancy.current_tenant_id()`).Scan(new(int64), &id); err != nil || id != 7 {
		t.Fatalf("current_tenant_id() = %d, %v; want 7", id, err)
	}
	// Idempotent: a rerun changes nothing.
	if err := install(t, conn, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := versions(t, conn), localLine(t); !slices.Equal(got, want) {
		t.Fatalf("versions after a rerun = %v, want %v", got, want)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM tenancy.placements`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("placements after a rerun = %d, %v", n, err)
	}
}

// TestInstallLocalLegacy: a local catalog made by the old Go string is recognised as version 1
// and upgraded from there, keeping its rows.
func TestInstallLocalLegacy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := emptyDatabase(t)
	if _, err := conn.Exec(ctx, legacyLocalCatalogSQL); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO tenancy.placements (id, kind, schema, catalog) VALUES (1, 'database', 'tenant', 'c')`); err != nil {
		t.Fatal(err)
	}
	if err := install(t, conn, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := versions(t, conn), localLine(t); !slices.Equal(got, want) {
		t.Fatalf("versions = %v, want %v", got, want)
	}
	next := withLocal(t, map[string]string{"0099_note.up.sql": `ALTER TABLE tenancy.placements ADD COLUMN note text NOT NULL DEFAULT 'upgraded'`})
	if err := install(t, conn, next); err != nil {
		t.Fatal(err)
	}
	if got, want := versions(t, conn), append(localLine(t), "99_note"); !slices.Equal(got, want) {
		t.Fatalf("versions = %v, want %v", got, want)
	}
	var note string
	if err := conn.QueryRow(ctx, `SELECT note FROM tenancy.placements WHERE id = 1`).Scan(&note); err != nil || note != "upgraded" {
		t.Fatalf("note = %q, %v", note, err)
	}
	if err := install(t, conn, next); err != nil {
		t.Fatal(err)
	}
	// A release that knows only the shipped line refuses a newer local catalog instead of misreading it.
	if err := install(t, conn, nil); err == nil {
		t.Fatal("InstallLocal accepted a local catalog newer than it knows")
	}
}

// A fresh install of a longer line applies every step in order.
func TestInstallLocalFreshLine(t *testing.T) {
	t.Parallel()
	conn := emptyDatabase(t)
	next := withLocal(t, map[string]string{"0099_note.up.sql": `ALTER TABLE tenancy.placements ADD COLUMN note text`})
	if err := install(t, conn, next); err != nil {
		t.Fatal(err)
	}
	if got, want := versions(t, conn), append(localLine(t), "99_note"); !slices.Equal(got, want) {
		t.Fatalf("versions = %v", got)
	}
}

// A schema tenancy that is not a local catalog is refused and left alone.
func TestInstallLocalForeign(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := emptyDatabase(t)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA tenancy; CREATE TABLE tenancy.other (x int)`); err != nil {
		t.Fatal(err)
	}
	if err := install(t, conn, nil); err == nil {
		t.Fatal("InstallLocal accepted a foreign tenancy schema")
	}
	var ledger bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('tenancy.catalog_version') IS NOT NULL`).Scan(&ledger); err != nil || ledger {
		t.Fatalf("version table created: %v, %v", ledger, err)
	}
}

// The catalog's own database is never taken for a local catalog.
func TestInstallLocalMainCatalog(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, nil)
	err := pgx.BeginFunc(context.Background(), db.OwnerPool, func(tx pgx.Tx) error {
		return catalog.InstallLocal(context.Background(), tx)
	})
	if err == nil {
		t.Fatal("InstallLocal accepted the catalog's own database")
	}
}

// Version 1 is exactly what releases before the line installed, so recording an old local
// catalog as version 1 is true.
func TestLocalVersionOneIsLegacy(t *testing.T) {
	t.Parallel()
	migs, err := migrate.Load(catalog.LocalFiles())
	if err != nil {
		t.Fatal(err)
	}
	var sql []string
	for _, line := range strings.Split(migs[0].Up, "\n") {
		if !strings.HasPrefix(line, "--") {
			sql = append(sql, line)
		}
	}
	if got, want := strings.TrimSpace(strings.Join(sql, "\n")), strings.TrimSpace(legacyLocalCatalogSQL); got != want {
		t.Fatalf("0001 differs from the legacy local catalog:\n%s\nwant\n%s", got, want)
	}
}
