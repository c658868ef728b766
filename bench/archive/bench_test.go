package archive

import (
	"context"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy/internal/pglocal"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestShortForm runs the whole workload on a small fleet against the test cluster: every step
// must succeed and report a time, and the tenant's archive must be far smaller than nothing.
// The figures themselves come from `go run ./bench archive`.
func TestShortForm(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, DBOptions())
	bin, _ := pglocal.FindBinaries()
	var out strings.Builder
	rep, err := Run(context.Background(), db, Options{Tenants: 30, Rows: 20, MoveRows: 2000, Reps: 1, Creates: 3, BinDir: bin, Log: t.Logf}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Backup <= 0 || rep.PgDump <= 0 || rep.Restore <= 0 || rep.Create.WarmRestore <= 0 || rep.Create.WarmP95 <= 0 || rep.PgRestore <= 0 || rep.MoveToSchema <= 0 || rep.MoveToPool <= 0 || rep.BackupBytes < 500 || rep.Tenants != 30 {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(out.String(), "tenancy is") {
		t.Errorf("output:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}
