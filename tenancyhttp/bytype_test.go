package tenancyhttp_test

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"testing/fstest"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyhttp"
	"github.com/tenancy-go/tenancy/tenancytest"
)

func TestByType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: os.DirFS("../testdata/migrations/shared"),
		TenantMigrations: os.DirFS("../testdata/migrations/tenant"),
		ClientConfig: func(cfg *tenancy.Config) {
			cfg.TypeMigrations = map[string]fs.FS{"school": fstest.MapFS{}, "shop": fstest.MapFS{}}
		},
	})
	for slug, typ := range map[string]string{"lycee": "school", "corp": "", "store": "shop"} {
		if _, err := db.Client.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	cache := newCache(t, db.Client, nil)
	say := func(what string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tn, _ := tenancy.FromContext(r.Context())
			io.WriteString(w, what+" "+tn.Slug)
		})
	}
	routes := tenancyhttp.ByType(map[string]http.Handler{"school": say("school"), tenancy.DefaultType: say("app")}, say("other"))
	h := tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache, Resolvers: []tenancyhttp.Resolver{tenancyhttp.Subdomain("localhost")}})(routes)
	get := func(host string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://"+host+"/", nil))
		return rec.Code, rec.Body.String()
	}
	for host, want := range map[string]string{
		"lycee.localhost": "school lycee", "corp.localhost": "app corp", "store.localhost": "other store",
	} {
		if code, body := get(host); code != 200 || body != want {
			t.Errorf("%s: %d %q, want %q", host, code, body, want)
		}
	}
	// Without a fallback, a type with no handler is 404; so is a request with no tenant.
	strict := tenancyhttp.ByType(map[string]http.Handler{"school": say("school")}, nil)
	rec := httptest.NewRecorder()
	strict.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 404 {
		t.Errorf("no tenant: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	strict.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil).WithContext(tenancy.WithTenant(ctx, &tenancy.Tenant{Slug: "x", Type: "shop"})))
	if rec.Code != 404 {
		t.Errorf("a type without handler and no fallback: %d", rec.Code)
	}
	// The cache keeps the type: a cached tenant is routed with no query.
	tn, err := cache.TenantGet(ctx, "lycee")
	if err != nil || tn.Type != "school" {
		t.Fatalf("cache: %+v, %v", tn, err)
	}
	for name, f := range map[string]func(){
		"nil handler": func() { tenancyhttp.ByType(map[string]http.Handler{"school": nil}, nil) },
		"bad type":    func() { tenancyhttp.ByType(map[string]http.Handler{"Bad Type": say("x")}, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
