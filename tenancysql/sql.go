package tenancysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenancy-go/tenancy"
)

// OpenDB returns a *sql.DB that binds every statement and transaction to the tenant in its
// context through client (see the package documentation). Closing it does not close client.
func OpenDB(client *tenancy.Client) *sql.DB {
	return sql.OpenDB(NewConnector(client))
}

// NewConnector returns the driver.Connector behind OpenDB, for code that wraps connectors (an
// instrumentation library, say) before calling sql.OpenDB.
func NewConnector(client *tenancy.Client) driver.Connector {
	return &connector{client: client}
}

// errOpen: the driver has no connection string to open, only a Client.
var errOpen = errors.New("tenancysql: open with tenancysql.OpenDB(client), not sql.Open")

type connector struct{ client *tenancy.Client }

func (k *connector) Connect(context.Context) (driver.Conn, error) {
	return &conn{client: k.client}, nil
}

func (k *connector) Driver() driver.Driver { return sqlDriver{} }

type sqlDriver struct{}

func (sqlDriver) Open(string) (driver.Conn, error) { return nil, errOpen }

// conn is a handle on the Client: between transactions it holds nothing, so any tenant's
// statements may use it; during one it holds the bound pgx transaction.
type conn struct {
	client *tenancy.Client
	tx     pgx.Tx
	txCtx  context.Context // BeginTx's, without its cancellation: for Commit and Rollback
}

var (
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
)

func (c *conn) ExecContext(ctx context.Context, query string, named []driver.NamedValue) (driver.Result, error) {
	args := values(named)
	var err error
	var tag pgconn.CommandTag
	if c.tx != nil {
		tag, err = c.tx.Exec(ctx, query, args...)
	} else {
		tag, err = c.client.Exec(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
}

func (c *conn) QueryContext(ctx context.Context, query string, named []driver.NamedValue) (driver.Rows, error) {
	args := values(named)
	var r pgx.Rows
	var err error
	if c.tx != nil {
		r, err = c.tx.Query(ctx, query, args...)
	} else {
		r, err = c.client.Query(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return newRows(r), nil
}

// CheckNamedValue passes every argument to pgx as it is: pgx encodes what database/sql's own
// conversion would, and more (driver.Valuer, slices, maps, pgtype's types).
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if nv.Name != "" {
		return fmt.Errorf("tenancysql: named argument %q: use positional placeholders ($1, $2, ...)", nv.Name)
	}
	return nil
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.tx != nil {
		return nil, errors.New("tenancysql: a transaction is already under way on this connection")
	}
	o, err := txOptions(opts)
	if err != nil {
		return nil, err
	}
	tx, err := c.client.BeginTx(ctx, o)
	if err != nil {
		return nil, err
	}
	c.tx, c.txCtx = tx, context.WithoutCancel(ctx)
	return sqlTx{c}, nil
}

func txOptions(opts driver.TxOptions) (pgx.TxOptions, error) {
	var o pgx.TxOptions
	switch sql.IsolationLevel(opts.Isolation) {
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		o.IsoLevel = pgx.ReadUncommitted
	case sql.LevelReadCommitted:
		o.IsoLevel = pgx.ReadCommitted
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		o.IsoLevel = pgx.RepeatableRead
	case sql.LevelSerializable:
		o.IsoLevel = pgx.Serializable
	default:
		return o, fmt.Errorf("tenancysql: isolation level %s is not supported by PostgreSQL", sql.IsolationLevel(opts.Isolation))
	}
	if opts.ReadOnly {
		o.AccessMode = pgx.ReadOnly
	}
	return o, nil
}

// sqlTx ends the connection's transaction: Client.BeginTx's Commit and Rollback, which give the
// pgx connection back to its pool.
type sqlTx struct{ c *conn }

func (t sqlTx) Commit() error {
	tx, ctx := t.c.endTx()
	if tx == nil {
		return sql.ErrTxDone
	}
	return tx.Commit(ctx)
}

func (t sqlTx) Rollback() error {
	tx, ctx := t.c.endTx()
	if tx == nil {
		return sql.ErrTxDone
	}
	return tx.Rollback(ctx)
}

func (c *conn) endTx() (pgx.Tx, context.Context) {
	tx, ctx := c.tx, c.txCtx
	c.tx, c.txCtx = nil, nil
	return tx, ctx
}

// Ping checks the tenant's placement (a bound statement) when ctx carries a tenant, otherwise
// the catalog's database: sql.DB.Ping without a tenant, as GORM calls when it opens, must work.
func (c *conn) Ping(ctx context.Context) error {
	if _, ok := tenancy.FromContext(ctx); ok {
		_, err := c.client.Exec(ctx, `SELECT`)
		return err
	}
	return c.client.AppPool().Ping(ctx)
}

func (c *conn) ResetSession(context.Context) error { return nil }

func (c *conn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	return &stmt{c: c, query: query}, nil
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// Close ends a transaction left open (database/sql does not, but a driver must not leak one).
func (c *conn) Close() error {
	if tx, ctx := c.endTx(); tx != nil {
		return tx.Rollback(ctx)
	}
	return nil
}

// Begin is database/sql's legacy entry point; its context carries no tenant.
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// stmt is a statement kept as text: pgx's statement cache prepares it on each PostgreSQL
// connection that runs it, so a driver-level prepare would only add a round trip.
type stmt struct {
	c     *conn
	query string
}

var (
	_ driver.StmtExecContext  = (*stmt)(nil)
	_ driver.StmtQueryContext = (*stmt)(nil)
)

func (s *stmt) Close() error  { return nil }
func (s *stmt) NumInput() int { return -1 }

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.query, args)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.query, args)
}

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func values(named []driver.NamedValue) []any {
	args := make([]any, len(named))
	for i, nv := range named {
		args[i] = nv.Value
	}
	return args
}

func named(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}
