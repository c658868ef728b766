// Package pgrole creates or updates a login role, for the places that set up roles themselves:
// the CLI's local cluster, the test harness and the load commands.
package pgrole

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is a *pgx.Conn, a pgx.Tx or a pool.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Ensure creates role with attrs (e.g. "LOGIN NOSUPERUSER NOBYPASSRLS") and password, or, if it
// exists, sets them again. It reports whether the role was created.
func Ensure(ctx context.Context, q Querier, role, attrs, password string) (created bool, err error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return false, err
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	// Utility statements take no parameters: the password is quoted as a literal.
	sql := fmt.Sprintf(`%s ROLE %s %s PASSWORD '%s'`, verb, pgx.Identifier{role}.Sanitize(), attrs, strings.ReplaceAll(password, "'", "''"))
	if _, err := q.Exec(ctx, sql); err != nil {
		return false, fmt.Errorf("role %s: %w", role, err)
	}
	return !exists, nil
}
