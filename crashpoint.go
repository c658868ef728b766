package tenancy

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Every crash point, in the order an operation meets them. The values are the step names that a
// test hook receives (SetTestHook in export_test.go, crashAt in the tests), so they never change.
// With tx a crash point falls inside that open transaction (a crash there undoes it); without, it
// falls between committed steps, which a rerun or Repair must finish or undo.
const (
	// Create and the provisioning that Repair resumes (tenants.go).
	crashCreated  = "created"  // the provisioning row is committed and locked; no placement yet
	crashSchema   = "schema"   // in tx: the placement's schema exists, not migrated
	crashMigrated = "migrated" // in tx: tenant migrations applied, not granted
	crashGranted  = "granted"  // in tx: privileges granted, status not yet active

	// Hard delete (tenants.go).
	crashDeleting = "deleting" // status deleting is committed, nothing dropped yet
	crashDropped  = "dropped"  // in tx: a placement is dropped, its catalog row not yet removed

	// Restore (restore.go).
	crashRestoreCreated = "restore:created" // the tenant row and the restore record are committed

	// fillPlacement, shared by Restore, Move and database-tier provisioning (restore.go).
	crashFillDatabase  = "fill:database"  // the tenant database exists, empty
	crashFillLoaded    = "fill:loaded"    // in tx: the rows are loaded, not committed
	crashFillCommitted = "fill:committed" // the placement is filled, the catalog not yet finished

	// Move (move.go).
	crashMoveMarked   = "move:marked"   // the move record and status moving are committed
	crashMoveFenced   = "move:fenced"   // the fence is held, nothing copied
	crashMoveCopied   = "move:copied"   // the backup is spooled, not yet restored
	crashMoveSwitched = "move:switched" // the catalog points at the new placement; the old is kept
	crashMoveDropped  = "move:dropped"  // the old placement is dropped, its move record not yet removed
)

// crashPoint is called at each crash point above, with the open transaction if there is one.
// Tests set Client.testHook to simulate a crash there (export_test.go); in production it does
// nothing.
func (c *Client) crashPoint(ctx context.Context, step string, tx pgx.Tx) error {
	if c.testHook == nil {
		return nil
	}
	return c.testHook(ctx, step, tx)
}
