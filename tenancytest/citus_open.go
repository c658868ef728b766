package tenancytest

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoCitus: Citus is not installed beside the PostgreSQL server binaries (OpenCitus).
var ErrNoCitus = errors.New("tenancytest: Citus is not installed")

// OpenCitus is NewCitus for code that has no testing.TB (a load command): a fresh database on
// the Citus cluster (started the first time) with the catalog and opts' migrations installed,
// and a function that closes its pools and drops it on every node. Without Citus it returns
// ErrNoCitus, saying why.
func OpenCitus(ctx context.Context, opts *Options, copts *CitusOptions) (*DB, func(), error) {
	if opts == nil {
		opts = &Options{}
	}
	if copts == nil {
		copts = &CitusOptions{}
	}
	citusOnce.Do(func() {
		if ok, why := CitusInstalled(); !ok {
			citusSkip = why
			return
		}
		citus, citusErr = startCitus(context.Background())
	})
	if citusSkip != "" {
		return nil, nil, fmt.Errorf("%w: %s", ErrNoCitus, citusSkip)
	}
	if citusErr != nil {
		return nil, nil, fmt.Errorf("tenancytest: citus cluster: %w", citusErr)
	}
	db, err := citus.newDB(ctx, opts, copts)
	if err != nil {
		return nil, nil, fmt.Errorf("tenancytest: citus: %w", err)
	}
	if err := db.Client.Init(ctx); err != nil {
		db.close()
		return nil, nil, fmt.Errorf("tenancytest: citus: install catalog and migrations: %w", err)
	}
	return db, db.close, nil
}

// SuperURL is a superuser's URL for the database (on the coordinator, for a Citus one): for
// bulk loads and inspection that the owner and application roles must not be able to do.
func (db *DB) SuperURL() string {
	return db.Server.URL("", db.Name)
}
