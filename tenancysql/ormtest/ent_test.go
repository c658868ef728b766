package ormtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/tenancy-go/tenancy"
)

// ent's clients are generated code; what they run on is ent's SQL driver (entsql.OpenDB over a
// *sql.DB, its Query, Exec and Tx), its statement builder and its scanner. The test uses those
// directly, so that no generated code has to be committed.

// entItem is item as ent's scanner reads it.
type entItem struct {
	ID        int64     `sql:"id"`
	Name      string    `sql:"name"`
	Price     float64   `sql:"price"`
	Qty       int       `sql:"qty"`
	Done      bool      `sql:"done"`
	Attrs     []byte    `sql:"attrs"`
	CreatedAt time.Time `sql:"created_at"`
}

type entORM struct{ drv *entsql.Driver }

func insertEnt(ctx context.Context, q dialect.ExecQuerier, it *item) error {
	query, args := entsql.Dialect(dialect.Postgres).Insert("items").
		Columns("name", "price", "qty", "done", "attrs", "created_at").
		Values(it.Name, it.Price, it.Qty, it.Done, it.Attrs, it.CreatedAt).
		Returning("id").Query()
	var rows entsql.Rows
	if err := q.Query(ctx, query, args, &rows); err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return errors.New("INSERT ... RETURNING returned no row")
	}
	return rows.Scan(&it.ID)
}

func (o entORM) insert(ctx context.Context, it *item) error { return insertEnt(ctx, o.drv, it) }

func (o entORM) items(ctx context.Context) ([]item, error) {
	query, args := entsql.Dialect(dialect.Postgres).
		Select("id", "name", "price", "qty", "done", "attrs", "created_at").
		From(entsql.Table("items")).OrderBy("id").Query()
	var rows entsql.Rows
	if err := o.drv.Query(ctx, query, args, &rows); err != nil {
		return nil, err
	}
	defer rows.Close()
	var es []entItem
	if err := entsql.ScanSlice(rows, &es); err != nil {
		return nil, err
	}
	out := make([]item, len(es))
	for i, e := range es {
		out[i] = item(e)
	}
	return out, nil
}

func (o entORM) insertTx(ctx context.Context, it *item, rollback bool) error {
	tx, err := o.drv.Tx(ctx)
	if err != nil {
		return err
	}
	if err := insertEnt(ctx, tx, it); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	if rollback {
		return errors.Join(errRollback, tx.Rollback())
	}
	return tx.Commit()
}

// TestEnt: ent's SQL driver on tenancysql's *sql.DB, in every tier.
func TestEnt(t *testing.T) {
	t.Parallel()
	eachTier(t, func(t *testing.T, client *tenancy.Client) orm {
		return entORM{entsql.OpenDB(dialect.Postgres, sqlDB(t, client))}
	})
}
