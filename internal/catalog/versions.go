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

// TypeVersionCount is one row of LineCounts: tenants of Type at Version of its type's line.
type TypeVersionCount struct {
	Type    string
	Version int64
	Tenants int
}

// CustomVersion is a customized tenant and the version of its own line.
type CustomVersion struct {
	Slug    string
	Version int64
}

// LineCounts counts the tenants per type and type-line version (when types is set: it reads
// every tenant), and lists the customized tenants (placements with a custom line), in one query.
func LineCounts(ctx context.Context, db DB, types bool) ([]TypeVersionCount, []CustomVersion, error) {
	rows, err := db.Query(ctx, `
		SELECT 'type', t.type, coalesce((p.lines->>('type:' || t.type))::bigint, 0), count(*)
		FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id
		WHERE $1 GROUP BY 2, 3
		UNION ALL
		SELECT 'custom', t.slug, (p.lines->>'custom')::bigint, 1
		FROM tenancy.placements p JOIN tenancy.tenants t ON t.placement_id = p.id
		WHERE p.lines ? 'custom' AND p.kind IN ('schema', 'database')
		ORDER BY 1 DESC, 2, 3`, types)
	if err != nil {
		return nil, nil, err
	}
	var tc []TypeVersionCount
	var cv []CustomVersion
	var what, name string
	var v int64
	var n int
	_, err = pgx.ForEachRow(rows, []any{&what, &name, &v, &n}, func() error {
		if what == "type" {
			tc = append(tc, TypeVersionCount{name, v, n})
		} else {
			cv = append(cv, CustomVersion{name, v})
		}
		return nil
	})
	return tc, cv, err
}
