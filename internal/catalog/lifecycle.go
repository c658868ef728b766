package catalog

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// The statements of tenants' lifecycles (the root package's lifecycle.go): the rows that say
// where a create, restore, move or hard delete is, which Repair reads back after a crash.

// PlacementRow is a placements row as the tiers use it.
type PlacementRow struct {
	ID       int64
	Kind     string
	Server   string
	Database string
	Schema   string
	UID      string
	Owned    bool
}

// TenantInsert adds tenant slug in status, pointing at placementID (0: none yet). ok is false,
// and nothing is written, when the slug is taken.
func TenantInsert(ctx context.Context, db DB, slug, name, status, tier string, settings []byte, placementID int64) (id int64, ok bool, err error) {
	return TenantInsertTyped(ctx, db, slug, name, status, tier, "default", settings, placementID)
}

// TenantInsertTyped is TenantInsert for a tenant of type typ.
func TenantInsertTyped(ctx context.Context, db DB, slug, name, status, tier, typ string, settings []byte, placementID int64) (id int64, ok bool, err error) {
	var pid *int64
	if placementID != 0 {
		pid = &placementID
	}
	err = db.QueryRow(ctx, `
		INSERT INTO tenancy.tenants (slug, name, status, tier, settings, placement_id, type)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (slug) DO NOTHING RETURNING id`, slug, name, status, tier, settings, pid, typ).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// TenantAttach points tenant id at placement placementID.
func TenantAttach(ctx context.Context, db DB, id, placementID int64) error {
	_, err := db.Exec(ctx, `UPDATE tenancy.tenants SET placement_id = $2 WHERE id = $1`, id, placementID)
	return err
}

// TenantClaim reads the tenant that holds slug: its id, its status, and whether a restore or
// move record exists for it.
func TenantClaim(ctx context.Context, db DB, slug string) (id int64, status string, recorded bool, err error) {
	err = db.QueryRow(ctx, `SELECT id, status, EXISTS (SELECT 1 FROM tenancy.moves WHERE tenant_id = t.id)
		FROM tenancy.tenants t WHERE slug = $1`, slug).Scan(&id, &status, &recorded)
	return id, status, recorded, err
}

// TenantStatusForUpdate reads tenant id's status and locks its row until tx ends.
func TenantStatusForUpdate(ctx context.Context, tx pgx.Tx, id int64) (string, error) {
	var status string
	err := tx.QueryRow(ctx, `SELECT status FROM tenancy.tenants WHERE id = $1 FOR UPDATE`, id).Scan(&status)
	return status, err
}

// TenantActivate makes tenant id active if it is provisioning.
func TenantActivate(ctx context.Context, db DB, id int64) error {
	_, err := db.Exec(ctx, `UPDATE tenancy.tenants SET status = 'active', updated_at = now() WHERE id = $1 AND status = 'provisioning'`, id)
	return err
}

// TenantAbandon sends tenant id from provisioning to deleting, and forgets its restore record.
func TenantAbandon(ctx context.Context, db DB, id int64) error {
	_, err := db.Exec(ctx, `
		WITH m AS (DELETE FROM tenancy.moves WHERE tenant_id = $1)
		UPDATE tenancy.tenants SET status = 'deleting', updated_at = now() WHERE id = $1 AND status = 'provisioning'`, id)
	return err
}

// TenantPlacement reads the placement tenant id points at.
func TenantPlacement(ctx context.Context, db DB, id int64) (PlacementRow, error) {
	p := PlacementRow{Owned: true}
	err := db.QueryRow(ctx, `
		SELECT p.kind, p.id, p.server, p.database, p.schema, coalesce(p.uid, ''), p.owned
		FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id
		WHERE t.id = $1`, id).Scan(&p.Kind, &p.ID, &p.Server, &p.Database, &p.Schema, &p.UID, &p.Owned)
	return p, err
}

// DropRow is what a hard delete reads of its tenant.
type DropRow struct {
	Slug      string
	Status    string
	Placement PlacementRow // ID 0 when it has none
	// Finished: the catalog's ledger records the placement's migrations, which happens only once
	// the tenant was made there.
	Finished bool
}

// TenantForDrop reads tenant id for a hard delete and locks its row until tx ends.
func TenantForDrop(ctx context.Context, tx pgx.Tx, id int64) (*DropRow, error) {
	r := &DropRow{}
	p := &r.Placement
	err := tx.QueryRow(ctx, `
		SELECT t.slug, t.status, coalesce(p.id, 0), coalesce(p.kind, ''), coalesce(p.schema, ''), coalesce(p.database, ''),
		       coalesce(p.server, ''), coalesce(p.owned, false), coalesce(p.uid, ''),
		       coalesce(p.version > 0 OR EXISTS (SELECT 1 FROM tenancy.migrations m WHERE m.placement_id = p.id), false)
		FROM tenancy.tenants t LEFT JOIN tenancy.placements p ON p.id = t.placement_id
		WHERE t.id = $1 FOR UPDATE OF t`, id).Scan(&r.Slug, &r.Status, &p.ID, &p.Kind, &p.Schema, &p.Database, &p.Server, &p.Owned, &p.UID, &r.Finished)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// TenantRemove deletes tenant id's row, and the row of placementID if it was the tenant's own
// (a schema or database, not a pool).
func TenantRemove(ctx context.Context, db DB, id, placementID int64) error {
	if _, err := db.Exec(ctx, `DELETE FROM tenancy.tenants WHERE id = $1`, id); err != nil {
		return err
	}
	return forgetPlacement(ctx, db, placementID)
}

func forgetPlacement(ctx context.Context, db DB, placementID int64) error {
	if placementID == 0 {
		return nil
	}
	_, err := db.Exec(ctx, `DELETE FROM tenancy.placements WHERE id = $1 AND kind IN ('schema', 'database')`, placementID)
	return err
}

// Unfinished is a tenant that a crash may have left in provisioning or deleting.
type Unfinished struct {
	ID     int64
	Slug   string
	Status string
}

// TenantsUnfinished lists the tenants in provisioning or deleting that no restore or move
// record covers.
func TenantsUnfinished(ctx context.Context, db DB) ([]Unfinished, error) {
	rows, err := db.Query(ctx, `SELECT id, slug, status FROM tenancy.tenants WHERE status IN ('provisioning', 'deleting')
		AND id NOT IN (SELECT tenant_id FROM tenancy.moves) ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Unfinished, error) {
		var u Unfinished
		return u, r.Scan(&u.ID, &u.Slug, &u.Status)
	})
}

// Move is a row of tenancy.moves: a restore (kind "restore") or a move under way.
type Move struct {
	Kind       string
	From, To   int64 // placements; From is 0 for a restore
	ToTier     string
	Phase      string // "copying", then "switched" once the catalog points at To
	PrevStatus string // the tenant's status before the move
}

// RestoreStart records the restore of tenant id into placement to, in phase copying.
func RestoreStart(ctx context.Context, db DB, id, to int64, toTier string) error {
	_, err := db.Exec(ctx, `
		INSERT INTO tenancy.moves (tenant_id, kind, to_placement, to_tier, phase, prev_status)
		VALUES ($1, 'restore', $2, $3, 'copying', 'active')`, id, to, toTier)
	return err
}

// RestoreFinish makes the restored tenant id active and forgets its restore record.
func RestoreFinish(ctx context.Context, db DB, id int64) error {
	if err := TenantActivate(ctx, db, id); err != nil {
		return err
	}
	_, err := db.Exec(ctx, `DELETE FROM tenancy.moves WHERE tenant_id = $1`, id)
	return err
}

// TenantForMove reads tenant id's status and placement and locks its row until tx ends.
func TenantForMove(ctx context.Context, tx pgx.Tx, id int64) (status string, placementID int64, err error) {
	err = tx.QueryRow(ctx, `SELECT status, placement_id FROM tenancy.tenants WHERE id = $1 FOR UPDATE`, id).Scan(&status, &placementID)
	return status, placementID, err
}

// MoveStart records the move of tenant id from one placement to another and sets it moving.
func MoveStart(ctx context.Context, db DB, id, from, to int64, toTier, prevStatus string) error {
	_, err := db.Exec(ctx, `
		WITH m AS (INSERT INTO tenancy.moves (tenant_id, kind, from_placement, to_placement, to_tier, phase, prev_status)
		           VALUES ($1, 'move', $2, $3, $4, 'copying', $5))
		UPDATE tenancy.tenants SET status = 'moving', updated_at = now() WHERE id = $1`,
		id, from, to, toTier, prevStatus)
	return err
}

// MoveGet reads tenant id's move or restore record, or pgx.ErrNoRows.
func MoveGet(ctx context.Context, db DB, id int64) (*Move, error) {
	m := &Move{}
	var from *int64
	err := db.QueryRow(ctx, `SELECT kind, from_placement, to_placement, to_tier, phase, prev_status FROM tenancy.moves WHERE tenant_id = $1`, id).
		Scan(&m.Kind, &from, &m.To, &m.ToTier, &m.Phase, &m.PrevStatus)
	if err != nil {
		return nil, err
	}
	if from != nil {
		m.From = *from
	}
	return m, nil
}

// MoveSwitch points tenant id at its move's target placement, in tier, back in the status it had
// before the move, and sets the move's phase to switched, in tx. The move must still be copying.
func MoveSwitch(ctx context.Context, tx pgx.Tx, id, to int64, tier string) error {
	var phase, prev string
	if err := tx.QueryRow(ctx, `SELECT phase, prev_status FROM tenancy.moves WHERE tenant_id = $1 AND kind = 'move' FOR UPDATE`, id).Scan(&phase, &prev); err != nil {
		return &MoveError{"the move record is gone", err}
	}
	if phase != "copying" {
		return &MoveError{"the move is in phase " + phase, nil}
	}
	if _, err := tx.Exec(ctx, `UPDATE tenancy.tenants SET placement_id = $2, tier = $3, status = $4, updated_at = now() WHERE id = $1 AND status = 'moving'`,
		id, to, tier, prev); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE tenancy.moves SET phase = 'switched' WHERE tenant_id = $1`, id)
	return err
}

// MoveError says why a move cannot switch.
type MoveError struct {
	Why string
	Err error
}

func (e *MoveError) Error() string {
	if e.Err != nil {
		return e.Why + ": " + e.Err.Error()
	}
	return e.Why
}

func (e *MoveError) Unwrap() error { return e.Err }

// MoveFinish forgets tenant id's switched move and the placement it left.
func MoveFinish(ctx context.Context, db DB, id, from int64) error {
	_, err := db.Exec(ctx, `
		WITH m AS (DELETE FROM tenancy.moves WHERE tenant_id = $1)
		DELETE FROM tenancy.placements WHERE id = $2 AND kind IN ('schema', 'database')`, id, from)
	return err
}

// MoveUndo forgets tenant id's move that was still copying, and the placement it was copying
// to, and gives the tenant back the status it had.
func MoveUndo(ctx context.Context, db DB, id, to int64, prevStatus string) error {
	_, err := db.Exec(ctx, `
		WITH m AS (DELETE FROM tenancy.moves WHERE tenant_id = $1),
		p AS (DELETE FROM tenancy.placements WHERE id = $3 AND kind IN ('schema', 'database'))
		UPDATE tenancy.tenants SET status = $2, updated_at = now() WHERE id = $1 AND status = 'moving'`, id, prevStatus, to)
	return err
}

// Recorded is a tenant with a move or restore record.
type Recorded struct {
	ID   int64
	Slug string
}

// TenantsRecorded lists the tenants with a move or restore record.
func TenantsRecorded(ctx context.Context, db DB) ([]Recorded, error) {
	rows, err := db.Query(ctx, `SELECT m.tenant_id, t.slug FROM tenancy.moves m JOIN tenancy.tenants t ON t.id = m.tenant_id ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Recorded, error) {
		var it Recorded
		return it, r.Scan(&it.ID, &it.Slug)
	})
}

// PlacementOf reads placement placementID, and the placement tenant id points at now (nil if
// none).
func PlacementOf(ctx context.Context, db DB, placementID, id int64) (PlacementRow, *int64, error) {
	p := PlacementRow{ID: placementID}
	var current *int64
	err := db.QueryRow(ctx, `
		SELECT p.kind, p.server, p.database, p.schema, p.owned, (SELECT placement_id FROM tenancy.tenants WHERE id = $2), coalesce(p.uid, '')
		FROM tenancy.placements p WHERE p.id = $1`, placementID, id).Scan(&p.Kind, &p.Server, &p.Database, &p.Schema, &p.Owned, &current, &p.UID)
	return p, current, err
}

// DomainsOf lists tenant id's domains, primary first.
func DomainsOf(ctx context.Context, db DB, id int64) ([]Domain, error) {
	rows, err := db.Query(ctx, `SELECT host, is_primary FROM tenancy.domains WHERE tenant_id = $1 ORDER BY is_primary DESC, host`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Domain, error) {
		var d Domain
		return d, r.Scan(&d.Host, &d.Primary)
	})
}
