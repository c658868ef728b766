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
// step must succeed and report a time, and the tenant's archive must be far smaller than
// nothing. The figures themselves come from `go run ./bench/archive`.
func TestShortForm(t *testing.T) {
	t.Parallel()
	srv := tenancytest.Cluster(t)
	db := fmt.Sprintf("bench_archive_test_%d", os.Getpid())
	var out strings.Builder
	rep, err := run(context.Background(), options{
		Tenants: 30, Rows: 20, MoveRows: 2000, Reps: 1, Database: db,
		SuperURL: srv.URL("", "postgres"), BinDir: "/usr/lib/postgresql/15/bin", Log: t.Logf,
	}, &out)
	t.Cleanup(func() {
		_, _ = srv.SuperPool().Exec(context.Background(), `DROP DATABASE IF EXISTS `+db+` WITH (FORCE)`)
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Backup <= 0 || rep.PgDump <= 0 || rep.Restore <= 0 || rep.PgRestore <= 0 || rep.MoveToSchema <= 0 || rep.MoveToPool <= 0 || rep.BackupBytes < 500 || rep.Tenants != 30 {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(out.String(), "tenancy is") {
		t.Errorf("output:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}
