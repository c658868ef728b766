package tenancy

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// catalogDatabase returns the name of the catalog's database (cached).
func (c *Client) catalogDatabase(ctx context.Context) (string, error) {
	c.dbNameOnce.Do(func() {
		// A connection of its own, as catalogID does: callers may hold the pool's connections.
		conn, err := pgx.ConnectConfig(ctx, c.app.Config().ConnConfig)
		if err != nil {
			c.dbNameErr = err
			return
		}
		defer conn.Close(context.WithoutCancel(ctx))
		c.dbNameErr = conn.QueryRow(ctx, `SELECT current_database()`).Scan(&c.dbName)
	})
	return c.dbName, c.dbNameErr
}

// PlacementStats describes the connection pools the client keeps for placements outside the
// catalog's database (database-tier tenants, other servers).
type PlacementStats struct {
	Pools     int   `json:"pools"`      // pools open
	Held      int   `json:"held"`       // pools in use
	Conns     int64 `json:"conns"`      // connections open in all of them
	PeakConns int64 `json:"peak_conns"` // the most connections open at once so far
}

// PlacementStats reports the pools and connections to placements outside the catalog's
// database, which Config.MaxPlacementPools and Config.PlacementPoolConns cap.
func (c *Client) PlacementStats() PlacementStats {
	st := c.conns.Stats()
	return PlacementStats{Pools: st.Pools, Held: st.Held, Conns: st.Conns, PeakConns: st.PeakConns}
}
