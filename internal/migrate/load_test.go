package migrate

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadGoose(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"0001_notes.up.sql":   {Data: []byte("CREATE TABLE notes (id int);\n")},
		"0001_notes.down.sql": {Data: []byte("DROP TABLE notes;\n")},
		"0002_fn.sql": {Data: []byte(`-- a goose file
-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    RETURN 1;
END
$$;
-- +goose StatementEnd
ALTER TABLE notes ADD COLUMN x int;

-- +goose Down
DROP FUNCTION f();
`)},
		"0003_idx.sql": {Data: []byte(`-- +goose NO TRANSACTION
-- +goose up
CREATE INDEX CONCURRENTLY notes_x ON notes (x);
-- a comment
CREATE INDEX CONCURRENTLY notes_id
    ON notes (id);
-- +goose down
DROP INDEX notes_x;
`)},
		"README.md": {Data: []byte("ignored")},
	}
	migs, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) != 3 {
		t.Fatalf("got %d migrations, want 3", len(migs))
	}
	if m := migs[0]; m.Name != "notes" || m.Down != "DROP TABLE notes;\n" || m.NoTx {
		t.Errorf("plain migration: %+v", m)
	}
	fn := migs[1]
	if fn.NoTx || !strings.Contains(fn.Up, "RETURN 1;") || strings.Contains(fn.Up, "DROP FUNCTION") || !strings.Contains(fn.Down, "DROP FUNCTION") {
		t.Errorf("goose up/down split wrong:\nUP:\n%s\nDOWN:\n%s", fn.Up, fn.Down)
	}
	if got := splitStatements(fn.Up); len(got) != 2 || !strings.HasPrefix(got[0], "CREATE FUNCTION") || !strings.HasSuffix(got[0], "$$;") {
		t.Errorf("StatementBegin/End block split wrong: %q", got)
	}
	idx := migs[2]
	want := []string{"CREATE INDEX CONCURRENTLY notes_x ON notes (x);", "-- a comment\nCREATE INDEX CONCURRENTLY notes_id\n    ON notes (id);"}
	if !idx.NoTx || !reflect.DeepEqual(idx.Statements, want) {
		t.Errorf("NO TRANSACTION: NoTx=%v statements %q, want %q", idx.NoTx, idx.Statements, want)
	}
	for i := range migs {
		if len(migs[i].Checksum) != 64 {
			t.Errorf("migration %d has no checksum", migs[i].Version)
		}
	}
}

func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		files fstest.MapFS
		want  error
		text  string
	}{
		"duplicate version":            {fstest.MapFS{"0001_a.up.sql": {Data: []byte("SELECT 1;")}, "0001_b.up.sql": {Data: []byte("SELECT 2;")}}, ErrDuplicateVersion, `"a" and "b"`},
		"goose and plain same version": {fstest.MapFS{"0001_a.up.sql": {Data: []byte("SELECT 1;")}, "0001_a.sql": {Data: []byte("-- +goose Up\nSELECT 2;")}}, ErrDuplicateVersion, "two up files"},
		"bad name":                     {fstest.MapFS{"one_a.up.sql": {Data: []byte("SELECT 1;")}}, ErrBadFile, "one_a.up.sql"},
		"empty":                        {fstest.MapFS{"0001_a.up.sql": {Data: []byte(" \n")}}, ErrBadFile, "empty"},
		"down only":                    {fstest.MapFS{"0001_a.down.sql": {Data: []byte("SELECT 1;")}}, ErrBadFile, "no up file"},
		"no goose up":                  {fstest.MapFS{"0001_a.sql": {Data: []byte("SELECT 1;")}}, ErrBadFile, "+goose Up"},
		"open block":                   {fstest.MapFS{"0001_a.sql": {Data: []byte("-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n")}}, ErrBadFile, "StatementBegin without StatementEnd"},
		"envsub":                       {fstest.MapFS{"0001_a.sql": {Data: []byte("-- +goose Up\n-- +goose ENVSUB ON\nSELECT 1;\n")}}, ErrBadFile, "ENVSUB"},
		"zero version":                 {fstest.MapFS{"0000_a.up.sql": {Data: []byte("SELECT 1;")}}, ErrBadFile, "positive"},
		"empty goose up":               {fstest.MapFS{"0001_a.sql": {Data: []byte("-- +goose Up\n-- nothing\n-- +goose Down\nSELECT 1;\n")}}, ErrBadFile, "no statement"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tc.files)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Load: %v; want %v mentioning %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestInTxForm(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"CREATE INDEX CONCURRENTLY a ON t (x);":                             "CREATE INDEX a ON t (x);",
		"-- why\ncreate unique index concurrently if not exists a on t (x)": "-- why\ncreate unique index if not exists a on t (x)",
		"DROP INDEX CONCURRENTLY a":                                         "DROP INDEX a",
		"REINDEX (VERBOSE) TABLE CONCURRENTLY t":                            "REINDEX (VERBOSE) TABLE t",
		"INSERT INTO t VALUES ('CREATE INDEX CONCURRENTLY x')":              "INSERT INTO t VALUES ('CREATE INDEX CONCURRENTLY x')",
	} {
		if got := inTxForm(in); got != want {
			t.Errorf("inTxForm(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckLedger(t *testing.T) {
	t.Parallel()
	migs := []Migration{{Version: 1, Checksum: "a", File: "0001_a.up.sql"}, {Version: 2, Checksum: "b", File: "0002_b.up.sql"}, {Version: 3, Checksum: "c", File: "0003_c.up.sql"}}
	ok := map[int64]map[string]int64{1: {"a": 10}, 2: {"b": 4}}
	if err := checkLedger("tenant", ok, migs, 2); err != nil {
		t.Errorf("consistent ledger refused: %v", err)
	}
	if err := checkLedger("tenant", map[int64]map[string]int64{1: {"a": 9, "x": 1}}, migs, 1); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "0001_a.up.sql") {
		t.Errorf("edited file: %v", err)
	}
	if err := checkLedger("tenant", map[int64]map[string]int64{1: {"a": 1}, 9: {"z": 1}}, migs, 9); !errors.Is(err, ErrMissing) {
		t.Errorf("vanished file: %v", err)
	}
	if err := checkLedger("tenant", map[int64]map[string]int64{1: {"a": 1}, 3: {"c": 1}}, migs, 3); !errors.Is(err, ErrOutOfOrder) || !strings.Contains(err.Error(), "0002_b") {
		t.Errorf("late file: %v", err)
	}
}
