package tenancysql_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancysql"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// database/sql on a database-tier tenant: statements and transactions are bound to the tenant in
// the context; without one, nothing runs.
func ExampleOpenDB() {
	ctx := context.Background()
	tdb, closeDB, err := tenancytest.Open(ctx, &tenancytest.Options{TenantMigrations: os.DirFS("testdata/migrations/tenant")})
	if err != nil {
		panic(err)
	}
	defer closeDB()
	big, err := tdb.Client.TenantCreate(ctx, "bigco", &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase})
	if err != nil {
		panic(err)
	}

	db := tenancysql.OpenDB(tdb.Client)
	defer db.Close()
	tctx := tenancy.WithTenant(ctx, big) // tenancyhttp's middleware does this for a request
	if _, err := db.ExecContext(tctx, `INSERT INTO items (name, price) VALUES ($1, $2)`, "anvil", "9.99"); err != nil {
		panic(err)
	}
	tx, err := db.BeginTx(tctx, nil)
	if err != nil {
		panic(err)
	}
	if _, err := tx.ExecContext(tctx, `INSERT INTO items (name) VALUES ('rolled back')`); err != nil {
		panic(err)
	}
	if err := tx.Rollback(); err != nil {
		panic(err)
	}
	var name, price string
	if err := db.QueryRowContext(tctx, `SELECT name, price FROM items`).Scan(&name, &price); err != nil {
		panic(err)
	}
	fmt.Println(name, price)

	_, err = db.ExecContext(ctx, `DELETE FROM items`)
	fmt.Println(errors.Is(err, tenancy.ErrNoTenant))
	// Output:
	// anvil 9.99
	// true
}
