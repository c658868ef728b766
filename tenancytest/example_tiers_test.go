package tenancytest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestNotesInEveryTier is how an application runs its tenant code in every tier: EachTier gives
// each tier a database and a tenant (acme). Here the code is the notes of testdata/migrations,
// written, read back, kept from a second tenant of the same tier, and refused without a tenant.
// The authors' e-mails (a shared table) come from a statement of their own, which works in
// every tier; joining notes with users would fail in the database subtest.
func TestNotesInEveryTier(t *testing.T) {
	t.Parallel()
	opts := &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations}
	tenancytest.EachTier(t, opts, func(t *testing.T, d *tenancytest.TierDB) {
		ctx := d.Context(context.Background())
		var author int64
		if err := d.AppPool.QueryRow(ctx, `INSERT INTO users (email) VALUES ('ann@example.com') RETURNING id`).Scan(&author); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Client.Exec(ctx, `INSERT INTO notes (body, author_id) VALUES ('hello', $1)`, author); err != nil {
			t.Fatal(err)
		}

		var body string
		var authorID int64
		if err := d.Client.QueryRow(ctx, `SELECT body, author_id FROM notes`).Scan(&body, &authorID); err != nil {
			t.Fatal(err)
		}
		var email string // shared rows: a statement of their own, not bound to the tenant
		if err := d.AppPool.QueryRow(ctx, `SELECT email FROM users WHERE id = $1`, authorID).Scan(&email); err != nil {
			t.Fatal(err)
		}
		if body != "hello" || email != "ann@example.com" {
			t.Fatalf("read back %q by %q", body, email)
		}

		other, err := d.Client.TenantCreate(ctx, "globex", &tenancy.TenantCreateOpts{Tier: d.Tier})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := d.Client.QueryRow(tenancy.WithTenant(ctx, other), `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the %s tenant next door sees %d notes (%v)", d.Tier, n, err)
		}
		err = d.Client.Tx(context.Background(), func(context.Context, pgx.Tx) error { return nil })
		if !errors.Is(err, tenancy.ErrNoTenant) {
			t.Fatalf("no tenant: %v", err)
		}
	})
}
