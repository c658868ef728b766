package tenancycli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy/tenancytest"
)

// typedMigrations writes a --migrations folder with the test application's lines, a type
// "school" (a courses table) and a custom line for the tenant "bespoke".
func typedMigrations(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	table := func(name string) string {
		return `CREATE TABLE ` + name + ` (tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(), id bigint GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (tenant_id, id));
ALTER TABLE ` + name + ` ENABLE ROW LEVEL SECURITY; ALTER TABLE ` + name + ` FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ` + name + ` USING (tenant_id = tenancy.current_tenant_id()) WITH CHECK (tenant_id = tenancy.current_tenant_id());`
	}
	files := map[string]string{
		"types/school/0001_courses.up.sql": table("courses"),
		"custom/bespoke/0001_extra.up.sql": table("extras"),
	}
	for _, line := range []string{"shared", "tenant"} {
		entries, err := os.ReadDir(filepath.Join(migrationsDir, line))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(migrationsDir, line, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[line+"/"+e.Name()] = string(b)
		}
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTenantTypesCLI(t *testing.T) {
	t.Parallel()
	dir := typedMigrations(t)
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: os.DirFS(migrationsDir + "/shared"),
		TenantMigrations: os.DirFS(migrationsDir + "/tenant"),
	})
	tg := &target{db: db, args: []string{"--database-url", db.AdminURL, "--app-url", db.AppURL, "--migrations", dir}}
	tg.ok(t, "init")
	var created map[string]any
	if err := json.Unmarshal([]byte(tg.ok(t, "tenants", "create", "lycee", "--type", "school", "--json")), &created); err != nil {
		t.Fatal(err)
	}
	if created["type"] != "school" || created["type_version"] != 1.0 {
		t.Fatalf("create --type school --json: %v", created)
	}
	if out := tg.ok(t, "tenants", "create", "bespoke", "--type", "school"); !strings.Contains(out, "type school") || !strings.Contains(out, "customized: custom line 1") {
		t.Fatalf("create bespoke printed %q", out)
	}
	before := tg.snapshot(t)
	wantFailure(t, tg.run(t, "tenants", "create", "newco", "--type", "college"), `unknown tenant type: "college"`)
	r := tg.run(t, "tenants", "create", "bespoke", "--tier", "pool")
	if r.code == 0 {
		t.Fatal("created a second bespoke")
	}
	if after := tg.snapshot(t); after != before {
		t.Fatalf("refused creates changed the catalog:\n%s\n%s", before, after)
	}

	var st struct {
		Types      []map[string]any `json:"types"`
		Customized []map[string]any `json:"customized"`
		Tenants    []map[string]any `json:"tenants"`
	}
	if err := json.Unmarshal([]byte(tg.ok(t, "status", "--json", "--tenants")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Customized) != 1 || st.Customized[0]["slug"] != "bespoke" || st.Customized[0]["version"] != 1.0 {
		t.Fatalf("status --json: customized %v", st.Customized)
	}
	if out := tg.ok(t, "status"); !strings.Contains(out, "customized tenant bespoke: custom line at 1 of 1") || !strings.Contains(out, "type school: 2 tenants at type line 1 of 1") {
		t.Fatalf("status printed %q", out)
	}
	if out := tg.ok(t, "tenants", "show", "lycee"); !strings.Contains(out, "school") {
		t.Fatalf("show printed %q", out)
	}
	if out := tg.ok(t, "migrate"); out == "" {
		t.Fatal("migrate printed nothing")
	}
}
