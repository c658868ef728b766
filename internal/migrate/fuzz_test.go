package migrate

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds Load a migration line of two files with fuzzed names and bodies: it must never
// panic, and what it accepts must be well formed (positive, increasing versions, an up body,
// statements for NO TRANSACTION migrations); what it refuses wraps ErrBadFile or
// ErrDuplicateVersion.
func FuzzLoad(f *testing.F) {
	f.Add("0001_a.up.sql", "CREATE TABLE a (i int);", "0001_a.down.sql", "DROP TABLE a;")
	f.Add("0002_fn.sql", "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- +goose StatementEnd\n-- +goose Down\nDROP FUNCTION f();\n", "0003_idx.sql", "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON a (i);\n")
	f.Add("0001_a.up.sql", " \n", "0001_b.up.sql", "SELECT 1;")
	f.Add("0001_a.sql", "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n", "x.sql", "")
	f.Add("99999999999999999999_a.up.sql", "SELECT 1;", "0000_z.down.sql", "SELECT 1;")
	f.Fuzz(func(t *testing.T, name1, body1, name2, body2 string) {
		fsys := fstest.MapFS{}
		for _, nb := range [][2]string{{name1, body1}, {name2, body2}} {
			// MapFS needs valid, unrooted paths at the root of the FS.
			if nb[0] == "" || strings.ContainsAny(nb[0], "/\\\x00") || nb[0] == "." || nb[0] == ".." {
				continue
			}
			fsys[nb[0]] = &fstest.MapFile{Data: []byte(nb[1])}
		}
		migs, err := Load(fsys)
		if err != nil {
			if !errors.Is(err, ErrBadFile) && !errors.Is(err, ErrDuplicateVersion) && !strings.Contains(err.Error(), "migration") {
				t.Fatalf("Load refused with an unclassified error: %v", err)
			}
			return
		}
		var last int64
		for _, m := range migs {
			if m.Version <= last {
				t.Fatalf("versions not increasing: %d after %d", m.Version, last)
			}
			last = m.Version
			if strings.TrimSpace(m.Up) == "" || len(m.Checksum) != 64 {
				t.Fatalf("accepted a migration with no up body or checksum: %+v", m)
			}
			if m.NoTx && len(m.Statements) == 0 {
				t.Fatalf("accepted a NO TRANSACTION migration with no statement: %+v", m)
			}
			if _, ok := Find(migs, m.Version); !ok {
				t.Fatalf("Find(%d) misses an accepted migration", m.Version)
			}
		}
	})
}
