package tenancycli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy/tenancytest"
)

// nextMigrations is testdata's migrations plus a new tenant migration (the next deploy).
func nextMigrations(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, line := range []string{"shared", "tenant"} {
		if err := os.CopyFS(filepath.Join(dir, line), os.DirFS(filepath.Join(migrationsDir, line))); err != nil {
			t.Fatal(err)
		}
	}
	err := os.WriteFile(filepath.Join(dir, "tenant", "0002_labels.up.sql"), []byte(`
ALTER TABLE notes ADD COLUMN pinned boolean NOT NULL DEFAULT false;
CREATE TABLE labels (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigint GENERATED ALWAYS AS IDENTITY,
    name      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE labels ENABLE ROW LEVEL SECURITY;
ALTER TABLE labels FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON labels USING (tenant_id = tenancy.current_tenant_id());
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMigrateStatusExec(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	for _, s := range []string{"acme", "globex", "initech"} {
		tg.ok(t, "tenants", "create", s)
	}
	next := []string{"--database-url", tg.db.AdminURL, "--app-url", tg.db.AppURL, "--migrations", nextMigrations(t)}
	run := func(args ...string) result { return cli(t, nil, append(args, next...)...) }

	r := run("migrate", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "(shape): 1 -> 2 (2)") || !strings.Contains(r.stdout, "globex: 1 -> 2 (2)") {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// globex cannot take the migration; the others can.
	ctx := context.Background()
	if _, err := tg.db.OwnerPool.Exec(ctx, `CREATE TABLE tenant_2.labels (x int)`); err != nil {
		t.Fatal(err)
	}
	r = run("migrate", "--json", "--concurrency", "2")
	if r.code != 1 {
		t.Fatalf("migrate with a failing tenant: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var sum struct {
		Event   string
		Applied int
		Failed  []struct{ Tenant, Error string }
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Event != "summary" || sum.Applied != 3 || len(sum.Failed) != 1 || sum.Failed[0].Tenant != "globex" ||
		!strings.Contains(sum.Failed[0].Error, `relation "labels" already exists`) {
		t.Errorf("summary %+v", sum)
	}
	if n := strings.Count(r.stdout, `"event":"done"`); n != 4 {
		t.Errorf("%d done events, want 4 (shape and three tenants)", n)
	}
	if !strings.Contains(r.stderr, "globex") {
		t.Errorf("stderr should name the failed tenant: %q", r.stderr)
	}

	var st struct {
		Latest   int64
		Behind   int
		Versions []struct{ Version, Tenants int64 }
	}
	if err := json.Unmarshal([]byte(run("status", "--json").stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Latest != 2 || st.Behind != 1 || len(st.Versions) != 2 || st.Versions[0].Tenants != 1 || st.Versions[1].Tenants != 2 {
		t.Errorf("status %+v", st)
	}
	if out := run("status", "--tenants").stdout; !strings.Contains(out, "globex") || !strings.Contains(out, "behind") {
		t.Errorf("status --tenants:\n%s", out)
	}

	if _, err := tg.db.OwnerPool.Exec(ctx, `DROP TABLE tenant_2.labels`); err != nil {
		t.Fatal(err)
	}
	if r = run("migrate"); r.code != 0 || !strings.Contains(r.stdout, "migrated 1 of 1") || !strings.Contains(r.stderr, "globex: 1 -> 2") {
		t.Fatalf("rerun: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = run("migrate"); r.code != 0 || !strings.Contains(r.stdout, "nothing to apply (1 catalog query") {
		t.Fatalf("third run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// exec runs as the application role, bound to each tenant: a row written in each tenant is
	// seen by that tenant alone, and the new table is usable.
	r = run("exec", "--all", "--json", `INSERT INTO labels (name) VALUES ('x'); INSERT INTO notes (body) VALUES ('hi');
		SELECT count(*) AS n, current_user AS who, (SELECT count(*) FROM labels) AS labels FROM notes`)
	if r.code != 0 {
		t.Fatalf("exec: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var got []struct {
		Tenant string
		Rows   []map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(got) != 3 {
		t.Fatalf("exec reached %d tenants, want 3: %s", len(got), r.stdout)
	}
	for _, g := range got {
		if len(g.Rows) != 1 || g.Rows[0]["n"] != float64(1) || g.Rows[0]["labels"] != float64(1) || g.Rows[0]["who"] != tenancytest.AppRole {
			t.Errorf("%s: rows %v; want one note and one label, seen by %s", g.Tenant, g.Rows, tenancytest.AppRole)
		}
	}
	r = run("exec", "--tenant", "acme", "--tenant", "initech", "SELECT 1 / (SELECT count(*) - 1 FROM notes) AS x")
	if r.code != 1 || !strings.Contains(r.stderr, "FAILED acme") || !strings.Contains(r.stderr, "division by zero") {
		t.Errorf("exec with failures: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = run("exec", "SELECT 1"); r.code != 2 {
		t.Errorf("exec without tenants: exit %d, want 2", r.code)
	}
	if r = run("migrate", "--tenant", "nosuch"); r.code != 1 || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("migrate --tenant nosuch: exit %d %q", r.code, r.stderr)
	}
}
