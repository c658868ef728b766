package memory

import (
	"context"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestShortForm runs the workload on 20 tenants: a connection that served 20 tenants holds more
// memory than one that served 5, and with ConnMaxTenants 5 the 20 tenants take 4 backends. The
// figures come from `go run ./bench memory`.
func TestShortForm(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, DBOptions())
	var out strings.Builder
	rows, err := Run(context.Background(), db, Options{Counts: []int{5, 20}, MaxTenants: 5, Log: t.Logf}, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if len(rows) != 2 || rows[1].Plain.Contexts <= rows[0].Plain.Contexts {
		t.Errorf("memory did not grow with the tenants served: %+v", rows)
	}
	if rows[0].Backends != 1 || rows[1].Backends != 4 {
		t.Errorf("backends %d and %d, want 1 and 4 (a connection serves 5 tenants)", rows[0].Backends, rows[1].Backends)
	}
}
