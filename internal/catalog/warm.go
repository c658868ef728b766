package catalog

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// The statements on warm placements (table tenancy.warm): schema-tier placements made ahead of
// time in the catalog's database, claimed by TenantCreate.

// WarmPlacement is one warm placement's row.
type WarmPlacement struct {
	ID      int64
	Schema  string
	UID     string
	Version int64
}

// WarmInsert records placement id as warm.
func WarmInsert(ctx context.Context, db DB, id int64) error {
	_, err := db.Exec(ctx, `INSERT INTO tenancy.warm (placement_id) VALUES ($1)`, id)
	return err
}

// WarmClaim takes one warm placement at version (the oldest), skipping those another
// transaction is claiming; found is false when none is ready. The claim is undone if tx rolls back.
func WarmClaim(ctx context.Context, tx pgx.Tx, version int64) (w WarmPlacement, found bool, err error) {
	err = tx.QueryRow(ctx, `
		DELETE FROM tenancy.warm w USING tenancy.placements p
		WHERE w.placement_id = (
			SELECT w2.placement_id FROM tenancy.warm w2 JOIN tenancy.placements p2 ON p2.id = w2.placement_id
			WHERE p2.version = $1 ORDER BY w2.placement_id LIMIT 1 FOR UPDATE OF w2 SKIP LOCKED)
		  AND p.id = w.placement_id
		RETURNING p.id, p.schema, coalesce(p.uid, ''), p.version`, version).Scan(&w.ID, &w.Schema, &w.UID, &w.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, false, nil
	}
	return w, err == nil, err
}

// WarmCount returns how many warm placements are at version (ready) and at any other (stale).
func WarmCount(ctx context.Context, db DB, version int64) (ready, stale int, err error) {
	err = db.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE p.version = $1), count(*) FILTER (WHERE p.version <> $1)
		FROM tenancy.warm w JOIN tenancy.placements p ON p.id = w.placement_id`, version).Scan(&ready, &stale)
	return ready, stale, err
}

// WarmTakeStale takes one warm placement not at version, to be discarded in tx; found is false
// when there is none.
func WarmTakeStale(ctx context.Context, tx pgx.Tx, version int64) (w WarmPlacement, found bool, err error) {
	err = tx.QueryRow(ctx, `
		DELETE FROM tenancy.warm w USING tenancy.placements p
		WHERE w.placement_id = (
			SELECT w2.placement_id FROM tenancy.warm w2 JOIN tenancy.placements p2 ON p2.id = w2.placement_id
			WHERE p2.version <> $1 ORDER BY w2.placement_id LIMIT 1 FOR UPDATE OF w2 SKIP LOCKED)
		  AND p.id = w.placement_id
		RETURNING p.id, p.schema, coalesce(p.uid, ''), p.version`, version).Scan(&w.ID, &w.Schema, &w.UID, &w.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, false, nil
	}
	return w, err == nil, err
}

// WarmPlacementDelete removes the row of schema placement id (its ledger goes with it).
func WarmPlacementDelete(ctx context.Context, db DB, id int64) error {
	_, err := db.Exec(ctx, `DELETE FROM tenancy.placements WHERE id = $1 AND kind = 'schema'`, id)
	return err
}
