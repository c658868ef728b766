package tenancy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOwnerRowStatementsNameTheTenant guards the class of bug where an owner-side statement
// reads, copies, counts or deletes tenant rows relying on RLS, which a superuser or BYPASSRLS
// owner ignores: in the package's SQL, a table spliced in after FROM must come from TenantRows (internal/placement)
// (which names the tenant), unless the statement reads no rows (WITH NO DATA), takes a
// sequence position across the pool (max), or says WHERE tenant_id itself.
func TestOwnerRowStatementsNameTheTenant(t *testing.T) {
	// The package's own SQL, and the tiers' (internal/placement), where most row statements live.
	var files []string
	for _, pattern := range []string{"*.go", filepath.Join("internal", "placement", "*.go")} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d source files to check", len(files))
	}
	spliced := regexp.MustCompile("FROM\\s*[`\"]\\s*\\+\\s*([A-Za-z_][A-Za-z0-9_.]*)|FROM %s")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, m := range spliced.FindAllStringSubmatch(line, -1) {
				if m[1] == "tenantRows" || m[1] == "TenantRows" || strings.Contains(line, "WITH NO DATA") || strings.Contains(line, "max(") || strings.Contains(line, "WHERE tenant_id") {
					continue
				}
				t.Errorf("%s:%d: a table spliced into FROM without tenantRows: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
