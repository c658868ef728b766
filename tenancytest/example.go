package tenancytest

import (
	"context"
	"fmt"
)

// Open is New for code that has no testing.TB: runnable examples, TestMain, benchmark setup
// shared across runs. It returns a fresh database cloned from the migrated template and a
// function that closes its pools and drops it.
func Open(ctx context.Context, opts *Options) (*DB, func(), error) {
	if opts == nil {
		opts = &Options{}
	}
	serverOnce.Do(func() { server, serverErr = startServer(context.Background()) })
	if serverErr != nil {
		return nil, nil, fmt.Errorf("tenancytest: %w", serverErr)
	}
	s := server
	tpl, err := s.template(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("tenancytest: template: %w", err)
	}
	name := "test_" + randomHex(6)
	if _, err := s.admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s OWNER %s`, name, tpl, OwnerRole)); err != nil {
		return nil, nil, fmt.Errorf("tenancytest: create database: %w", err)
	}
	db, err := s.open(ctx, name, opts)
	if err != nil {
		_, _ = s.admin.Exec(context.WithoutCancel(ctx), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
		return nil, nil, fmt.Errorf("tenancytest: %w", err)
	}
	return db, func() {
		db.AdminPool.Close()
		db.AppPool.Close()
		_, _ = s.admin.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	}, nil
}
