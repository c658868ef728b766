package tenancytest

import (
	"context"
	"fmt"
)

// Open is New for code that has no testing.TB: runnable examples, TestMain, benchmark setup
// shared across runs. It returns a fresh database cloned from the migrated template and a
// function that closes its pools (the Client's too) and drops it with every database its
// catalog made, as New's cleanup does.
func Open(ctx context.Context, opts *Options) (*DB, func(), error) {
	if opts == nil {
		opts = &Options{}
	}
	serverOnce.Do(func() { server, serverErr = startServer(context.Background()) })
	if serverErr != nil {
		return nil, nil, fmt.Errorf("tenancytest: %w", serverErr)
	}
	db, err := server.newDB(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("tenancytest: %w", err)
	}
	return db, db.close, nil
}
