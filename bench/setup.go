package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/tenancy-go/tenancy/internal/pglocal"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// setUpAndRun is the set-up every workload shares: it points tenancytest at the server (see the
// package doc), opens the workload's database through it (roles, catalog, migrations; kept
// between runs when keep), runs work with it and the folder of the PostgreSQL client programs,
// and closes (drops) the database.
func setUpAndRun(ctx context.Context, fast, keep bool, keepName string, opts *tenancytest.Options, work func(context.Context, *tenancytest.DB, string) error) error {
	bin, err := useServer(ctx, fast)
	if err != nil {
		return err
	}
	open := tenancytest.Open
	if keep {
		open = func(ctx context.Context, opts *tenancytest.Options) (*tenancytest.DB, func(), error) {
			return tenancytest.OpenKept(ctx, keepName, opts)
		}
	}
	db, closeDB, err := open(ctx, opts)
	if err != nil {
		return err
	}
	defer closeDB()
	return work(ctx, db, bin)
}

// useServer makes tenancytest use DATABASE_URL when set, else (unless fast, where tenancytest
// picks its own cluster) a durable local cluster in $TMPDIR/tenancy-bench. It returns the folder
// of pg_dump, pg_restore and psql ("": $PATH).
func useServer(ctx context.Context, fast bool) (string, error) {
	bin, _ := pglocal.FindBinaries()
	if url := os.Getenv("DATABASE_URL"); url != "" {
		return bin, os.Setenv("TEST_DATABASE_URL", url)
	}
	if fast {
		return bin, nil
	}
	c, err := pglocal.Start(ctx, filepath.Join(os.TempDir(), "tenancy-bench"), nil)
	if err != nil {
		return "", err
	}
	return c.BinDir, os.Setenv("TEST_DATABASE_URL", c.URL("postgres"))
}
