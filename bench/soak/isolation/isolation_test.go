package isolation_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/bench/soak/isolation"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestRunAfterRunOnSameTenants: a second run on tenants that hold an earlier run's rows finds no
// rolled-back write and loses none. The runs used to number their writes from 1 each time, so a
// write the second run rolled back was taken for the first run's committed row of the same
// number and tenant: the "rolled-back writes found committed" that TestProofPgBouncer reported
// for simple-protocol mode, which ran after the exec-mode run on the same tenants.
func TestRunAfterRunOnSameTenants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.New(t, isolation.Options())
	c, pool, _, err := isolation.AppClient(ctx, db, db.AppURL, pgx.QueryExecModeExec, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); pool.Close() })
	ts, err := isolation.Setup(ctx, c, isolation.Split{Pool: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i, faults := range []bool{false, true} {
		rep, err := isolation.Run(ctx, isolation.Config{Client: c, Tenants: ts, Requests: 400, Workers: 4, Faults: faults, NoCancelRequests: true})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Clean() || rep.Acked == 0 || len(rep.Errors) > 0 {
			t.Errorf("run %d: %s", i+1, rep)
		}
		if faults && rep.Faults["error"]+rep.Faults["panic"]+rep.Faults["cancel"]+rep.Faults["savepoint"] == 0 {
			t.Errorf("run %d rolled nothing back: %s", i+1, rep)
		}
	}
}
