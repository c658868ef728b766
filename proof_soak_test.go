package tenancy_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/bench/soak/isolation"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// soakHangGuard bounds a soak run only to catch a hang: the tests assert correctness over a fixed
// number of requests, never how fast they go (a busy machine running the other test packages
// beside this one may be slow).
const soakHangGuard = 10 * time.Minute

// soakRequests is n, or TENANCY_SOAK_REQUESTS when set (to lengthen a soak).
func soakRequests(t *testing.T, n int64) int64 {
	if s := os.Getenv("TENANCY_SOAK_REQUESTS"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 1 {
			t.Fatalf("TENANCY_SOAK_REQUESTS=%q: want a positive number", s)
		}
		return v
	}
	return n
}

// TestProofSoak is the short form of the isolation soak (`go run ./bench soak` runs the full
// one; docs/reliability.md has its figures): 200 tenants in all three tiers, 16 workers on a
// 4-connection pool, a third of the requests through the HTTP stack, every fault injected
// (errors, panics, cancelled contexts, deadlines, savepoint rollbacks, pg_terminate_backend).
// TENANCY_SOAK_REQUESTS lengthens it.
func TestProofSoak(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, isolation.Options())
	rep := soak(t, db, db.AppURL, pgx.QueryExecModeCacheStatement, isolation.Split{Pool: 180, Schema: 16, Database: 4}, soakRequests(t, 3000), false)
	for _, k := range []string{"error", "panic", "cancel", "timeout", "savepoint", "kill", "http-panic"} {
		if rep.Faults[k] == 0 {
			t.Errorf("no %s fault was injected", k)
		}
	}
}

// TestProofSoakCitus is TestProofSoak on a Citus coordinator with two workers (docs/citus.md),
// in the tiers that Citus serves (the database tier is refused there): the pool's table is
// distributed by tenant_id, so pool tenants' requests run on the workers.
func TestProofSoakCitus(t *testing.T) {
	t.Parallel()
	db := tenancytest.NewCitus(t, isolation.Options(), nil)
	rep := soakWith(t, db, db.AppURL, pgx.QueryExecModeCacheStatement, isolation.Split{Pool: 180, Schema: 20}, soakRequests(t, 1000), false,
		func(ts []*tenancy.Tenant) {
			for _, tn := range ts {
				if tn.Tier == tenancy.TierPool {
					distribute(t, db, pgx.Identifier{tn.Placement.Schema, "items"}.Sanitize())
					return
				}
			}
		})
	for _, k := range []string{"error", "panic", "cancel", "timeout", "savepoint", "kill", "http-panic"} {
		if rep.Faults[k] == 0 {
			t.Errorf("no %s fault was injected", k)
		}
	}
}

// soak runs requests requests of the isolation soak against db with the application pool on
// appURL in mode, one backend killed every 25 requests, and fails the test unless it is clean.
func soak(t *testing.T, db *tenancytest.DB, appURL string, mode pgx.QueryExecMode, split isolation.Split, requests int64, noCancelRequests bool) *isolation.Report {
	t.Helper()
	return soakWith(t, db, appURL, mode, split, requests, noCancelRequests, nil)
}

// soakWith is soak with a step after the tenants are made, before the requests (nil: none).
func soakWith(t *testing.T, db *tenancytest.DB, appURL string, mode pgx.QueryExecMode, split isolation.Split, requests int64, noCancelRequests bool, prepare func([]*tenancy.Tenant)) *isolation.Report {
	t.Helper()
	ctx := context.Background()
	c, pool, appName, err := isolation.AppClient(ctx, db, appURL, mode, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); pool.Close() })
	ts, err := isolation.Setup(ctx, c, split)
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(ts)
	}
	rep, err := isolation.Run(ctx, isolation.Config{
		Client: c, Super: db.Server.SuperPool(), SuperURL: db.Server.URL("", db.Name), AppName: appName,
		Tenants: ts, Requests: requests, Duration: soakHangGuard, Workers: 16, HTTP: 0.3, Faults: true,
		KillEveryRequests: 25, NoCancelRequests: noCancelRequests,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", rep)
	if rep.Requests < requests {
		t.Errorf("the soak stopped after %d of %d requests: it hung (guard %s)", rep.Requests, requests, soakHangGuard)
	}
	if rep.CrossTenant != 0 || rep.Lost != 0 {
		t.Errorf("cross-tenant rows %d, lost acknowledged writes %d: want 0", rep.CrossTenant, rep.Lost)
	}
	if rep.Resurrected != 0 {
		t.Errorf("%d rolled-back writes found committed, want 0", rep.Resurrected)
	}
	if len(rep.Errors) > 0 {
		t.Errorf("unexpected errors: %v", rep.Errors)
	}
	if rep.Acked == 0 || rep.RowsChecked == 0 {
		t.Errorf("nothing was written or read: %+v", rep)
	}
	return rep
}
