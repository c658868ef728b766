package migrate

import (
	"slices"
	"strings"
	"testing"
)

// SplitSQL cuts a migration file into its top-level statements, as psql does: quotes, dollar
// quotes, comments, parentheses and BEGIN ATOMIC bodies keep their ';'.
func TestSplitSQL(t *testing.T) {
	for _, tc := range []struct {
		name string
		sql  string
		want []string
	}{
		{"plain", "CREATE TABLE a (i int);\nCREATE TABLE b (i int);\n", []string{"CREATE TABLE a (i int)", "CREATE TABLE b (i int)"}},
		{"last without ;", "SELECT 1; SELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"string", "COMMENT ON TABLE a IS 'x; y'; SELECT 'it''s; ok'", []string{"COMMENT ON TABLE a IS 'x; y'", "SELECT 'it''s; ok'"}},
		{"escape string", `SELECT E'a\'; b'; SELECT 2`, []string{`SELECT E'a\'; b'`, "SELECT 2"}},
		{"not an escape string", `SELECT note'a\'; SELECT 2`, []string{`SELECT note'a\'`, "SELECT 2"}},
		{"quoted identifier", `CREATE TABLE "a;b" (i int); SELECT 2`, []string{`CREATE TABLE "a;b" (i int)`, "SELECT 2"}},
		{"dollar quote", "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql; SELECT 2",
			[]string{"CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql", "SELECT 2"}},
		{"tagged dollar quote", "DO $fn$ BEGIN PERFORM $$;$$; END $fn$; SELECT 2", []string{"DO $fn$ BEGIN PERFORM $$;$$; END $fn$", "SELECT 2"}},
		{"parameter, not a quote", "PREPARE p AS SELECT $1; SELECT $2x", []string{"PREPARE p AS SELECT $1", "SELECT $2x"}},
		{"dollar in an identifier", "SELECT a$b$ FROM t; SELECT 2", []string{"SELECT a$b$ FROM t", "SELECT 2"}},
		{"line comment", "-- a; b\nSELECT 1; -- c; d\nSELECT 2", []string{"-- a; b\nSELECT 1", "-- c; d\nSELECT 2"}},
		{"nested block comment", "/* a; /* b; */ c; */ SELECT 1; SELECT 2", []string{"/* a; /* b; */ c; */ SELECT 1", "SELECT 2"}},
		{"comments only", "SELECT 1;\n-- the end; really\n/* ; */\n", []string{"SELECT 1"}},
		{"parentheses", "CREATE RULE r AS ON INSERT TO a DO ALSO (INSERT INTO b VALUES (1); INSERT INTO c VALUES (2)); SELECT 2",
			[]string{"CREATE RULE r AS ON INSERT TO a DO ALSO (INSERT INTO b VALUES (1); INSERT INTO c VALUES (2))", "SELECT 2"}},
		{"begin atomic", "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN true THEN 2 END;\nEND;\nSELECT 3;",
			[]string{"CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN true THEN 2 END;\nEND", "SELECT 3"}},
		{"procedure", "CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO a VALUES (1); END; CALL p()",
			[]string{"CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO a VALUES (1); END", "CALL p()"}},
		{"transaction BEGIN is not a body", "BEGIN; SELECT 1; COMMIT;", []string{"BEGIN", "SELECT 1", "COMMIT"}},
		{"create policy is not a routine", "CREATE POLICY p ON a USING (true); SELECT CASE WHEN true THEN 1 END; SELECT 2",
			[]string{"CREATE POLICY p ON a USING (true)", "SELECT CASE WHEN true THEN 1 END", "SELECT 2"}},
		{"goose annotations", "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- +goose StatementEnd\n",
			[]string{"-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql"}},
		{"unterminated string", "SELECT 'a; SELECT 2", []string{"SELECT 'a; SELECT 2"}},
		{"unterminated dollar quote", "SELECT $$a; SELECT 2", []string{"SELECT $$a; SELECT 2"}},
		{"empty", " ;\n; ", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SplitSQL(tc.sql); !slices.Equal(got, tc.want) {
				t.Errorf("SplitSQL(%q)\n got %q\nwant %q", tc.sql, got, tc.want)
			}
		})
	}
}

// FuzzSplitSQL: SplitSQL never panics, returns no empty or comment-only statement, and splitting
// its statements joined again (the way pgx joins a batch) gives them back.
func FuzzSplitSQL(f *testing.F) {
	for _, s := range []string{
		"SELECT 1; SELECT 2", "SELECT 'a;b'; SELECT $$;$$", "/* /* ; */ */ SELECT 1", "CREATE FUNCTION f() BEGIN ATOMIC SELECT 1; END; SELECT 2",
		"SELECT E'\\'';", "-- x\n;", "SELECT $a$ $b$ ; $a$;", `SELECT "a""b;"; SELECT (1;2); SELECT 3`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		out := SplitSQL(sql)
		for _, s := range out {
			if strings.TrimSpace(s) == "" || onlySQLComments(s) {
				t.Fatalf("SplitSQL(%q) returned an empty statement: %q", sql, out)
			}
		}
		if again := SplitSQL(strings.Join(out, "\n;\n")); len(again) < len(out) {
			t.Fatalf("SplitSQL(%q) = %q, but its statements joined split into %q", sql, out, again)
		}
	})
}
