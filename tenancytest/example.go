package tenancytest

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
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

// OpenKept is Open for a database that outlives the process, such as a load command's fleet
// that takes an hour to build: it opens the database name, making it from the migrated template
// first if it does not exist, and returns a function that closes its pools and leaves it in
// place. Drop it with the superuser pool when done.
func OpenKept(ctx context.Context, name string, opts *Options) (*DB, func(), error) {
	if opts == nil {
		opts = &Options{}
	}
	serverOnce.Do(func() { server, serverErr = startServer(context.Background()) })
	if serverErr != nil {
		return nil, nil, fmt.Errorf("tenancytest: %w", serverErr)
	}
	db, err := server.keptDB(ctx, name, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("tenancytest: %w", err)
	}
	return db, func() { db.Client.Close(); db.OwnerPool.Close(); db.AppPool.Close() }, nil
}

func (s *Server) keptDB(ctx context.Context, name string, opts *Options) (*DB, error) {
	if err := s.ensureOwner(ctx, opts.Owner); err != nil {
		return nil, err
	}
	var exists bool
	if err := s.admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		tpl, err := s.template(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
		if _, err := s.admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s OWNER %s`, pgx.Identifier{name}.Sanitize(), tpl, opts.Owner.Role())); err != nil {
			return nil, fmt.Errorf("create database: %w", err)
		}
	}
	return s.open(ctx, name, opts)
}
