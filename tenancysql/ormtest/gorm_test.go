package ormtest_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tenancy-go/tenancy"
)

// gormItem is item as a GORM model: no tenant_id field, so the column's default (the bound
// tenant) fills it.
type gormItem struct {
	ID        int64 `gorm:"primaryKey"`
	Name      string
	Price     float64
	Qty       int
	Done      bool
	Attrs     []byte `gorm:"type:jsonb"`
	CreatedAt time.Time
}

func (gormItem) TableName() string { return "items" }

type gormORM struct{ db *gorm.DB }

func (o gormORM) insert(ctx context.Context, it *item) error {
	g := gormItem(*it)
	err := o.db.WithContext(ctx).Create(&g).Error
	it.ID = g.ID
	return err
}

func (o gormORM) items(ctx context.Context) ([]item, error) {
	var gs []gormItem
	err := o.db.WithContext(ctx).Order("id").Find(&gs).Error
	out := make([]item, len(gs))
	for i, g := range gs {
		out[i] = item(g)
	}
	return out, err
}

func (o gormORM) insertTx(ctx context.Context, it *item, rollback bool) error {
	return o.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		g := gormItem(*it)
		if err := tx.Create(&g).Error; err != nil {
			return err
		}
		if rollback {
			return errRollback
		}
		return nil
	})
}

// TestGORM: GORM's postgres driver on tenancysql's *sql.DB, in every tier.
func TestGORM(t *testing.T) {
	t.Parallel()
	eachTier(t, func(t *testing.T, client *tenancy.Client) orm {
		db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB(t, client)}), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			t.Fatal(err)
		}
		return gormORM{db}
	})
}
