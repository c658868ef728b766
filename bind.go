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

	"github.com/tenancy-go/tenancy/internal/placement"
)

// The binding (DESIGN §2): for one transaction, search_path = the tenant's schema, then the shared
// schema, and tenancy.tenant_id = the tenant's id, both transaction-local. Nothing is ever set at
// session level, so a connection back in the pool carries no tenant whatever happened; pgxpool
// also destroys any connection released inside a transaction.

// bindSQL is sent in the same round trip as the statement it binds.
const bindSQL = `SELECT set_config('search_path', $1, true), set_config('tenancy.tenant_id', $2, true)`

// binding is what a tenant's transactions set.
type binding struct {
	searchPath string
	tenantID   string
}

func (c *Client) bindingFor(t *Tenant) (binding, error) {
	if t == nil {
		return binding{}, ErrNoTenant
	}
	switch t.Status {
	case StatusActive, StatusSuspended:
	case StatusMoving:
		// Writes during a move would be lost when the old placement is dropped.
		return binding{}, tenantErr(ErrTenantMoving, t.Slug)
	default:
		return binding{}, fmt.Errorf("%w: %s is %s", ErrTenantNotActive, t.Slug, t.Status)
	}
	if t.Placement.Schema == "" {
		return binding{}, fmt.Errorf("tenancy: tenant %s has no placement", t.Slug)
	}
	return binding{
		searchPath: pgx.Identifier{t.Placement.Schema}.Sanitize() + ", " + pgx.Identifier{c.shared}.Sanitize(),
		tenantID:   strconv.FormatInt(t.ID, 10),
	}, nil
}

// poolFor returns the pool that reaches t's placement, and a func to call when done with it.
func (c *Client) poolFor(ctx context.Context, t *Tenant) (*pgxpool.Pool, func(), error) {
	if t.Tier != TierDatabase && t.Placement.Server == "" {
		return c.pool, func() {}, nil
	}
	return c.placements.Acquire(ctx, placement.Key{Server: t.Placement.Server, Database: t.Placement.Database})
}

// beginSQL opens a transaction and binds it in one simple-protocol round trip.
func (b binding) beginSQL(opts pgx.TxOptions) string {
	var sb strings.Builder
	sb.WriteString("BEGIN")
	if opts.IsoLevel != "" {
		sb.WriteString(" ISOLATION LEVEL ")
		sb.WriteString(string(opts.IsoLevel))
	}
	if opts.AccessMode != "" {
		sb.WriteString(" ")
		sb.WriteString(string(opts.AccessMode))
	}
	if opts.DeferrableMode != "" {
		sb.WriteString(" ")
		sb.WriteString(string(opts.DeferrableMode))
	}
	sb.WriteString("; SELECT set_config('search_path', ")
	sb.WriteString(quoteLiteral(b.searchPath))
	sb.WriteString(", true), set_config('tenancy.tenant_id', ")
	sb.WriteString(quoteLiteral(b.tenantID))
	sb.WriteString(", true)")
	return sb.String()
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings is on since 9.1;
// the E” form makes backslashes safe either way).
func quoteLiteral(s string) string {
	if strings.ContainsRune(s, '\\') {
		return "E'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", "''") + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
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
// Opening the transaction and binding it cost one round trip, the same as a plain BEGIN. If the
// transaction fails with SQLSTATE 0A000 ("cached plan must not change result type", a prepared
// statement meeting a tenant at another migration version) it is retried once.
func (c *Client) TxFor(ctx context.Context, t *Tenant, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) error {
	b, err := c.bindingFor(t)
	if err != nil {
		return err
	}
	pool, release, err := c.poolFor(ctx, t)
	if err != nil {
		return err
	}
	defer release()
	opts.BeginQuery = b.beginSQL(opts)
	ctx = WithTenant(ctx, t)
	err = runTx(ctx, pool, opts, fn)
	if isCachedPlanChanged(err) {
		err = runTx(ctx, pool, opts, fn)
	}
	return err
}

func runTx(ctx context.Context, pool *pgxpool.Pool, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) (err error) {
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = fn(ctx, tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func isCachedPlanChanged(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "0A000" && strings.Contains(pgErr.Message, "cached plan")
}

// Exec runs one statement bound to the tenant in ctx, in its own implicit transaction: the binding
// and the statement travel in one round trip. Together with Query and QueryRow it makes *Client
// satisfy the DBTX interface that sqlc generates, so generated queries run tenant-bound as they are.
func (c *Client) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := c.exec(ctx, sql, args)
	if isCachedPlanChanged(err) {
		tag, err = c.exec(ctx, sql, args)
	}
	return tag, err
}

func (c *Client) exec(ctx context.Context, sql string, args []any) (pgconn.CommandTag, error) {
	conn, br, err := c.sendBound(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer conn.Release()
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query runs one query bound to the tenant in ctx, in one round trip (see Exec). The rows must be
// closed (rows.Close, or reading them to the end) to return the connection to the pool.
func (c *Client) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	conn, br, err := c.sendBound(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		conn.Release()
		return nil, err
	}
	return &boundRows{Rows: rows, br: br, conn: conn}, nil
}

// QueryRow runs one query bound to the tenant in ctx, in one round trip (see Exec).
func (c *Client) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &boundRow{c: c, ctx: ctx, sql: sql, args: args}
}

// sendBound sends [bind, statement] as one pipelined batch. The batch is one implicit transaction
// (a single Sync), so the transaction-local settings apply to the statement and vanish after it.
func (c *Client) sendBound(ctx context.Context, sql string, args []any) (*boundConn, pgx.BatchResults, error) {
	t, ok := FromContext(ctx)
	if !ok {
		return nil, nil, ErrNoTenant
	}
	b, err := c.bindingFor(t)
	if err != nil {
		return nil, nil, err
	}
	pool, release, err := c.poolFor(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	pc, err := pool.Acquire(ctx)
	if err != nil {
		release()
		return nil, nil, err
	}
	conn := &boundConn{Conn: pc, release: release}
	batch := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 2)}
	batch.Queue(bindSQL, b.searchPath, b.tenantID)
	batch.Queue(sql, args...)
	br := conn.SendBatch(ctx, batch)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		conn.Release()
		return nil, nil, err
	}
	return conn, br, nil
}

// boundConn returns its connection to the pool and lets go of the pool itself.
type boundConn struct {
	*pgxpool.Conn
	release func()
}

func (c *boundConn) Release() {
	c.Conn.Release()
	c.release()
}

// boundRows releases the batch and the connection when the rows are closed.
type boundRows struct {
	pgx.Rows
	br       pgx.BatchResults
	conn     *boundConn
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
	r.conn.Release()
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
	err := r.scan(dest)
	if isCachedPlanChanged(err) {
		err = r.scan(dest)
	}
	return err
}

func (r *boundRow) scan(dest []any) error {
	conn, br, err := r.c.sendBound(r.ctx, r.sql, r.args)
	if err != nil {
		return err
	}
	defer conn.Release()
	err = br.QueryRow().Scan(dest...)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}
