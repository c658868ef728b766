package noisy

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestRunShort is the short form of `go run ./bench noisy` that CI runs: every phase runs, no
// quiet request fails, and the capped noisy tenant is refused (ErrTenantBusy) rather than
// queued. Latencies are the benchmark's to report, not this test's to judge.
func TestRunShort(t *testing.T) {
	t.Parallel()
	opts := DBOptions()
	opts.AppMaxConns = 4
	db := tenancytest.New(t, opts)
	o := Options{Quiet: 3, QuietWorkers: 2, NoisyWorkers: 8, NoisySleep: 50 * time.Millisecond, Conns: 4, Cap: 1,
		Phase: 500 * time.Millisecond, Tier: tenancy.TierSchema}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	report, err := Run(context.Background(), db, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(report) != 4 {
		t.Fatalf("%d phases, want 4", len(report))
	}
	for _, p := range report {
		if p.QuietErrors != 0 || p.QuietRequests == 0 {
			t.Errorf("%s: %d quiet requests, %d failed", p.Name, p.QuietRequests, p.QuietErrors)
		}
	}
	if last := report[3]; last.NoisyBusy == 0 {
		t.Errorf("%s: the noisy tenant was never refused at its cap", last.Name)
	}
}
