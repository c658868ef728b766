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
// to apply must cost one query; a second run reuses the fleet. The figures themselves come from `go run ./bench migrate`.
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

	// A second run on the same database (go run ./bench migrate -reuse) times sign-ups on the
	// fleet it finds, removes them, and migrates the same 60 tenants again.
	out.Reset()
	rep, err = Run(context.Background(), db, Options{Tenants: 60, Create: 2, Naive: 5, PsqlDir: bin, Log: t.Logf}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.NoopQueries != 1 || rep.Created != 2 || !strings.Contains(out.String(), "on the 60-tenant fleet (2 tenants, each hard-deleted after)") {
		t.Errorf("rerun: report %+v, output:\n%s", rep, out.String())
	}
}
