package ormtest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/tenancy-go/tenancy"
)

// bunItem is item as a bun model: no tenant_id field, so the column's default (the bound tenant)
// fills it.
type bunItem struct {
	bun.BaseModel `bun:"table:items"`

	ID        int64           `bun:"id,pk,autoincrement"`
	Name      string          `bun:"name"`
	Price     float64         `bun:"price"`
	Qty       int             `bun:"qty"`
	Done      bool            `bun:"done"`
	Attrs     json.RawMessage `bun:"attrs,type:jsonb"`
	CreatedAt time.Time       `bun:"created_at"`
}

type bunORM struct{ db *bun.DB }

func toBun(it *item) *bunItem {
	return &bunItem{ID: it.ID, Name: it.Name, Price: it.Price, Qty: it.Qty, Done: it.Done, Attrs: it.Attrs, CreatedAt: it.CreatedAt}
}

func insertBun(ctx context.Context, db bun.IDB, it *item) error {
	b := toBun(it)
	_, err := db.NewInsert().Model(b).Exec(ctx)
	it.ID = b.ID
	return err
}

func (o bunORM) insert(ctx context.Context, it *item) error { return insertBun(ctx, o.db, it) }

func (o bunORM) items(ctx context.Context) ([]item, error) {
	var bs []bunItem
	err := o.db.NewSelect().Model(&bs).Order("id").Scan(ctx)
	out := make([]item, len(bs))
	for i, b := range bs {
		out[i] = item{ID: b.ID, Name: b.Name, Price: b.Price, Qty: b.Qty, Done: b.Done, Attrs: b.Attrs, CreatedAt: b.CreatedAt}
	}
	return out, err
}

func (o bunORM) insertTx(ctx context.Context, it *item, rollback bool) error {
	return o.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := insertBun(ctx, tx, it); err != nil {
			return err
		}
		if rollback {
			return errRollback
		}
		return nil
	})
}

// TestBun: bun with its PostgreSQL dialect on tenancysql's *sql.DB, in every tier.
func TestBun(t *testing.T) {
	t.Parallel()
	eachTier(t, func(t *testing.T, client *tenancy.Client) orm {
		return bunORM{bun.NewDB(sqlDB(t, client), pgdialect.New())}
	})
}
