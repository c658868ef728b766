package tenancyhttp_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyhttp"
)

// A SaaS with its public site on example.com, tenants on <slug>.example.com and on their own
// domains.
func ExampleNewRouter() {
	var client *tenancy.Client // tenancy.New(...)
	ctx := context.Background()

	cache := tenancyhttp.NewCache(client, nil)
	if err := cache.Start(ctx); err != nil { // LISTEN for catalog changes
		log.Fatal(err)
	}
	defer cache.Close()

	site := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "sign up!") })
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := tenancy.MustFromContext(r.Context())
		fmt.Fprintf(w, "hello, %s\n", t.Name)
	})
	router := tenancyhttp.NewRouter(&tenancyhttp.Config{
		Tenants:     cache,
		Resolvers:   []tenancyhttp.Resolver{tenancyhttp.Domain(), tenancyhttp.Subdomain("example.com")},
		PublicHosts: []string{"example.com"},
	}, site, app)
	log.Fatal(http.ListenAndServe(":8080", router))
}
