package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tenancy-go/tenancy/internal/pglocal"
)

func main() {
	o := options{}
	flag.IntVar(&o.Tenants, "tenants", 10000, "tenants in the fleet")
	flag.IntVar(&o.Create, "create", 200, "tenants created with TenantCreate (timed); the rest are generated in bulk")
	flag.IntVar(&o.Naive, "naive", 1000, "tenants migrated by the naive baseline (0: skip)")
	flag.IntVar(&o.Concurrency, "concurrency", 0, "MigrateOpts.Concurrency (0: tenancy's default)")
	flag.BoolVar(&o.Fast, "fast", false, "local cluster only: fsync off, as the test cluster runs")
	flag.BoolVar(&o.Reuse, "reuse", false, "keep the fleet of an earlier run (finish it if it was interrupted) instead of rebuilding it")
	flag.Parse()
	ctx := context.Background()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		dir := filepath.Join(os.TempDir(), "tenancy-bench-migrate")
		if o.Fast {
			dir += "-fast"
		}
		c, err := pglocal.Start(ctx, dir, &pglocal.Options{Fast: o.Fast})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/migrate:", err)
			os.Exit(1)
		}
		url = c.URL("postgres")
		o.PsqlDir = c.BinDir
	}
	o.SuperURL = url
	o.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	if _, err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench/migrate:", err)
		os.Exit(1)
	}
}
