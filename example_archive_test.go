package tenancy_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/tenancy-go/tenancy"
)

// Back a pool tenant up (only its rows), restore it under a new slug in the schema tier, then
// move the original to a database of its own.
func ExampleClient_Backup() {
	client, cleanup := exampleClient()
	defer cleanup()
	ctx := context.Background()

	acme, err := client.TenantCreate(ctx, "acme", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.Exec(tenancy.WithTenant(ctx, acme), `INSERT INTO notes (body) VALUES ('hello'), ('world')`); err != nil {
		log.Fatal(err)
	}

	var archive bytes.Buffer // any io.Writer: a file, an upload
	res, err := client.Backup(ctx, "acme", &archive, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("backed up", res.Tenant, res.Tables, "table,", res.Rows, "rows")

	twin, err := client.Restore(ctx, &archive, &tenancy.RestoreOpts{Slug: "acme-twin", Tier: tenancy.TierSchema})
	if err != nil {
		log.Fatal(err)
	}
	var n int
	if err := client.QueryRow(tenancy.WithTenant(ctx, twin), `SELECT count(*) FROM notes`).Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println(twin.Slug, twin.Tier, twin.Status, n, "notes")

	moved, err := client.Move(ctx, "acme", &tenancy.MoveOpts{Tier: tenancy.TierDatabase})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(moved.Slug, moved.Tier, moved.Status, moved.ID == acme.ID)
	// Output:
	// backed up acme 1 table, 2 rows
	// acme-twin schema active 2 notes
	// acme database active true
}
