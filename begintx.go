package tenancy

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// BeginTx starts a transaction bound to the tenant that ctx carries (see WithTenant), for code
// that cannot run its work inside Tx's callback: a database/sql driver (tenancysql), a framework
// that begins and ends transactions in separate calls. Without a tenant in ctx it returns
// ErrNoTenant and starts nothing.
//
// The transaction is bound as Tx's are: BEGIN and the binding in one round trip, ErrTenantMoving
// while a move fences the tenant, the pool of the tenant's placement in every tier, and Commit
// sending COMMIT and the session reset in one message. The caller must end it with Commit or
// Rollback (Rollback after Commit is a no-op returning pgx.ErrTxClosed, so `defer tx.Rollback`
// is safe): that returns the connection to its pool.
//
// Unlike Tx, BeginTx cannot run the transaction again when a statement fails with SQLSTATE 0A000
// ("cached plan must not change result type", a prepared statement meeting a tenant at another
// migration version): the error is returned, and the caller may retry the transaction.
func (c *Client) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	t, ok := FromContext(ctx)
	if !ok {
		return nil, ErrNoTenant
	}
	return c.BeginTxFor(ctx, t, opts)
}

// BeginTxFor is BeginTx for an explicit tenant.
//
// With Config.Observer, the transaction is reported as a BoundTx from BeginTx to its Commit or
// Rollback; its statements run under the caller's context, not the Observer's.
func (c *Client) BeginTxFor(ctx context.Context, t *Tenant, opts pgx.TxOptions) (_ pgx.Tx, err error) {
	if t == nil {
		return nil, ErrNoTenant
	}
	octx, obs := c.observeBound(ctx, t, BoundTx, "")
	defer func() {
		if err != nil {
			obs.end(err)
		}
	}()
	b, err := c.bindingFor(t)
	if err != nil {
		return nil, err
	}
	adm, err := c.admit(octx, t, b.limits)
	if err != nil {
		return nil, err
	}
	wait := obs.waitStart()
	pool, release, err := c.poolFor(octx, t)
	obs.waitEnd(wait)
	if err != nil {
		adm.done(err)
		return nil, err
	}
	conn, tx, err := c.begin(octx, pool, b, c.txOptions(opts), obs)
	if err != nil {
		release()
		adm.done(err)
		return nil, err
	}
	return &boundTx{Tx: tx, c: c, conn: conn, release: release, obs: obs, adm: adm, citus: b.citus}, nil
}

// boundTx is a transaction of BeginTx: it ends as Tx's do and then gives its connection back.
type boundTx struct {
	pgx.Tx
	c       *Client
	conn    *pgxpool.Conn
	release func() // lets go of the placement's pool
	obs     *observedCall
	adm     *admission
	citus   bool // bound on a Citus coordinator (citusbind.go)
	done    bool
}

// Commit commits the transaction, or rolls it back and returns pgx.ErrTxCommitRollback if a
// statement of it failed.
func (t *boundTx) Commit(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	var err error
	defer func() { t.end(err) }()
	if !t.c.noReset && t.conn.Conn().PgConn().TxStatus() == 'E' {
		// COMMIT would roll back; the commit message's last result would not say so.
		t.c.rollback(ctx, t.conn, t.Tx, t.citus)
		err = pgx.ErrTxCommitRollback
		return err
	}
	if err = t.Tx.Commit(ctx); err != nil {
		t.c.rollback(ctx, t.conn, t.Tx, t.citus)
		return err
	}
	return nil
}

// Rollback rolls the transaction back.
func (t *boundTx) Rollback(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	defer t.end(nil)
	t.c.rollback(ctx, t.conn, t.Tx, t.citus)
	return nil
}

func (t *boundTx) end(err error) {
	t.done = true
	t.conn.Release()
	t.release()
	t.adm.done(err)
	t.obs.end(err)
}
