package placement

import (
	"context"
	"fmt"

	"github.com/tenancy-go/tenancy/internal/catalog"
)

// Citus (docs/citus.md): a server whose database has the citus extension is the coordinator of a
// Citus cluster. The catalog, the shape schema and the shared schema stay plain tables on the
// coordinator (catalog.KeepLocal).

// ServerKind returns the kind of server s ("" is the catalog's own): detected on the catalog's
// own database, as recorded by ServerAdd for the others.
func (e *Env) ServerKind(ctx context.Context, s string) (string, error) {
	if s == "" {
		if e.Owner == nil {
			return "", ErrReadOnly
		}
		return catalog.ServerKind(ctx, e.Owner)
	}
	kinds, err := catalog.ServerKinds(ctx, e.Owner)
	if err != nil {
		return "", err
	}
	return kinds[s], nil
}

// refuseDatabaseOnCitus refuses the database tier on a Citus server: a Citus cluster serves the
// one database its nodes were set up for (the coordinator's metadata, the workers' extension and
// node list are per database), so a database of a tenant's own there would be a plain local
// database on the coordinator, outside the cluster, which is what the tier would promise it is not.
func refuseDatabaseOnCitus(ctx context.Context, e *Env, s string) error {
	kind, err := e.ServerKind(ctx, s)
	if err != nil {
		return err
	}
	if kind == catalog.ServerKindCitus {
		return fmt.Errorf("%w: the database tier is not available on the Citus server %s (a Citus cluster serves one database): use the pool or schema tier there, or place the tenant on a plain PostgreSQL server", ErrTierNotAvailable, ServerLabel(s))
	}
	return nil
}
