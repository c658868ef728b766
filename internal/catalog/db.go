package catalog

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB runs the catalog's statements: a *pgxpool.Pool, *pgxpool.Conn, *pgx.Conn or pgx.Tx. The
// functions of this package return pgx.ErrNoRows and PostgreSQL's errors as they are: the caller
// names what was not found.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// RowQuerier is the part of DB that a one-row read needs.
type RowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
