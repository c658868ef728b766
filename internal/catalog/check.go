package catalog

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// CheckPlacement is a placements row as Check sees it: with the newest version of its ledger,
// and, for a schema in the catalog's own database, whether it exists and its comment (the mark).
type CheckPlacement struct {
	ID       int64
	Kind     string
	Server   string
	Database string
	Schema   string
	Version  int64
	Owned    bool
	UID      string // "" when it has none
	Ledger   int64  // the newest version in its ledger, 0 if none
	Exists   bool   // false for placements elsewhere
	Comment  string
}

// CheckPlacements returns every placement in id order.
func CheckPlacements(ctx context.Context, db DB) ([]CheckPlacement, error) {
	rows, err := db.Query(ctx, `
		SELECT p.id, p.kind, p.server, p.database, p.schema, p.version, p.owned, coalesce(p.uid, ''),
		       coalesce((SELECT max(m.version) FROM tenancy.migrations m WHERE m.placement_id = p.id AND m.line = ''), 0),
		       n.oid IS NOT NULL, coalesce(obj_description(n.oid, 'pg_namespace'), '')
		FROM tenancy.placements p
		LEFT JOIN pg_namespace n ON n.nspname = p.schema AND p.server = '' AND p.database = ''
		ORDER BY p.id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CheckPlacement, error) {
		var p CheckPlacement
		return p, r.Scan(&p.ID, &p.Kind, &p.Server, &p.Database, &p.Schema, &p.Version, &p.Owned, &p.UID, &p.Ledger, &p.Exists, &p.Comment)
	})
}

// CheckTenant is a tenants row as Check sees it.
type CheckTenant struct {
	ID          int64
	Slug        string
	Status      string
	Tier        string
	PlacementID int64 // 0 when it has none
	Moving      bool  // a moves row exists
}

// CheckTenants returns every tenant in id order.
func CheckTenants(ctx context.Context, db DB) ([]CheckTenant, error) {
	rows, err := db.Query(ctx, `
		SELECT t.id, t.slug, t.status, t.tier, coalesce(t.placement_id, 0),
		       EXISTS (SELECT 1 FROM tenancy.moves mv WHERE mv.tenant_id = t.id)
		FROM tenancy.tenants t ORDER BY t.id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CheckTenant, error) {
		var t CheckTenant
		return t, r.Scan(&t.ID, &t.Slug, &t.Status, &t.Tier, &t.PlacementID, &t.Moving)
	})
}
