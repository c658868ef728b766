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
	flag.IntVar(&o.Tenants, "tenants", 1000, "schema-tier tenants in the fleet")
	flag.IntVar(&o.Rows, "rows", 300, "rows per table of the tenant backed up")
	flag.IntVar(&o.MoveRows, "move-rows", 100000, "rows of the tenant moved (0: skip the move)")
	flag.IntVar(&o.Reps, "reps", 5, "repetitions of each timing (the median is reported)")
	flag.Parse()
	ctx := context.Background()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		c, err := pglocal.Start(ctx, filepath.Join(os.TempDir(), "tenancy-bench-archive"), nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/archive:", err)
			os.Exit(1)
		}
		url = c.URL("postgres")
		o.BinDir = c.BinDir
	}
	o.SuperURL = url
	o.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	if _, err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench/archive:", err)
		os.Exit(1)
	}
}
