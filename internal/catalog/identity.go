package catalog

import "context"

// Identity returns the catalog's random identity (tenancy.identity).
func Identity(ctx context.Context, db DB) (string, error) {
	var id string
	err := db.QueryRow(ctx, `SELECT id FROM tenancy.identity`).Scan(&id)
	return id, err
}

// HasIdentity reports whether db's database holds a catalog of identity id; any role may ask.
func HasIdentity(ctx context.Context, db DB, id string) (bool, error) {
	var found bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenancy.identity WHERE id = $1)`, id).Scan(&found)
	return found, err
}
