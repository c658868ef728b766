// Package crash is the one table of tenancy's crash points: the places in its lifecycle
// operations where a test makes the operation stop as a crash would, and where a real crash
// leaves something that a rerun or Repair must finish or undo.
//
// The values are the step names a test hook receives (tenancy's SetTestHook in its tests), so
// they never change. With a transaction, a crash point falls inside that open transaction (a
// crash there undoes it); without, it falls between committed steps.
package crash

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Every crash point, in the order an operation meets them.
const (
	// Create, and the provisioning that Repair resumes.
	Created  = "created"  // the provisioning row is committed and locked; no placement yet
	Schema   = "schema"   // in tx: the placement's schema exists, not migrated
	Migrated = "migrated" // in tx: tenant migrations applied, not granted
	Granted  = "granted"  // in tx: privileges granted, status not yet active

	// Hard delete.
	Deleting = "deleting" // status deleting is committed, nothing dropped yet
	Dropped  = "dropped"  // in tx: a placement is dropped, its catalog row not yet removed

	// Restore.
	RestoreCreated = "restore:created" // the tenant row and the restore record are committed

	// Filling a placement elsewhere than the catalog's database: Restore, Move, and the
	// provisioning of database-tier and other-server tenants.
	FillDatabase  = "fill:database"  // the tenant database exists, empty
	FillLoaded    = "fill:loaded"    // in tx: the rows are loaded, not committed
	FillCommitted = "fill:committed" // the placement is filled, the catalog not yet finished

	// Move.
	MoveMarked   = "move:marked"   // the move record and status moving are committed
	MoveFenced   = "move:fenced"   // the fence is held, nothing copied
	MoveCopied   = "move:copied"   // the backup is spooled, not yet restored
	MoveSwitched = "move:switched" // the catalog points at the new placement; the old is kept
	MoveDropped  = "move:dropped"  // the old placement is dropped, its move record not yet removed

	// Warm placements (Config.WarmPlacements).
	WarmMade    = "warm:made"    // in tx: a warm placement is made, migrated and granted, not committed
	WarmClaimed = "warm:claimed" // in tx: a create claimed a warm placement and renamed it, not committed
)

// Hook is called at each crash point with the open transaction, if any; an error stops the
// operation there. Nil outside tests.
type Hook func(ctx context.Context, step string, tx pgx.Tx) error

// Error marks the error of a simulated crash, after which nothing is cleaned up, as after a
// real one: errors.Is(err, ErrSimulated) tells it apart.
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Is makes every *Error match ErrSimulated.
func (e *Error) Is(target error) bool { return target == ErrSimulated }

// ErrSimulated matches the error of any simulated crash.
var ErrSimulated error = &Error{}

// At runs hook at step (nothing if hook is nil) and wraps its error as a simulated crash.
func At(ctx context.Context, hook Hook, step string, tx pgx.Tx) error {
	if hook == nil {
		return nil
	}
	if err := hook(ctx, step, tx); err != nil {
		return &Error{err}
	}
	return nil
}
