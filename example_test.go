package tenancy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// exampleClient returns a client on a fresh database with the test application's migrations
// (shared users, tenant notes), and a function that drops the database. An application builds its
// client with tenancy.New, from two pools: one as the application role (tenancy.ConfigurePool),
// one as the owner role; see docs/rls.md.
func exampleClient() (*tenancy.Client, func()) {
	db, cleanup, err := tenancytest.Open(context.Background(), &tenancytest.Options{
		SharedMigrations: os.DirFS("testdata/migrations/shared"),
		TenantMigrations: os.DirFS("testdata/migrations/tenant"),
	})
	if err != nil {
		log.Fatal(err)
	}
	return db.Client, cleanup
}

// Create a tenant, work in its schema inside a bound transaction, read back with a one-shot query.
func Example() {
	client, cleanup := exampleClient()
	defer cleanup()
	ctx := context.Background()

	acme, err := client.TenantCreate(ctx, "acme", &tenancy.TenantCreateOpts{Name: "Acme Inc."})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(acme.Slug, acme.Status, acme.Tier)

	// Every call made with this context works on acme's rows, and only on them.
	ctx = tenancy.WithTenant(ctx, acme)
	err = client.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		// No schema name and no tenant_id: the binding sets search_path, and the column
		// defaults to the bound tenant.
		_, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ($1), ($2)`, "first", "second")
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	var n int
	if err := client.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println("acme has", n, "notes")
	// Output:
	// acme active schema
	// acme has 2 notes
}

// Two tenants with the same tables never see each other's rows.
func ExampleClient_Tx() {
	client, cleanup := exampleClient()
	defer cleanup()
	ctx := context.Background()

	for _, slug := range []string{"acme", "globex"} {
		t, err := client.TenantCreate(ctx, slug, nil)
		if err != nil {
			log.Fatal(err)
		}
		err = client.Tx(tenancy.WithTenant(ctx, t), func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ($1)`, "hello from "+t.Slug)
			return err
		})
		if err != nil {
			log.Fatal(err)
		}
	}

	globex, err := client.TenantGet(ctx, "globex")
	if err != nil {
		log.Fatal(err)
	}
	err = client.Tx(tenancy.WithTenant(ctx, globex), func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT body FROM notes`)
		if err != nil {
			return err
		}
		bodies, err := pgx.CollectRows(rows, pgx.RowTo[string])
		fmt.Println(bodies)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// [hello from globex]
}

// A one-shot query sends the binding and the statement in one round trip. Without a tenant in
// the context nothing is sent at all.
func ExampleClient_QueryRow() {
	client, cleanup := exampleClient()
	defer cleanup()
	ctx := context.Background()

	acme, err := client.TenantCreate(ctx, "acme", nil)
	if err != nil {
		log.Fatal(err)
	}
	var body string
	err = client.QueryRow(tenancy.WithTenant(ctx, acme), `INSERT INTO notes (body) VALUES ('hi') RETURNING body`).Scan(&body)
	fmt.Println(body, err)

	err = client.QueryRow(ctx, `SELECT body FROM notes`).Scan(&body)
	fmt.Println(errors.Is(err, tenancy.ErrNoTenant))
	// Output:
	// hi <nil>
	// true
}

// Domains map host names to tenants, in any spelling a browser may send.
func ExampleClient_TenantGetByDomain() {
	client, cleanup := exampleClient()
	defer cleanup()
	ctx := context.Background()

	if _, err := client.TenantCreate(ctx, "acme", nil); err != nil {
		log.Fatal(err)
	}
	if _, err := client.DomainAdd(ctx, "acme", "app.acme.example", nil); err != nil {
		log.Fatal(err)
	}
	t, err := client.TenantGetByDomain(ctx, "APP.Acme.Example.:443")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.Slug, t.Domains)
	// Output:
	// acme [app.acme.example]
}

// Slugs are DNS labels; reserved words and anything else are refused before any SQL runs.
func ExampleValidateSlug() {
	for _, s := range []string{"acme", "Acme", "acme'; DROP TABLE x; --", "admin"} {
		fmt.Printf("%q: %v\n", s, tenancy.ValidateSlug(s))
	}
	// Output:
	// "acme": <nil>
	// "Acme": tenancy: invalid slug: "Acme" (want 2-63 of a-z, 0-9 and '-', starting with a letter, not ending with '-')
	// "acme'; DROP TABLE x; --": tenancy: invalid slug: "acme'; DROP TABLE x; --" (want 2-63 of a-z, 0-9 and '-', starting with a letter, not ending with '-')
	// "admin": tenancy: reserved slug: "admin"
}

// SettingsOf reads a tenant's settings as the application's own type; SettingsType makes the
// Config.ValidateSettings that keeps every write to that type.
func ExampleSettingsOf() {
	type orgSettings struct {
		Plan string `json:"plan"`
		Beta bool   `json:"beta"`
	}
	t := &tenancy.Tenant{Slug: "acme", Settings: json.RawMessage(`{"plan":"team","beta":true}`)}
	s, err := tenancy.SettingsOf[orgSettings](t)
	fmt.Println(s.Plan, s.Beta, err)

	validate := tenancy.SettingsType[orgSettings]()
	fmt.Println(validate(json.RawMessage(`{"plan":"team","colour":"red"}`)))
	fmt.Println(validate(json.RawMessage(`{"beta":"yes"}`)))
	// Output:
	// team true <nil>
	// unknown setting "colour" (known: beta, plan)
	// setting "beta" is a JSON string, want bool
}
