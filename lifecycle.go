package tenancy

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/lockkey"
)

// A tenant's life is a state machine over Status. This table is every move between statuses
// and the operation that makes it; the operations that take more than one step (create,
// restore, move, hard delete) record where they are in the catalog (status, and a tenancy.moves
// row with its phase for restore and move), hold the tenant's operation lock while they run,
// and pass the crash points of internal/crash, so that Repair, or the operation run again,
// finishes or undoes what a crash interrupted:
//
//	operation     from                                         to            then
//	create        (none)                                       provisioning  active; a pool tenant is born active
//	restore       (none)                                       provisioning  active (moves: restore, copying)
//	suspend       active                                       suspended
//	resume        suspended, deleted                           active
//	delete        active, suspended                            deleted       (soft)
//	delete hard   active, suspended, deleted, provisioning     deleting      gone
//	move          active, suspended                            moving        the status before (moves: copying, switched)
//	repair        provisioning (no live creator)               active, or deleting then gone
//	repair        deleting                                     gone
//	repair        moving, provisioning with a moves row        the move finished (switched) or undone (copying); a restore removed
//
// docs/architecture.md draws it.
type transition struct {
	to   Status
	from []Status
}

// The single-step transitions, by operation.
var (
	opSuspend    = transition{to: StatusSuspended, from: []Status{StatusActive}}
	opResume     = transition{to: StatusActive, from: []Status{StatusSuspended, StatusDeleted}}
	opSoftDelete = transition{to: StatusDeleted, from: []Status{StatusActive, StatusSuspended}}
	opHardDelete = transition{to: StatusDeleting, from: []Status{StatusActive, StatusSuspended, StatusDeleted, StatusProvisioning}}
)

// apply makes transition tr of tenant slug, or explains why not (ErrTenantNotActive).
func (c *Client) apply(ctx context.Context, slug string, tr transition) (*Tenant, error) {
	return c.setStatus(ctx, slug, tr.to, tr.from...)
}

// The operation lock (lockkey.TenantOp) is held by whoever creates, restores, moves or repairs
// a tenant, at session level on an owner connection of its own: a process that dies lets go of
// it with its connection, which is how Repair tells a crash's leftover from work under way.

// tenantOp is a catalog connection holding (once locked) the operation lock of tenant id.
type tenantOp struct {
	conn   *pgxpool.Conn
	id     int64
	locked bool
}

// lock takes the operation lock at session level, inside tx: the lock is held from the moment
// the row it guards is visible to others.
func (op *tenantOp) lock(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}) error {
	if _, err := q.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockkey.TenantOp, lockkey.Tenant(op.id)); err != nil {
		return err
	}
	op.locked = true
	return nil
}

// tryLock takes the operation lock if it is free.
func (op *tenantOp) tryLock(ctx context.Context) (bool, error) {
	var free bool
	if err := op.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, lockkey.TenantOp, lockkey.Tenant(op.id)).Scan(&free); err != nil {
		return false, err
	}
	op.locked = free
	return free, nil
}

// unlock lets go of the lock, keeping the connection if it still works.
func (op *tenantOp) unlock(ctx context.Context) {
	if !op.locked || op.conn == nil {
		return
	}
	op.locked = false
	if _, err := op.conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, $2)`, lockkey.TenantOp, lockkey.Tenant(op.id)); err != nil {
		closeAndWait(ctx, op.conn)
		op.conn = nil
	}
}

// release lets go of the lock and gives the connection back; it may be called again.
func (op *tenantOp) release(ctx context.Context) {
	if op.conn == nil {
		return
	}
	if op.unlock(ctx); op.conn != nil {
		op.conn.Release()
		op.conn = nil
	}
}

// errMoveInProgress: another process is moving or restoring the tenant right now.
var errMoveInProgress = errors.New("tenancy: a move or restore of this tenant is under way")

// lockTenantOp takes the tenant's operation lock on an owner connection of its own; wait says
// whether to wait for it or fail with errMoveInProgress.
func (c *Client) lockTenantOp(ctx context.Context, id int64, wait bool) (func(), error) {
	conn, err := c.owner.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	op := &tenantOp{conn: conn, id: id}
	if wait {
		err = op.lock(ctx, conn)
	} else if ok, lerr := op.tryLock(ctx); lerr != nil {
		err = lerr
	} else if !ok {
		err = errMoveInProgress
	}
	if err != nil {
		conn.Release()
		return nil, err
	}
	return func() { op.release(ctx) }, nil
}

// closeAndWait closes a pooled connection whose session holds locks it could not release (it
// failed) and waits, briefly, until the server has ended that session and so let go of them:
// whoever looks next (Repair) must not mistake the leftover for an operation still running.
func closeAndWait(ctx context.Context, conn *pgxpool.Conn) {
	ctx = context.WithoutCancel(ctx)
	pid := conn.Conn().PgConn().PID()
	pool := conn.Conn().Config()
	conn.Conn().Close(ctx) // closing the session lets go of the lock
	conn.Release()
	check, err := pgx.ConnectConfig(ctx, pool)
	if err != nil {
		return
	}
	defer check.Close(ctx)
	for i := 0; i < 200; i++ {
		var alive bool
		if err := check.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&alive); err != nil || !alive {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// crash is called at each crash point (the table is internal/crash), with the open transaction
// if there is one. Tests set Client.testHook to simulate a crash there (export_test.go); in
// production it does nothing.
func (c *Client) crash(ctx context.Context, step string, tx pgx.Tx) error {
	return crash.At(ctx, c.testHook, step, tx)
}
