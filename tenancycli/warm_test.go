package tenancycli_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
)

// status shows the warm placements an application keeps, in text and JSON, and nothing about
// them where there are none.
func TestStatusWarm(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	if out := tg.ok(t, "status"); strings.Contains(out, "warm") {
		t.Fatalf("no warm placements, yet:\n%s", out)
	}
	c, err := tenancy.New(&tenancy.Config{AppPool: tg.db.AppPool, OwnerPool: tg.db.OwnerPool, WarmPlacements: 2,
		SharedMigrations: os.DirFS(migrationsDir + "/shared"), TenantMigrations: os.DirFS(migrationsDir + "/tenant")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WarmFill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := tg.ok(t, "status"); !strings.Contains(out, "warm placements: 2 ready, 0 stale") {
		t.Fatalf("status:\n%s", out)
	}
	var st struct {
		Warm struct{ Ready, Stale int }
	}
	if err := json.Unmarshal([]byte(tg.ok(t, "status", "--json")), &st); err != nil || st.Warm.Ready != 2 {
		t.Fatalf("status --json: %+v, %v", st, err)
	}
}
