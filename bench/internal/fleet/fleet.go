// Package fleet bulk-creates a fleet of schema-tier tenants straight into the catalog, for the
// load commands (bench/archive, bench/migrate): going through TenantCreate would take most of a
// run at 10,000 tenants.
package fleet

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Spec describes the tenants to add.
type Spec struct {
	Tenants int // how many
	// Names gives the slug and display name of the i-th new tenant (from 0), whose id is id.
	Names func(i int, id int64) (slug, name string)
	// Version is the tenant migration version SQL brings a schema to: the shape placement's
	// version, whose ledger rows every new placement gets.
	Version int64
	// SQL is what makes one tenant's tables (and rows) once search_path names its new schema:
	// the tenant migrations' own SQL, as TenantCreate would run it.
	SQL func(id int64) string
	// Log, if set, hears about progress every 1,000 schemas.
	Log func(format string, args ...any)
}

// chunk is how many schemas one transaction makes.
const chunk = 100

// Generate adds spec.Tenants active schema-tier tenants after the highest tenant id: their
// placements, tenants and ledger rows in one transaction, then their schemas, chunk per
// transaction on two connections of owner. Each schema carries the mark tenancy wrote before
// marks carried the catalog's identity ("tenancy:tenant:<id>", placement uid NULL), which
// tenancy still takes as its own.
func Generate(ctx context.Context, owner *pgxpool.Pool, spec Spec) error {
	if spec.Tenants <= 0 {
		return nil
	}
	var shape int64
	if err := owner.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM tenancy.placements WHERE kind = 'shape'`).Scan(&shape); err != nil {
		return fmt.Errorf("the shape placement: %w", err)
	}
	if shape != spec.Version {
		return fmt.Errorf("the tenant migrations are at version %d; the fleet's SQL knows version %d", shape, spec.Version)
	}
	var ids []int64
	err := pgx.BeginFunc(ctx, owner, func(tx pgx.Tx) error {
		var first int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) + 1 FROM tenancy.tenants`).Scan(&first); err != nil {
			return err
		}
		slugs, names := make([]string, spec.Tenants), make([]string, spec.Tenants)
		for i := range spec.Tenants {
			ids = append(ids, first+int64(i))
			slugs[i], names[i] = spec.Names(i, first+int64(i))
		}
		last := ids[len(ids)-1]
		if _, err := tx.Exec(ctx, `
			INSERT INTO tenancy.placements (kind, schema, owned, version) SELECT 'schema', 'tenant_' || i, true, $3 FROM generate_series($1::bigint, $2::bigint) i`,
			first, last, spec.Version); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO tenancy.tenants (id, slug, name, status, tier, placement_id)
			SELECT t.id, t.slug, t.name, 'active', 'schema', p.id
			FROM unnest($1::bigint[], $2::text[], $3::text[]) t(id, slug, name)
			JOIN tenancy.placements p ON p.schema = 'tenant_' || t.id AND p.server = '' AND p.database = ''`, ids, slugs, names); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO tenancy.migrations (placement_id, version, name, checksum)
			SELECT p.id, m.version, m.name, m.checksum
			FROM tenancy.placements p, tenancy.migrations m JOIN tenancy.placements s ON s.id = m.placement_id AND s.kind = 'shape'
			WHERE p.server = '' AND p.database = '' AND p.schema IN (SELECT 'tenant_' || i FROM generate_series($1::bigint, $2::bigint) i)`, first, last); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('tenancy.tenants', 'id'), $1)`, last)
		return err
	})
	if err != nil {
		return err
	}
	return makeSchemas(ctx, owner, ids, spec)
}

// Resume makes the schemas of the catalog's tenants that have none, as an interrupted Generate
// leaves them, and returns how many it made.
func Resume(ctx context.Context, owner *pgxpool.Pool, spec Spec) (int, error) {
	rows, err := owner.Query(ctx, `
		SELECT t.id FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id
		WHERE NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = p.schema) ORDER BY t.id`)
	if err != nil {
		return 0, err
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	return len(missing), makeSchemas(ctx, owner, missing, spec)
}

// makeSchemas makes the schemas of tenants ids, chunk per transaction on two connections.
func makeSchemas(ctx context.Context, owner *pgxpool.Pool, ids []int64, spec Spec) error {
	chunks := make(chan []int64)
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chunks {
				var sb strings.Builder
				sb.WriteString("BEGIN;\n")
				for _, id := range c {
					fmt.Fprintf(&sb, "CREATE SCHEMA tenant_%[1]d; COMMENT ON SCHEMA tenant_%[1]d IS 'tenancy:tenant:%[1]d';\nSET LOCAL search_path = tenant_%[1]d, public;\n%s\n", id, spec.SQL(id))
				}
				sb.WriteString("COMMIT;\n")
				if _, err := owner.Exec(ctx, sb.String(), pgx.QueryExecModeSimpleProtocol); err != nil {
					errs <- err
					for range chunks {
					}
					return
				}
				mu.Lock()
				done += len(c)
				if spec.Log != nil && done%1000 == 0 {
					spec.Log("generated %d of %d schemas", done, len(ids))
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < len(ids); i += chunk {
		chunks <- ids[i:min(i+chunk, len(ids))]
	}
	close(chunks)
	wg.Wait()
	close(errs)
	return <-errs
}
