package migrate

import (
	"context"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy/internal/pglocal"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestShortForm runs the whole workload on a small fleet against the test cluster: every
// contender must bring every schema to the new version (Run checks it) and a fleet with nothing
// to apply must cost one query. The figures themselves come from `go run ./bench migrate`.
func TestShortForm(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, DBOptions())
	bin, _ := pglocal.FindBinaries()
	var out strings.Builder
	rep, err := Run(context.Background(), db, Options{Tenants: 60, Create: 10, Naive: 20, PsqlDir: bin, Log: t.Logf}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.NoopQueries != 1 || rep.Tenancy <= 0 || rep.Psql <= 0 || rep.Naive <= 0 || rep.Created != 10 {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(out.String(), "nothing to apply, 60 tenants") {
		t.Errorf("output:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}
