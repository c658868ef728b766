package tenancy_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/internal/archive"
)

// fillBespoke writes one row into each of bespoke's tables: common, type and custom.
func fillBespoke(t testing.TB, c *tenancy.Client, tn *tenancy.Tenant) {
	t.Helper()
	err := c.TxFor(context.Background(), tn, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		for _, q := range []string{
			`INSERT INTO notes (body, color) VALUES ('n1', 'red')`,
			`INSERT INTO courses (title) VALUES ('algebra')`,
			`INSERT INTO invoices (amount) VALUES (42.50)`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// bespokeRows reads bespoke's rows back, one string per table.
func bespokeRows(t testing.TB, c *tenancy.Client, tn *tenancy.Tenant) []string {
	t.Helper()
	var out []string
	err := c.TxFor(context.Background(), tn, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		for _, q := range []string{
			`SELECT string_agg(body || ':' || color, ',') FROM notes`,
			`SELECT string_agg(title, ',') FROM courses`,
			`SELECT string_agg(amount::text, ',') FROM invoices`,
		} {
			var s string
			if err := tx.QueryRow(ctx, q).Scan(&s); err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestArchiveTypedCustomRoundTrip backs up a typed, customized tenant and restores it into
// another database of the same application, in each dedicated tier: the type, the custom line
// and every table's rows come back; the pool tier is refused, naming the custom migrations.
func TestArchiveTypedCustomRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newTypedDB(t, nil)
	tn, err := src.Client.TenantCreate(ctx, "bespoke", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema, Type: "school"})
	if err != nil {
		t.Fatal(err)
	}
	fillBespoke(t, src.Client, tn)
	want := bespokeRows(t, src.Client, tn)
	var buf bytes.Buffer
	if _, err := src.Client.Backup(ctx, "bespoke", &buf, nil); err != nil {
		t.Fatal(err)
	}
	m := manifestOf(t, buf.Bytes())
	if m.Tenant.Type != "school" || m.FormatVersion != 2 || len(m.Lines) != 2 {
		t.Fatalf("manifest: type %q, format %d, lines %+v", m.Tenant.Type, m.FormatVersion, m.Lines)
	}
	for _, tier := range []tenancy.Tier{tenancy.TierSchema, tenancy.TierDatabase} {
		t.Run(string(tier), func(t *testing.T) {
			t.Parallel()
			dst := newTypedDB(t, nil)
			got, err := dst.Client.Restore(ctx, bytes.NewReader(buf.Bytes()), &tenancy.RestoreOpts{Tier: tier})
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != "school" || got.Custom != 2 || got.TypeVersion != 1 || got.Tier != tier {
				t.Fatalf("restored %+v", got)
			}
			if rows := bespokeRows(t, dst.Client, got); strings.Join(rows, "|") != strings.Join(want, "|") {
				t.Fatalf("rows %v, want %v", rows, want)
			}
		})
	}
	t.Run("pool", func(t *testing.T) {
		t.Parallel()
		dst := newTypedDB(t, nil)
		before := catalogState(t, dst)
		_, err := dst.Client.Restore(ctx, bytes.NewReader(buf.Bytes()), &tenancy.RestoreOpts{Tier: tenancy.TierPool})
		if !errors.Is(err, tenancy.ErrCustomized) || !strings.Contains(err.Error(), "1_invoices, 2_note_color") {
			t.Fatalf("restore a customized tenant into a pool: %v", err)
		}
		if after := catalogState(t, dst); after != before {
			t.Fatalf("a refused restore changed the catalog: %+v -> %+v", before, after)
		}
	})
}

// TestArchiveTypedPoolRoundTrip: a typed tenant moves out of its type's pool and back, and its
// archive restores into that type's pool, never another type's.
func TestArchiveTypedPoolRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newTypedDB(t, nil)
	c := db.Client
	tn, err := c.TenantCreate(ctx, "lycee", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool, Type: "school"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(tenancy.WithTenant(ctx, tn), `INSERT INTO courses (title) VALUES ('latin')`); err != nil {
		t.Fatal(err)
	}
	if tn.Placement.Schema != "pool_school" {
		t.Fatalf("a school tenant joined %s", tn.Placement.Schema)
	}
	// A pool of another type is refused, and nothing changes.
	if _, err := c.TenantCreate(ctx, "corp", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool, Pool: "school"}); !errors.Is(err, tenancy.ErrTypeMismatch) {
		t.Fatalf("a default tenant into the school pool: %v", err)
	}
	if _, err := c.Move(ctx, "lycee", &tenancy.MoveOpts{Tier: tenancy.TierPool, Pool: "default"}); !errors.Is(err, tenancy.ErrTypeMismatch) {
		t.Fatalf("moved a school tenant into the default pool: %v", err)
	}
	for _, tier := range []tenancy.Tier{tenancy.TierDatabase, tenancy.TierSchema, tenancy.TierPool} {
		moved, err := c.Move(ctx, "lycee", &tenancy.MoveOpts{Tier: tier})
		if err != nil {
			t.Fatalf("move to %s: %v", tier, err)
		}
		if moved.Type != "school" || moved.TypeVersion != 1 {
			t.Fatalf("moved to %s: type %q at %d", tier, moved.Type, moved.TypeVersion)
		}
		if n, err := countIn(ctx, c, moved, "courses"); err != nil || n != 1 {
			t.Fatalf("after the move to %s: %d courses, %v", tier, n, err)
		}
	}
	var buf bytes.Buffer
	if _, err := c.Backup(ctx, "lycee", &buf, nil); err != nil {
		t.Fatal(err)
	}
	got, err := c.Restore(ctx, bytes.NewReader(buf.Bytes()), &tenancy.RestoreOpts{Slug: "lycee-two"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != "school" || got.Placement.Schema != "pool_school" {
		t.Fatalf("restored into %s as %q", got.Placement.Schema, got.Type)
	}
}

// TestRestoreRefusesEditedTypes: an archive edited to claim a type this application does not
// have, or custom migrations that are not the application's, is refused with one clear error,
// and nothing is made.
func TestRestoreRefusesEditedTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newTypedDB(t, nil)
	c := db.Client
	tn, err := c.TenantCreate(ctx, "bespoke", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema, Type: "school"})
	if err != nil {
		t.Fatal(err)
	}
	fillBespoke(t, c, tn)
	var buf bytes.Buffer
	if _, err := c.Backup(ctx, "bespoke", &buf, nil); err != nil {
		t.Fatal(err)
	}
	lines := func(m map[string]any) []any { return m["lines"].([]any) }
	custom := func(m map[string]any) map[string]any {
		for _, l := range lines(m) {
			if l.(map[string]any)["name"] == "custom" {
				return l.(map[string]any)
			}
		}
		panic("no custom line")
	}
	cases := []struct {
		name string
		edit func(m map[string]any)
		opts *tenancy.RestoreOpts
		want error
		text string
	}{
		{"unknown type", func(m map[string]any) {
			m["tenant"].(map[string]any)["type"] = "college"
			for _, l := range lines(m) {
				if l := l.(map[string]any); l["name"] == "type:school" {
					l["name"] = "type:college"
				}
			}
		}, nil, tenancy.ErrUnknownType, `"college"`},
		{"malformed type", func(m map[string]any) { m["tenant"].(map[string]any)["type"] = "Robert'); DROP" }, nil, tenancy.ErrBadArchive, "tenant type"},
		{"type line of another type", func(m map[string]any) { m["tenant"].(map[string]any)["type"] = "plain" }, nil, tenancy.ErrBadArchive, "type:school"},
		{"custom checksum", func(m map[string]any) {
			custom(m)["migrations"].([]any)[1].(map[string]any)["checksum"] = strings.Repeat("0", 64)
		}, nil, tenancy.ErrCustomized, "2_note_color differs"},
		{"custom migration missing", func(m map[string]any) {
			l := custom(m)
			l["migrations"] = l["migrations"].([]any)[:1]
			l["version"] = 1
		}, nil, tenancy.ErrCustomized, "the archive has 1 of them"},
		{"custom line dropped", func(m map[string]any) {
			var keep []any
			for _, l := range lines(m) {
				if l.(map[string]any)["name"] != "custom" {
					keep = append(keep, l)
				}
			}
			m["lines"] = keep
		}, nil, tenancy.ErrCustomized, "none of them"},
		{"custom under another slug", nil, &tenancy.RestoreOpts{Slug: "plainco"}, tenancy.ErrCustomized, "none for plainco"},
	}
	// Restored into another database of the same application, under the archive's slug.
	dst := newTypedDB(t, nil)
	for _, tc := range cases {
		data := buf.Bytes()
		if tc.edit != nil {
			data = forge(t, data, nil, tc.edit)
		}
		before := catalogState(t, dst)
		opts := tc.opts
		if opts == nil {
			opts = &tenancy.RestoreOpts{}
		}
		_, err := dst.Client.Restore(ctx, bytes.NewReader(data), opts)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want %v mentioning %q", tc.name, err, tc.want, tc.text)
		}
		if after := catalogState(t, dst); after != before {
			t.Errorf("%s: the refused restore changed the catalog: %+v -> %+v", tc.name, before, after)
		}
	}
	// An archive from before types (format 1, no type) restores as the default type.
	plain, err := c.TenantCreate(ctx, "corp", nil)
	if err != nil {
		t.Fatal(err)
	}
	addNotes(t, c, plain, "one")
	var old bytes.Buffer
	if _, err := c.Backup(ctx, "corp", &old, nil); err != nil {
		t.Fatal(err)
	}
	if m := manifestOf(t, old.Bytes()); m.FormatVersion != 1 {
		t.Fatalf("an untyped tenant's archive is format %d, want 1 (older releases read it)", m.FormatVersion)
	}
	data := forge(t, old.Bytes(), nil, func(m map[string]any) { delete(m["tenant"].(map[string]any), "type") })
	got, err := c.Restore(ctx, bytes.NewReader(data), &tenancy.RestoreOpts{Slug: "corp-two"})
	if err != nil || got.Type != tenancy.DefaultType {
		t.Fatalf("restore a format 1 archive: %v, %+v", err, got)
	}
	_ = archive.FormatVersion
}
