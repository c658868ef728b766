package ormtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tenancy-go/tenancy"
)

type sqlxORM struct{ db *sqlx.DB }

const sqlxInsert = `INSERT INTO items (name, price, qty, done, attrs, created_at)
	VALUES (:name, :price, :qty, :done, :attrs, :created_at) RETURNING id`

// sqlxItem maps item's fields to columns: sqlx's default is the lower-cased field name.
type sqlxItem struct {
	ID        int64     `db:"id"`
	Name      string    `db:"name"`
	Price     float64   `db:"price"`
	Qty       int       `db:"qty"`
	Done      bool      `db:"done"`
	Attrs     []byte    `db:"attrs"`
	CreatedAt time.Time `db:"created_at"`
}

func (o sqlxORM) insert(ctx context.Context, it *item) error {
	return insertSqlx(ctx, o.db, it)
}

// insertSqlx inserts through sqlx's named query on a *sqlx.DB or *sqlx.Tx.
func insertSqlx(ctx context.Context, q sqlx.ExtContext, it *item) error {
	query, args, err := sqlx.Named(sqlxInsert, sqlxItem(*it))
	if err != nil {
		return err
	}
	return sqlx.GetContext(ctx, q, &it.ID, q.Rebind(query), args...)
}

func (o sqlxORM) items(ctx context.Context) ([]item, error) {
	var rows []sqlxItem
	err := o.db.SelectContext(ctx, &rows, `SELECT id, name, price, qty, done, attrs, created_at FROM items ORDER BY id`)
	out := make([]item, len(rows))
	for i, r := range rows {
		out[i] = item(r)
	}
	return out, err
}

func (o sqlxORM) insertTx(ctx context.Context, it *item, rollback bool) error {
	tx, err := o.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := insertSqlx(ctx, tx, it); err != nil {
		return err
	}
	if rollback {
		return errRollback // the deferred Rollback
	}
	return tx.Commit()
}

// TestSQLX: sqlx on tenancysql's *sql.DB, in every tier.
func TestSQLX(t *testing.T) {
	t.Parallel()
	eachTier(t, func(t *testing.T, client *tenancy.Client) orm {
		return sqlxORM{sqlx.NewDb(sqlDB(t, client), "pgx")}
	})
}
