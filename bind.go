package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/connpool"
	"github.com/tenancy-go/tenancy/internal/lockkey"
)

// The binding (docs/rls.md): for one transaction, search_path = the tenant's schema, then the shared
// schema, and tenancy.tenant_id = the tenant's id, both transaction-local. Nothing is ever set at
// session level, so a connection back in the pool carries no tenant whatever happened; pgxpool
// also destroys any connection released inside a transaction.
//
// The binding statement travels in the same round trip as the statement it binds (one-shot
// calls) or as the BEGIN (Tx). It sets nothing, and returns no row, when the tenant is fenced
// (fence.go: a move holds its advisory lock), so the statements after it run unbound: they reach
// the empty shape schema or RLS that shows nothing. The caller then reports ErrTenantMoving.
// On a Citus coordinator the binding is other statements, in a transaction block (citusbind.go).

// bindSQL binds a transaction to a tenant unless the tenant is fenced.
const bindSQL = `SELECT set_config('search_path', $1, true), set_config('tenancy.tenant_id', $2, true)
	WHERE pg_try_advisory_xact_lock_shared($3::int4, $4::int4)`

// bindPoolSQL also checks the catalog, in the same statement: a pool placement outlives a tenant
// that moved out of it, so a process still holding the tenant's old placement must not write
// there. (Other placements are dropped after a move, which stops such writes by itself.)
const bindPoolSQL = bindSQL + `
	AND EXISTS (SELECT 1 FROM tenancy.tenants WHERE id = $2::bigint AND placement_id = $5 AND status IN ('active', 'suspended'))`

// A tenant's SQL can also leave session state on its connection, which the binding does not
// cover: a session SET or set_config(..., false) (search_path, tenancy.tenant_id: unbound queries
// would read that tenant's rows), a WITH HOLD cursor (another tenant could fetch it), a session
// advisory lock (on a fence key another tenant reads as moving), LISTEN, temporary tables. So
// every use of a connection ends by undoing all of it, in the round trip that ends the use: after
// the statement in a one-shot batch, after COMMIT in Tx's commit message (also when that COMMIT
// rolls back a failed transaction). Only pg_advisory_* locks outlive a rollback, so a one-shot
// call that fails, or a Tx that fn ends with an error but no failed statement, costs one more
// round trip to let them go. Not DISCARD ALL or DEALLOCATE ALL: they would throw away pgx's
// prepared statements.

// resetSQL ends a use of a connection, in a one-shot batch (one statement each) or after COMMIT
// (one simple-protocol message). RESET ALL restores the values the connection started with (its
// startup parameters, ALTER ROLE/DATABASE ... SET), not those of SET statements in an
// AfterConnect hook; it leaves ROLE alone, as a pool may SET ROLE on connect. RESET ALL comes
// first so that the rest runs under the connection's own settings (statement_timeout, ...).
var resetSQL = []string{`RESET ALL`, `CLOSE ALL`, `UNLISTEN *`, `DISCARD TEMP`}

// unlockSQL lets go of session advisory locks (not of the binding's transaction-level fence).
const unlockSQL = `SELECT pg_advisory_unlock_all()`

// rebindSQL ends a one-shot batch: after RESET ALL, the binding is set again for what runs at
// the implicit COMMIT (deferred triggers), and session advisory locks are let go.
const rebindSQL = `SELECT pg_advisory_unlock_all(), set_config('search_path', $1, true), set_config('tenancy.tenant_id', $2, true)`

// commitSQL is Tx's commit: COMMIT, then the reset, in one message.
var commitSQL = "COMMIT; " + strings.Join(resetSQL, "; ") + "; " + unlockSQL

// binding is what a tenant's transactions set. It is built in one place, bindingFor: a setting
// that some tenants' transactions need (a limit, a timeout) goes there, as one more
// transaction-local set_config of sql.
type binding struct {
	slug       string
	id         int64
	sql        string
	searchPath string
	tenantID   string
	args       []any
	ownPlans   bool   // one-shot statements get texts of the tenant's own (plans.go)
	limits     Limits // limits.go: the timeouts are in sql and args

	// What the binding on Citus needs (citusbind.go).
	tenant *Tenant
	schema string // the placement's schema, unquoted
	poolID int64  // the pool placement that bind_citus checks; 0: no check
	citus  bool   // the connection is to a Citus coordinator: set once it is acquired
}

func (c *Client) bindingFor(t *Tenant) (*binding, error) {
	if t == nil {
		return nil, ErrNoTenant
	}
	switch t.Status {
	case StatusActive, StatusSuspended:
	case StatusMoving:
		// Writes during a move would be lost when the old placement is dropped.
		return nil, tenantErr(ErrTenantMoving, t.Slug)
	default:
		return nil, fmt.Errorf("%w: %s is %s", ErrTenantNotActive, t.Slug, t.Status)
	}
	if t.Placement.Schema == "" {
		return nil, fmt.Errorf("tenancy: tenant %s has no placement", t.Slug)
	}
	// pg_temp last in search_path: a temporary table outlives its transaction on a pooled
	// connection and must never shadow the next tenant's table of the same name
	// (proof_privilege_test.go).
	b := &binding{
		slug:       t.Slug,
		id:         t.ID,
		sql:        bindSQL,
		searchPath: pgx.Identifier{t.Placement.Schema}.Sanitize() + ", " + pgx.Identifier{c.shared}.Sanitize() + ", pg_temp",
		tenantID:   strconv.FormatInt(t.ID, 10),
		tenant:     t,
		schema:     t.Placement.Schema,
	}
	b.args = []any{b.searchPath, b.tenantID, lockkey.Fence, lockkey.Tenant(t.ID)}
	switch t.Tier {
	case TierPool:
		b.sql = bindPoolSQL
		b.args = append(b.args, t.Placement.ID)
		b.poolID = t.Placement.ID
		if c.noPoolCheck {
			b.sql = bindSQL
			b.args = b.args[:4]
			b.poolID = 0
		}
	case TierSchema:
		// Tenants of a pool share its search_path, and a database's pool serves one tenant:
		// only here does a connection re-plan at every switch.
		b.ownPlans = !c.noOwnPlans
	}
	b.limits = c.EffectiveLimits(t)
	b.addTimeouts(b.limits)
	return b, nil
}

// check reads the binding statement's result: no row means the tenant is fenced.
func (b *binding) check(row pgx.Row) error {
	var sp, id string
	err := row.Scan(&sp, &id)
	if errors.Is(err, pgx.ErrNoRows) {
		return tenantErr(ErrTenantMoving, b.slug)
	}
	return err
}

// poolFor returns the pool that reaches t's placement, and a func to call when done with it.
func (c *Client) poolFor(ctx context.Context, t *Tenant) (*pgxpool.Pool, func(), error) {
	if t.Tier != TierDatabase && t.Placement.Server == "" {
		return c.app, func() {}, nil
	}
	return c.conns.Acquire(ctx, connpool.Key{Server: t.Placement.Server, Database: t.Placement.Database})
}

// Tx runs fn in a transaction bound to the tenant that ctx carries (see WithTenant). The
// transaction commits if fn returns nil and rolls back otherwise, also when fn panics; the
// context passed to fn carries the tenant too. Without a tenant in ctx it returns ErrNoTenant
// and runs nothing.
func (c *Client) Tx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	t, ok := FromContext(ctx)
	if !ok {
		return ErrNoTenant
	}
	return c.TxFor(ctx, t, pgx.TxOptions{}, fn)
}

// TxFor is Tx for an explicit tenant and transaction options.
//
// BEGIN and the binding travel in one round trip, so a bound transaction costs what a plain one
// does. If the transaction fails with SQLSTATE 0A000 ("cached plan must not change result type",
// a prepared statement meeting a tenant at another migration version) it is retried once.
func (c *Client) TxFor(ctx context.Context, t *Tenant, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) (err error) {
	if t == nil {
		return ErrNoTenant
	}
	ctx, obs := c.observeBound(ctx, t, BoundTx, "")
	defer func() { obs.end(err) }()
	b, err := c.bindingFor(t)
	if err != nil {
		return err
	}
	adm, err := c.admit(ctx, t, b.limits)
	if err != nil {
		return err
	}
	defer func() { adm.done(err) }()
	wait := obs.waitStart()
	pool, release, err := c.poolFor(ctx, t)
	obs.waitEnd(wait)
	if err != nil {
		return err
	}
	defer release()
	ctx = WithTenant(ctx, t)
	opts = c.txOptions(opts)
	err = c.runTx(ctx, pool, b, opts, fn, obs)
	if isCachedPlanChanged(err) {
		err = c.runTx(ctx, pool, b, opts, fn, obs)
	}
	return err
}

// txOptions adds the session reset to opts' commit: COMMIT and the reset in one message (see
// resetSQL).
func (c *Client) txOptions(opts pgx.TxOptions) pgx.TxOptions {
	if c.noReset {
		return opts
	}
	if opts.CommitQuery == "" {
		opts.CommitQuery = commitSQL
	} else {
		opts.CommitQuery += "; " + strings.TrimPrefix(commitSQL, "COMMIT; ")
	}
	return opts
}

// begin takes a connection from pool and starts a transaction on it bound by b: BEGIN and the
// binding in one round trip. opts come from txOptions. On error the connection is back in pool.
// obs (nil without an Observer) times the wait for the connection.
func (c *Client) begin(ctx context.Context, pool *pgxpool.Pool, b *binding, opts pgx.TxOptions, obs *observedCall) (*pgxpool.Conn, pgx.Tx, error) {
	wait := obs.waitStart()
	conn, err := pool.Acquire(ctx)
	obs.waitEnd(wait)
	if err != nil {
		return nil, nil, err
	}
	c.recycle.served(conn.Conn(), b.tenantID) // recycle.go
	if b.citus, err = c.onCitus(ctx, conn.Conn(), b.tenant); err != nil {
		conn.Release()
		return nil, nil, err
	}
	batch := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 2)}
	if b.citus {
		batch.BeginTx(c.citusCommit(opts))
		batch.Queue(bindCitusSQL, b.citusArgs(c.shared)...)
	} else {
		batch.BeginTx(opts)
		batch.Queue(b.sql, b.args...)
	}
	br := conn.SendBatch(ctx, batch)
	tx := br.Tx()
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		conn.Release()
		return nil, nil, err
	}
	var bindErr error
	if b.citus {
		_, bindErr = br.Exec()
		bindErr = citusBindErr(bindErr, b.slug)
	} else {
		bindErr = b.check(br.QueryRow())
	}
	if err := br.Close(); err != nil || bindErr != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		conn.Release()
		if bindErr != nil {
			return nil, nil, bindErr
		}
		return nil, nil, err
	}
	return conn, tx, nil
}

// rollback undoes what a bound transaction did, except session advisory locks, which it lets go.
func (c *Client) rollback(ctx context.Context, conn *pgxpool.Conn, tx pgx.Tx, citus bool) {
	ctx = context.WithoutCancel(ctx)
	if !c.noReset && !citus && conn.Conn().PgConn().TxStatus() == 'E' {
		// COMMIT rolls a failed transaction back: the commit message does it and the reset
		// in one round trip. (Not on Citus: its commit message starts with unbind_citus,
		// which a failed transaction refuses.)
		if tx.Commit(ctx) == nil {
			return
		}
	}
	_ = tx.Rollback(ctx)
	c.unlock(ctx, conn.Conn())
}

func (c *Client) runTx(ctx context.Context, pool *pgxpool.Pool, b *binding, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error, obs *observedCall) (err error) {
	conn, tx, err := c.begin(ctx, pool, b, opts, obs)
	if err != nil {
		return err
	}
	defer conn.Release()
	rollback := func() { c.rollback(ctx, conn, tx, b.citus) }
	defer func() {
		if p := recover(); p != nil {
			rollback()
			panic(p)
		}
		if err != nil {
			rollback()
		}
	}()
	if err = fn(ctx, tx); err != nil {
		return err
	}
	if !c.noReset && conn.Conn().PgConn().TxStatus() == 'E' {
		// COMMIT would roll back; the commit message's last result would not say so.
		return pgx.ErrTxCommitRollback
	}
	return tx.Commit(ctx)
}

// unlock lets go of the session advisory locks a failed use may have left on conn, unless conn is
// closed or inside a transaction (the pool then destroys it).
func (c *Client) unlock(ctx context.Context, conn *pgx.Conn) {
	if c.noReset || conn.IsClosed() || conn.PgConn().TxStatus() != 'I' {
		return
	}
	_, _ = conn.Exec(ctx, unlockSQL)
}

func isCachedPlanChanged(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "0A000" && strings.Contains(pgErr.Message, "cached plan")
}

// Exec runs one statement bound to the tenant in ctx, in its own implicit transaction: the binding
// and the statement travel in one round trip. Together with Query and QueryRow it makes *Client
// satisfy the DBTX interface that sqlc generates, so generated queries run tenant-bound as they are.
func (c *Client) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, obs := c.observeBound(ctx, nil, BoundExec, sql)
	tag, err := c.exec(ctx, sql, args, obs)
	if isCachedPlanChanged(err) {
		tag, err = c.exec(ctx, sql, args, obs)
	}
	obs.end(err)
	return tag, err
}

func (c *Client) exec(ctx context.Context, sql string, args []any, obs *observedCall) (pgconn.CommandTag, error) {
	conn, br, err := c.sendBound(ctx, sql, args, obs)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer conn.Release()
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	conn.fail(err)
	return tag, err
}

// Query runs one query bound to the tenant in ctx, in one round trip (see Exec). The rows must be
// closed (rows.Close, or reading them to the end) to return the connection to the pool.
func (c *Client) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, obs := c.observeBound(ctx, nil, BoundQuery, sql)
	conn, br, err := c.sendBound(ctx, sql, args, obs)
	if err != nil {
		obs.end(err)
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		conn.fail(err)
		conn.Release()
		obs.end(err)
		return nil, err
	}
	return &boundRows{Rows: rows, br: br, conn: conn, obs: obs}, nil
}

// QueryRow runs one query bound to the tenant in ctx, in one round trip (see Exec).
func (c *Client) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &boundRow{c: c, ctx: ctx, sql: sql, args: args}
}

// sendBound sends [bind, statement] as one pipelined batch. The batch is one implicit transaction
// (a single Sync), so the transaction-local settings apply to the statement and vanish after it.
func (c *Client) sendBound(ctx context.Context, sql string, args []any, obs *observedCall) (*boundConn, pgx.BatchResults, error) {
	t, ok := FromContext(ctx)
	if !ok {
		return nil, nil, ErrNoTenant
	}
	b, err := c.bindingFor(t)
	if err != nil {
		return nil, nil, err
	}
	adm, err := c.admit(ctx, t, b.limits)
	if err != nil {
		return nil, nil, err
	}
	wait := obs.waitStart()
	pool, release, err := c.poolFor(ctx, t)
	if err != nil {
		adm.done(err)
		return nil, nil, err
	}
	pc, err := pool.Acquire(ctx)
	obs.waitEnd(wait)
	if err != nil {
		release()
		adm.done(err)
		return nil, nil, err
	}
	c.recycle.served(pc.Conn(), b.tenantID) // recycle.go
	if b.citus, err = c.onCitus(ctx, pc.Conn(), t); err != nil {
		pc.Release()
		release()
		adm.done(err)
		return nil, nil, err
	}
	conn := &boundConn{Conn: pc, c: c, ctx: ctx, release: release, adm: adm, citus: b.citus}
	if b.citus {
		br := conn.SendBatch(ctx, c.citusBatch(pc.Conn(), b, sql, args))
		if err := b.checkCitus(br); err != nil {
			// Fenced or failed: the statement did not run.
			_ = br.Close()
			conn.fail(err)
			conn.Release()
			return nil, nil, err
		}
		return conn, br, nil
	}
	batch := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 3+len(resetSQL))}
	batch.Queue(b.sql, b.args...)
	batch.Queue(tenantSQL(pc.Conn(), b, sql, args), args...)
	if !c.noReset {
		for _, r := range resetSQL {
			batch.Queue(r)
		}
		batch.Queue(rebindSQL, b.searchPath, b.tenantID)
	}
	br := conn.SendBatch(ctx, batch)
	if err := b.check(br.QueryRow()); err != nil {
		// Fenced, the statement ran unbound and could touch no tenant's rows; report the fence.
		conn.failed = br.Close() != nil
		conn.err = err
		conn.Release()
		return nil, nil, err
	}
	return conn, br, nil
}

// boundConn returns its connection to the pool and lets go of the pool itself.
type boundConn struct {
	*pgxpool.Conn
	c       *Client
	ctx     context.Context
	failed  bool // the batch failed, so its reset did not run
	citus   bool // a Citus batch: a failure leaves its transaction block open
	err     error
	release func()
	adm     *admission
}

func (c *boundConn) fail(err error) {
	c.failed, c.err = err != nil, err
}

func (c *boundConn) Release() {
	if c.failed && c.citus {
		c.c.abortCitus(context.WithoutCancel(c.ctx), c.Conn.Conn())
	} else if c.failed {
		c.c.unlock(context.WithoutCancel(c.ctx), c.Conn.Conn())
	}
	c.Conn.Release()
	c.release()
	c.adm.done(c.err)
}

// boundRows releases the batch and the connection when the rows are closed.
type boundRows struct {
	pgx.Rows
	br       pgx.BatchResults
	conn     *boundConn
	obs      *observedCall
	closed   bool
	closeErr error
}

func (r *boundRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	if err := r.br.Close(); err != nil && r.Rows.Err() == nil {
		r.closeErr = err
	}
	r.conn.fail(r.Err())
	r.conn.Release()
	r.obs.end(r.Err())
}

func (r *boundRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *boundRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.closeErr
}

// boundRow runs its query when scanned, as pgx's own Row does.
type boundRow struct {
	c    *Client
	ctx  context.Context
	sql  string
	args []any
}

func (r *boundRow) Scan(dest ...any) error {
	ctx, obs := r.c.observeBound(r.ctx, nil, BoundQueryRow, r.sql)
	err := r.scan(ctx, dest, obs)
	if isCachedPlanChanged(err) {
		err = r.scan(ctx, dest, obs)
	}
	obs.end(err)
	return err
}

func (r *boundRow) scan(ctx context.Context, dest []any, obs *observedCall) error {
	conn, br, err := r.c.sendBound(ctx, r.sql, r.args, obs)
	if err != nil {
		return err
	}
	defer conn.Release()
	err = br.QueryRow().Scan(dest...)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		conn.fail(err)
	}
	return err
}
