package citus

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestRunShort is the short form of `go run ./bench citus`: a small fleet on both sides, every
// read sees exactly its tenant's rows (on Citus too), and the Citus tenants are spread over
// both workers. Speeds are the benchmark's to report, not this test's to judge.
func TestRunShort(t *testing.T) {
	t.Parallel()
	if ok, why := tenancytest.CitusInstalled(); !ok && os.Getenv(tenancytest.RequireCitusEnv) != "1" {
		t.Skip(why)
	}
	opts := DBOptions()
	opts.AppMaxConns = 2
	db := tenancytest.New(t, opts)
	o := Options{Tenants: 300, Rows: 3, Sample: 50, Workers: 2, Conns: 2, Duration: 300 * time.Millisecond, Creates: 3}
	r, err := Run(context.Background(), db, o, io.Discard)
	if errors.Is(err, tenancytest.ErrNoCitus) {
		t.Fatal(err) // CitusInstalled said yes, or TENANCY_REQUIRE_CITUS=1
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Side{r.Plain, r.Citus} {
		if s.Named.Requests == 0 || s.RLS.Requests == 0 || s.Named.Wrong != 0 || s.RLS.Wrong != 0 {
			t.Errorf("%s: reads %+v named, %+v under RLS alone: want some, none wrong", s.Name, s.Named, s.RLS)
		}
	}
	if len(r.Citus.PerNode) != 2 {
		t.Errorf("citus tenants per worker: %v, want both workers", r.Citus.PerNode)
	}
	total := 0
	for _, n := range r.Citus.PerNode {
		total += n
	}
	if total != o.Tenants+1 { // and the seed
		t.Errorf("citus tenants per worker: %v, sum %d, want %d", r.Citus.PerNode, total, o.Tenants+1)
	}
}
