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
// SCHEMA becomes a distributed schema). The catalog, the shape schema and the shared schema are
// the coordinator's own; so are tenant placements, for now: on a worker, the row-level security
// policies would not see the binding's tenancy.tenant_id (docs/citus.md). A no-op on plain
// PostgreSQL.
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
