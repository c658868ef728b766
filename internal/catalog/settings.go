package catalog

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// TenantSettingsForUpdate reads tenant slug's id and settings and locks its row until tx ends, so
// that a read-change-write of its settings loses no concurrent change.
func TenantSettingsForUpdate(ctx context.Context, tx pgx.Tx, slug string) (id int64, settings []byte, err error) {
	err = tx.QueryRow(ctx, `SELECT id, settings FROM tenancy.tenants WHERE slug = $1 FOR UPDATE`, slug).Scan(&id, &settings)
	return id, settings, err
}

// TenantSetSettings writes tenant id's settings (a JSON object). The row's trigger announces the
// change, as for every other change of a tenant.
func TenantSetSettings(ctx context.Context, db DB, id int64, settings []byte) error {
	_, err := db.Exec(ctx, `UPDATE tenancy.tenants SET settings = $2, updated_at = now() WHERE id = $1`, id, settings)
	return err
}
