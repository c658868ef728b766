package catalog_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// Every handle the callers hold runs catalog statements.
var (
	_ catalog.DB = (*pgxpool.Pool)(nil)
	_ catalog.DB = (*pgxpool.Conn)(nil)
	_ catalog.DB = (*pgx.Conn)(nil)
	_ catalog.DB = pgx.Tx(nil)
)

// What is not there comes back as pgx.ErrNoRows, which the root maps to its sentinels.
func TestNotFoundIsErrNoRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.New(t, nil)
	q := db.OwnerPool
	checks := map[string]func() error{
		"TenantBySlug":   func() error { _, err := catalog.TenantBySlug(ctx, q, "nobody"); return err },
		"TenantByID":     func() error { _, err := catalog.TenantByID(ctx, q, 1<<40); return err },
		"TenantByDomain": func() error { _, err := catalog.TenantByDomain(ctx, q, "nowhere.example"); return err },
		"TenantSetStatus": func() error {
			_, err := catalog.TenantSetStatus(ctx, q, "nobody", "active", []string{"suspended"})
			return err
		},
		"DomainDelete":      func() error { _, _, err := catalog.DomainDelete(ctx, q, "nowhere.example"); return err },
		"DomainOwner":       func() error { _, err := catalog.DomainOwner(ctx, q, "nowhere.example"); return err },
		"DomainHeldByOther": func() error { _, _, err := catalog.DomainHeldByOther(ctx, q, []string{"x.example"}, ""); return err },
		"ServerURLs":        func() error { _, _, err := catalog.ServerURLs(ctx, q, "nowhere"); return err },
		"ServerAppURL":      func() error { _, err := catalog.ServerAppURL(ctx, db.AppPool, "nowhere"); return err },
		"ServerDelete":      func() error { _, err := catalog.ServerDelete(ctx, q, "nowhere"); return err },
	}
	for name, f := range checks {
		if err := f(); !errors.Is(err, pgx.ErrNoRows) {
			t.Errorf("%s: %v, want pgx.ErrNoRows", name, err)
		}
	}
	if renamed, err := catalog.TenantRename(ctx, q, "nobody", "somebody"); err != nil || renamed {
		t.Errorf("TenantRename of nobody = %v, %v", renamed, err)
	}
	if id, err := catalog.Identity(ctx, q); err != nil || len(id) != 32 {
		t.Errorf("Identity = %q, %v", id, err)
	}
	if name, err := catalog.ServerFewestTenants(ctx, q); err != nil || name != "" {
		t.Errorf("ServerFewestTenants = %q, %v; want the catalog's own", name, err)
	}
}
