package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Server kinds, as the servers.kind column spells them (docs/citus.md).
const (
	ServerKindPostgres = "postgres"
	ServerKindCitus    = "citus"
)

// ServerKind tells a plain PostgreSQL database from one with the citus extension: the
// coordinator of a Citus cluster (or a worker, which tenancy does not address directly).
func ServerKind(ctx context.Context, db DB) (string, error) {
	var citus bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil {
		return "", fmt.Errorf("detect the server kind: %w", err)
	}
	if citus {
		return ServerKindCitus, nil
	}
	return ServerKindPostgres, nil
}

// KeepLocal makes the schemas that the rest of tx creates plain local schemas on a Citus
// coordinator, whatever citus.enable_schema_based_sharding says (with it on, every CREATE
// SCHEMA becomes a distributed schema). The catalog, the shape schema, the shared schema, pool
// schemas (whose tables are distributed by tenant_id instead) and a restore's staging schema
// are the coordinator's own; only a schema-tier tenant's schema is distributed
// (internal/placement, citus_schema.go). A no-op on plain PostgreSQL.
func KeepLocal(ctx context.Context, tx pgx.Tx) error {
	// One statement, so that plain PostgreSQL pays one round trip and no error.
	_, err := tx.Exec(ctx, `SELECT set_config('citus.enable_schema_based_sharding', 'off', true)
		WHERE EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`)
	return err
}

// ServerSetKind records the kind of server name.
func ServerSetKind(ctx context.Context, db DB, name, kind string) error {
	_, err := db.Exec(ctx, `UPDATE tenancy.servers SET kind = $2 WHERE name = $1`, name, kind)
	return err
}

// ServerKinds returns the recorded kind of every server besides the catalog's own.
func ServerKinds(ctx context.Context, db DB) (map[string]string, error) {
	rows, err := db.Query(ctx, `SELECT name, kind FROM tenancy.servers`)
	if err != nil {
		return nil, err
	}
	kinds := map[string]string{}
	var name, kind string
	_, err = pgx.ForEachRow(rows, []any{&name, &kind}, func() error { kinds[name] = kind; return nil })
	return kinds, err
}

// SchemaPlacement is what the catalog says of a schema on a server: its placement's kind, and
// for a schema placement its tenant's slug.
type SchemaPlacement struct {
	Kind  string
	Slugs []string
}

// PlacementsBySchema returns the placements of schemas on server (in its home database), by
// schema. A pool's tenants are not listed (a pool may hold a million).
func PlacementsBySchema(ctx context.Context, db DB, server string, schemas []string) (map[string]SchemaPlacement, error) {
	rows, err := db.Query(ctx, `
		SELECT p.schema, p.kind, CASE WHEN p.kind = 'pool' THEN '{}'::text[]
		       ELSE ARRAY(SELECT t.slug FROM tenancy.tenants t WHERE t.placement_id = p.id ORDER BY t.slug) END
		FROM tenancy.placements p WHERE p.server = $1 AND p.database = '' AND p.schema = ANY ($2)`, server, schemas)
	if err != nil {
		return nil, err
	}
	out := map[string]SchemaPlacement{}
	var schema string
	var sp SchemaPlacement
	_, err = pgx.ForEachRow(rows, []any{&schema, &sp.Kind, &sp.Slugs}, func() error { out[schema] = sp; return nil })
	return out, err
}
