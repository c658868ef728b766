package isolation

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// AppClient opens an application-role pool on appURL (the database directly, or a pooler in
// front of it) of conns connections in exec mode mode, named with a fresh application_name so
// that the soak kills only its own backends, and a Client on it with db's owner pool.
func AppClient(ctx context.Context, db *tenancytest.DB, appURL string, mode pgx.QueryExecMode, conns int32) (*tenancy.Client, *pgxpool.Pool, string, error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "tenancy-soak-" + hex.EncodeToString(b)
	cfg, err := pgxpool.ParseConfig(appURL)
	if err != nil {
		return nil, nil, "", err
	}
	tenancy.ConfigurePool(cfg, "")
	cfg.ConnConfig.RuntimeParams["application_name"] = name
	cfg.ConnConfig.DefaultQueryExecMode = mode
	cfg.MaxConns = conns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, "", err
	}
	c, err := tenancy.New(&tenancy.Config{AppPool: pool, OwnerPool: db.OwnerPool, TenantMigrations: TenantMigrations()})
	if err != nil {
		pool.Close()
		return nil, nil, "", err
	}
	return c, pool, name, nil
}

// Options is the test database the soak needs (tenancytest.New or Open).
func Options() *tenancytest.Options {
	return &tenancytest.Options{TenantMigrations: TenantMigrations()}
}
