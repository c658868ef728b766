package catalog

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Domain is a domains row with its tenant's slug.
type Domain struct {
	Host    string
	Tenant  string // slug
	Primary bool
}

// DomainList returns the domains of tenant slug, or of every tenant when slug is empty, in slug
// order, each tenant's primary first.
func DomainList(ctx context.Context, db DB, slug string) ([]Domain, error) {
	rows, err := db.Query(ctx, `
		SELECT d.host, t.slug, d.is_primary FROM tenancy.domains d JOIN tenancy.tenants t ON t.id = d.tenant_id
		WHERE $1 = '' OR t.slug = $1 ORDER BY t.slug, d.is_primary DESC, d.host`, slug)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Domain, error) {
		var d Domain
		return d, r.Scan(&d.Host, &d.Tenant, &d.Primary)
	})
}

// DomainHeldByOther returns one of hosts that is a domain of a tenant other than except, and
// that tenant's slug; pgx.ErrNoRows if none is.
func DomainHeldByOther(ctx context.Context, db RowQuerier, hosts []string, except string) (host, slug string, err error) {
	err = db.QueryRow(ctx, `
		SELECT d.host, t.slug FROM tenancy.domains d JOIN tenancy.tenants t ON t.id = d.tenant_id
		WHERE d.host = ANY($1) AND t.slug <> $2 LIMIT 1`, hosts, except).Scan(&host, &slug)
	return host, slug, err
}

// DomainOwner returns the slug of the tenant host is a domain of.
func DomainOwner(ctx context.Context, db DB, host string) (string, error) {
	var slug string
	err := db.QueryRow(ctx, `SELECT t.slug FROM tenancy.domains d JOIN tenancy.tenants t ON t.id = d.tenant_id WHERE d.host = $1`, host).Scan(&slug)
	return slug, err
}

// TenantLockForDomains locks tenant slug's row (in a transaction) and returns its id and
// whether it has no primary domain yet.
func TenantLockForDomains(ctx context.Context, db DB, slug string) (id int64, noPrimary bool, err error) {
	err = db.QueryRow(ctx, `
		SELECT t.id, NOT EXISTS (SELECT 1 FROM tenancy.domains d WHERE d.tenant_id = t.id AND d.is_primary)
		FROM tenancy.tenants t WHERE t.slug = $1 FOR UPDATE`, slug).Scan(&id, &noPrimary)
	return id, noPrimary, err
}

// DomainClearPrimary makes no domain of tenant id its primary one.
func DomainClearPrimary(ctx context.Context, db DB, tenantID int64) error {
	_, err := db.Exec(ctx, `UPDATE tenancy.domains SET is_primary = false WHERE tenant_id = $1 AND is_primary`, tenantID)
	return err
}

// DomainInsert maps host to tenant id; false if host is mapped already (to any tenant).
func DomainInsert(ctx context.Context, db DB, host string, tenantID int64, primary bool) (bool, error) {
	tag, err := db.Exec(ctx, `INSERT INTO tenancy.domains (host, tenant_id, is_primary) VALUES ($1, $2, $3) ON CONFLICT (host) DO NOTHING`, host, tenantID, primary)
	return err == nil && tag.RowsAffected() == 1, err
}

// DomainDelete removes host and returns its tenant and whether it was that tenant's primary.
func DomainDelete(ctx context.Context, db DB, host string) (tenantID int64, wasPrimary bool, err error) {
	err = db.QueryRow(ctx, `DELETE FROM tenancy.domains WHERE host = $1 RETURNING tenant_id, is_primary`, host).Scan(&tenantID, &wasPrimary)
	return tenantID, wasPrimary, err
}

// DomainPromoteOldest makes tenant id's oldest domain its primary one.
func DomainPromoteOldest(ctx context.Context, db DB, tenantID int64) error {
	_, err := db.Exec(ctx, `
		UPDATE tenancy.domains SET is_primary = true WHERE host = (
			SELECT host FROM tenancy.domains WHERE tenant_id = $1 ORDER BY created_at, host LIMIT 1)`, tenantID)
	return err
}
