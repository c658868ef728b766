package tenancytest

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// copyAuthinfo gives the workers' copies of database name the coordinator's pg_dist_authinfo
// rows, as an operator must (Citus does not copy them, docs/citus.md): a worker logs in to
// another with them when Citus moves a shard there (citus_schema_move, the rebalancer), whose
// logical replication subscription connects from the target to the source.
func (c *Citus) copyAuthinfo(ctx context.Context, name string, nodes []*Server) error {
	var rows [][3]any
	err := c.asSuper(ctx, name, func(conn *pgx.Conn) error {
		r, err := conn.Query(ctx, `SELECT nodeid, rolename, authinfo FROM pg_dist_authinfo`)
		if err != nil {
			return err
		}
		var id int32
		var role, info string
		_, err = pgx.ForEachRow(r, []any{&id, &role, &info}, func() error { rows = append(rows, [3]any{id, role, info}); return nil })
		return err
	})
	if err != nil {
		return fmt.Errorf("read pg_dist_authinfo: %w", err)
	}
	for _, n := range nodes {
		err := n.inDatabase(ctx, name, func(conn *pgx.Conn) error {
			for _, r := range rows {
				// Only for the roles the worker has (the other owners' may not be there).
				if _, err := conn.Exec(ctx, `INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo)
					SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2)
					ON CONFLICT DO NOTHING`, r[0], r[1], r[2]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("copy pg_dist_authinfo to a worker: %w", err)
		}
	}
	return nil
}
