package tenancyhttp_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

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

// ByType serves each tenant type with its own handler, as django-tenants serves each type with
// its own URL configuration. Behind Middleware, the request's context carries the tenant.
func ExampleByType() {
	app := tenancyhttp.ByType(map[string]http.Handler{
		"school": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "courses, pupils") }),
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "projects, tasks") }))

	for _, tn := range []*tenancy.Tenant{{Slug: "lycee", Type: "school"}, {Slug: "acme", Type: tenancy.DefaultType}} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		app.ServeHTTP(rec, req.WithContext(tenancy.WithTenant(req.Context(), tn)))
		fmt.Print(tn.Slug, ": ", rec.Body.String())
	}
	// Output:
	// lycee: courses, pupils
	// acme: projects, tasks
}
