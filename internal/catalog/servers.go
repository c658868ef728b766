package catalog

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Server is a servers row with the number of tenants placed there.
type Server struct {
	Name    string
	URL     string // the owner role's
	AppURL  string // the application role's
	Tenants int
}

// ServerURLs returns server name's owner and application URLs (the owner role's read).
func ServerURLs(ctx context.Context, db DB, name string) (url, appURL string, err error) {
	err = db.QueryRow(ctx, `SELECT url, app_url FROM tenancy.servers WHERE name = $1`, name).Scan(&url, &appURL)
	return url, appURL, err
}

// ServerAppURL returns server name's application URL: all the application role may read.
func ServerAppURL(ctx context.Context, db DB, name string) (string, error) {
	var appURL string
	err := db.QueryRow(ctx, `SELECT app_url FROM tenancy.servers WHERE name = $1`, name).Scan(&appURL)
	return appURL, err
}

// ServerInsert records a server.
func ServerInsert(ctx context.Context, db DB, name, url, appURL string) error {
	_, err := db.Exec(ctx, `INSERT INTO tenancy.servers (name, url, app_url) VALUES ($1, $2, $3)`, name, url, appURL)
	return err
}

// ServerList returns the servers in name order.
func ServerList(ctx context.Context, db DB) ([]Server, error) {
	rows, err := db.Query(ctx, `
		SELECT s.name, s.url, s.app_url,
		       (SELECT count(*) FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id WHERE p.server = s.name)
		FROM tenancy.servers s ORDER BY s.name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Server, error) {
		var s Server
		return s, r.Scan(&s.Name, &s.URL, &s.AppURL, &s.Tenants)
	})
}

// ServerNames returns the servers' names in order.
func ServerNames(ctx context.Context, db DB) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT name FROM tenancy.servers ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ServerDelete forgets server name unless a placement lives there, in one statement, and
// returns how many do (0: it was deleted); pgx.ErrNoRows if there is no such server.
func ServerDelete(ctx context.Context, db DB, name string) (placements int, err error) {
	err = db.QueryRow(ctx, `
		WITH s AS (SELECT name FROM tenancy.servers WHERE name = $1),
		n AS (SELECT count(*) AS c FROM tenancy.placements WHERE server = $1),
		d AS (DELETE FROM tenancy.servers WHERE name = (SELECT name FROM s) AND (SELECT c FROM n) = 0 RETURNING 1)
		SELECT (SELECT c FROM n) FROM s`, name).Scan(&placements)
	return placements, err
}

// ServerFewestTenants returns the server ("" the catalog's own) holding the fewest tenants, the
// first by name among equals.
func ServerFewestTenants(ctx context.Context, db DB) (string, error) {
	var name string
	err := db.QueryRow(ctx, serverFewestSQL).Scan(&name)
	return name, err
}

// serverFewestSQL counts tenants only when other servers exist (the ELSE branch's subquery runs
// only if reached), and counts them in one grouped pass: a count per server in a correlated
// subquery made the planner's estimate (an empty servers table is taken for 610 rows) cross
// jit_above_cost at a few thousand tenants, and JIT compiling it cost 200 ms per create.
const serverFewestSQL = `
	SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM tenancy.servers) THEN '' ELSE (
		SELECT s.name FROM (SELECT '' AS name UNION ALL SELECT name FROM tenancy.servers) s
		LEFT JOIN (SELECT p.server, count(*) AS n FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id
		           GROUP BY p.server) c ON c.server = s.name
		ORDER BY coalesce(c.n, 0), s.name
		LIMIT 1) END`
