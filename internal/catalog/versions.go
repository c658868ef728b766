package catalog

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// VersionCount is one row of VersionCounts: for kind "shape" and "shared" the schema's version,
// otherwise how many tenants in status are at version.
type VersionCount struct {
	Kind    string
	Version int64
	Status  string
	Tenants int
}

// VersionCounts counts the tenants per version and status, oldest version first, with the
// versions of the shape schema and of the shared schema sharedSchema, in one query.
func VersionCounts(ctx context.Context, db DB, sharedSchema string) ([]VersionCount, error) {
	rows, err := db.Query(ctx, `
		SELECT p.kind, p.version, coalesce(t.status, ''), count(t.id)
		FROM tenancy.placements p LEFT JOIN tenancy.tenants t ON t.placement_id = p.id
		WHERE p.kind IN ('shape', 'shared') AND (p.kind = 'shape' OR p.schema = $1) OR t.id IS NOT NULL
		GROUP BY 1, 2, 3 ORDER BY 2, 3`, sharedSchema)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (VersionCount, error) {
		var v VersionCount
		return v, r.Scan(&v.Kind, &v.Version, &v.Status, &v.Tenants)
	})
}
