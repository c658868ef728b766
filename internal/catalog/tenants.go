package catalog

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tenant is a tenants row with its placement's location and version and its domains.
type Tenant struct {
	ID          int64
	Slug        string
	Name        string
	Status      string
	Tier        string
	Type        string
	Settings    []byte // jsonb
	CreatedAt   time.Time
	UpdatedAt   time.Time
	PlacementID int64 // 0 when it has none yet
	Server      string
	Database    string
	Schema      string
	Version     int64
	TypeVersion int64    // the version of its type's line on its placement
	Custom      int64    // the version of its custom line; 0 when it has none
	Domains     []string // primary first
}

// tenantColumns is read by scanTenant. Catalog tables are always schema-qualified: the
// application role's search_path does not name the catalog.
const tenantColumns = `
	t.id, t.slug, t.name, t.status, t.tier, t.type, t.settings, t.created_at, t.updated_at,
	coalesce(p.id, 0), coalesce(p.server, ''), coalesce(p.database, ''), coalesce(p.schema, ''), coalesce(p.version, 0),
	coalesce((p.lines->>('type:' || t.type))::bigint, 0), coalesce((p.lines->>'custom')::bigint, 0),
	coalesce((SELECT array_agg(d.host ORDER BY d.is_primary DESC, d.host) FROM tenancy.domains d WHERE d.tenant_id = t.id), '{}')
	FROM tenancy.tenants t LEFT JOIN tenancy.placements p ON p.id = t.placement_id`

func scanTenant(row pgx.Row) (*Tenant, error) {
	t := &Tenant{}
	err := row.Scan(&t.ID, &t.Slug, &t.Name, &t.Status, &t.Tier, &t.Type, &t.Settings, &t.CreatedAt, &t.UpdatedAt,
		&t.PlacementID, &t.Server, &t.Database, &t.Schema, &t.Version, &t.TypeVersion, &t.Custom, &t.Domains)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func queryTenants(ctx context.Context, db DB, where string, args ...any) ([]*Tenant, error) {
	rows, err := db.Query(ctx, `SELECT `+tenantColumns+` `+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Tenant, error) { return scanTenant(r) })
}

// TenantBySlug returns the tenant slug.
func TenantBySlug(ctx context.Context, db DB, slug string) (*Tenant, error) {
	return scanTenant(db.QueryRow(ctx, `SELECT `+tenantColumns+` WHERE t.slug = $1`, slug))
}

// TenantByID returns the tenant id.
func TenantByID(ctx context.Context, db DB, id int64) (*Tenant, error) {
	return scanTenant(db.QueryRow(ctx, `SELECT `+tenantColumns+` WHERE t.id = $1`, id))
}

// TenantByDomain returns the tenant that host (normalised) is a domain of.
func TenantByDomain(ctx context.Context, db DB, host string) (*Tenant, error) {
	return scanTenant(db.QueryRow(ctx, `SELECT `+tenantColumns+` WHERE t.id = (SELECT tenant_id FROM tenancy.domains WHERE host = $1)`, host))
}

// TenantFilter selects a page of TenantList; empty Status and Tier select all.
type TenantFilter struct {
	After  string // slugs after this one
	Status string
	Tier   string
	Limit  int
}

// TenantList returns a page of tenants in slug order.
func TenantList(ctx context.Context, db DB, f TenantFilter) ([]*Tenant, error) {
	return queryTenants(ctx, db, `
		WHERE t.slug > $1 AND ($2 = '' OR t.status = $2) AND ($3 = '' OR t.tier = $3)
		ORDER BY t.slug LIMIT $4`, f.After, f.Status, f.Tier, f.Limit)
}

// TenantsServable returns a page of the active and suspended tenants in id order, after id after.
func TenantsServable(ctx context.Context, db DB, after int64, limit int) ([]*Tenant, error) {
	return queryTenants(ctx, db, `
		WHERE t.id > $1 AND t.status IN ('active', 'suspended') ORDER BY t.id LIMIT $2`, after, limit)
}

// TenantsMissing returns, sorted, the slugs of slugs that name no tenant.
func TenantsMissing(ctx context.Context, db DB, slugs []string) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT s FROM unnest($1::text[]) s WHERE NOT EXISTS (SELECT 1 FROM tenancy.tenants t WHERE t.slug = s) ORDER BY 1`, slugs)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// TenantSetStatus sets the status of tenant slug to to if it is one of from, in one statement
// that locks the row, and returns the status it had.
func TenantSetStatus(ctx context.Context, db DB, slug, to string, from []string) (string, error) {
	var current string
	err := db.QueryRow(ctx, `
		WITH cur AS (SELECT id, status FROM tenancy.tenants WHERE slug = $1 FOR UPDATE),
		upd AS (UPDATE tenancy.tenants t SET status = $2, updated_at = now() FROM cur
		        WHERE t.id = cur.id AND cur.status = ANY($3) RETURNING t.id)
		SELECT cur.status FROM cur`, slug, to, from).Scan(&current)
	return current, err
}

// TenantRename changes the slug of tenant slug; false if there is no such tenant.
func TenantRename(ctx context.Context, db DB, slug, newSlug string) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE tenancy.tenants SET slug = $2, updated_at = now() WHERE slug = $1`, slug, newSlug)
	return err == nil && tag.RowsAffected() > 0, err
}
