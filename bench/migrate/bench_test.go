package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestShortForm runs the whole load command on a small fleet against the test cluster: every
// contender must bring every schema to the new version (run checks it) and a fleet with nothing
// to apply must cost one query. The figures themselves come from `go run ./bench/migrate`.
func TestShortForm(t *testing.T) {
	t.Parallel()
	srv := tenancytest.Cluster(t)
	db := fmt.Sprintf("bench_migrate_test_%d", os.Getpid())
	var out strings.Builder
	rep, err := run(context.Background(), options{
		Tenants: 60, Create: 10, Naive: 20, Database: db,
		SuperURL: srv.URL("", "postgres"), PsqlDir: "/usr/lib/postgresql/15/bin",
		Log: t.Logf,
	}, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = srv.SuperPool().Exec(context.Background(), `DROP DATABASE IF EXISTS `+db+` WITH (FORCE)`)
	})
	if rep.NoopQueries != 1 || rep.Tenancy <= 0 || rep.Psql <= 0 || rep.Naive <= 0 || rep.Created != 10 {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(out.String(), "nothing to apply, 60 tenants") {
		t.Errorf("output:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}
