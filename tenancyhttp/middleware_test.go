package tenancyhttp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyhttp"
)

func TestResolvers(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	acme := create(t, db, "acme", "acme.example.com")
	create(t, db, "beta", "www.beta-corp.example")
	cache := newCache(t, db.Client, nil)
	byQueryID := tenancyhttp.Func(func(r *http.Request) (tenancyhttp.Ref, bool, error) {
		s := r.URL.Query().Get("tenant_id")
		if s == "" {
			return tenancyhttp.Ref{}, false, nil
		}
		id, err := strconv.ParseInt(s, 10, 64)
		return tenancyhttp.Ref{ID: id}, err == nil, err
	})
	mw := func(rs ...tenancyhttp.Resolver) http.Handler {
		return tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache, Resolvers: rs})(echo)
	}
	domain := mw(tenancyhttp.Domain())
	sub := mw(tenancyhttp.Subdomain("localhost"))
	header := mw(tenancyhttp.TrustedHeader("X-Tenant"))
	path := mw(tenancyhttp.PathPrefix("/t/"))
	fn := mw(byQueryID)
	chain := mw(tenancyhttp.TrustedHeader("X-Tenant"), tenancyhttp.PathPrefix("/t/"), tenancyhttp.Domain(), tenancyhttp.Subdomain("localhost"))

	for _, tc := range []struct {
		name string
		h    http.Handler
		req
		code int
		body string
	}{
		{"domain", domain, req{host: "acme.example.com"}, 200, "acme /"},
		{"domain spelling", domain, req{host: "ACME.Example.COM.:8443", path: "/x"}, 200, "acme /x"},
		{"domain www ignored", domain, req{host: "www.acme.example.com"}, 200, "acme /"},
		{"domain www registered", domain, req{host: "www.beta-corp.example"}, 200, "beta /"},
		{"domain unknown", domain, req{host: "nobody.example.com"}, 404, "Not Found"},
		{"domain invalid", domain, req{host: "acme..example.com"}, 400, "Bad Request"},
		{"domain IP", domain, req{host: "127.0.0.1:8080"}, 400, "Bad Request"},
		{"domain injection", domain, req{host: "x'; DROP TABLE tenancy.tenants; --"}, 400, "Bad Request"},
		{"subdomain", sub, req{host: "acme.localhost:8080"}, 200, "acme /"},
		{"subdomain case www", sub, req{host: "WWW.Beta.LocalHost"}, 200, "beta /"},
		{"subdomain base", sub, req{host: "localhost:8080"}, 404, "Not Found"},
		{"subdomain deeper", sub, req{host: "x.acme.localhost"}, 404, "Not Found"},
		{"subdomain reserved", sub, req{host: "api.localhost"}, 404, "Not Found"},
		{"subdomain other base", sub, req{host: "acme.example.org"}, 404, "Not Found"},
		{"header", header, req{host: "whatever", header: map[string]string{"X-Tenant": "beta"}}, 200, "beta /"},
		{"header absent", header, req{host: "acme.example.com"}, 404, "Not Found"},
		{"header malformed", header, req{header: map[string]string{"X-Tenant": "Beta; DROP"}}, 400, "Bad Request"},
		{"header unknown", header, req{header: map[string]string{"X-Tenant": "zeta"}}, 404, "Not Found"},
		{"header reserved", header, req{header: map[string]string{"X-Tenant": "admin"}}, 404, "Not Found"},
		{"path", path, req{path: "/t/acme/projects/7"}, 200, "acme /projects/7"},
		{"path bare", path, req{path: "/t/acme"}, 200, "acme /"},
		{"path escaped rest", path, req{path: "/t/acme/a%2Fb"}, 200, "acme /a/b"},
		{"path malformed", path, req{path: "/t/AC_ME/x"}, 400, "Bad Request"},
		{"path unknown", path, req{path: "/t/zeta/x"}, 404, "Not Found"},
		{"path other", path, req{path: "/about"}, 404, "Not Found"},
		{"func", fn, req{path: "/?tenant_id=" + strconv.FormatInt(acme.ID, 10)}, 200, "acme /"},
		{"func error", fn, req{path: "/?tenant_id=x"}, 400, "Bad Request"},
		{"func unknown", fn, req{path: "/?tenant_id=99999"}, 404, "Not Found"},
		{"chain header first", chain, req{host: "acme.example.com", header: map[string]string{"X-Tenant": "beta"}}, 200, "beta /"},
		{"chain unknown header falls through", chain, req{host: "acme.example.com", header: map[string]string{"X-Tenant": "zeta"}}, 200, "acme /"},
		{"chain path", chain, req{host: "beta.localhost", path: "/t/acme/p"}, 200, "acme /p"},
		{"chain subdomain", chain, req{host: "beta.localhost"}, 200, "beta /"},
		{"chain none", chain, req{host: "zeta.localhost"}, 404, "Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := do(tc.h, tc.req)
			if code != tc.code || body != tc.body {
				t.Errorf("%+v: got %d %q, want %d %q", tc.req, code, body, tc.code, tc.body)
			}
		})
	}
}

func TestStatusCodes(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	for _, s := range []string{"active", "suspended", "moving", "provisioning", "deleting", "deleted", "maint"} {
		create(t, db, s)
	}
	if _, err := db.Client.TenantSuspend(ctx, "suspended"); err != nil {
		t.Fatal(err)
	}
	if err := db.Client.TenantDelete(ctx, "deleted", nil); err != nil {
		t.Fatal(err)
	}
	setStatus(t, db, "moving", tenancy.StatusMoving)
	setStatus(t, db, "provisioning", tenancy.StatusProvisioning)
	setStatus(t, db, "deleting", tenancy.StatusDeleting)
	cache := newCache(t, db.Client, nil)
	cfg := &tenancyhttp.Config{
		Tenants:     cache,
		Resolvers:   []tenancyhttp.Resolver{tenancyhttp.Subdomain("localhost")},
		RetryAfter:  90 * time.Second,
		Maintenance: func(t *tenancy.Tenant) bool { return t.Slug == "maint" },
	}
	plain := tenancyhttp.Middleware(cfg)(echo)
	custom := *cfg
	custom.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		name := "-"
		if t, ok := tenancy.FromContext(r.Context()); ok {
			name = t.Name
		}
		w.WriteHeader(StatusOr(err, http.StatusForbidden, 451))
		fmt.Fprintf(w, "custom %d %s", tenancyhttp.StatusCode(err), name)
	}
	customized := tenancyhttp.Middleware(&custom)(echo)

	for _, tc := range []struct {
		host       string
		code       int
		retryAfter string
		custom     string
	}{
		{"active.localhost", 200, "", ""},
		{"suspended.localhost", 403, "", "custom 403 suspended"},
		{"moving.localhost", 503, "90", "custom 503 moving"},
		{"maint.localhost", 503, "90", "custom 503 maint"},
		{"provisioning.localhost", 404, "", "custom 404 -"},
		{"deleting.localhost", 404, "", "custom 404 -"},
		{"deleted.localhost", 404, "", "custom 404 -"},
		{"unknown.localhost", 404, "", "custom 404 -"},
		{"bad host.localhost", 400, "", "custom 400 -"},
	} {
		code, _, hdr := do(plain, req{host: tc.host})
		if code != tc.code || hdr.Get("Retry-After") != tc.retryAfter {
			t.Errorf("%s: got %d Retry-After %q, want %d %q", tc.host, code, hdr.Get("Retry-After"), tc.code, tc.retryAfter)
		}
		if tc.custom == "" {
			continue
		}
		code, body, _ := do(customized, req{host: tc.host})
		want := tc.code
		if tc.code == 403 {
			want = 451
		}
		if code != want || body != tc.custom {
			t.Errorf("%s customised: got %d %q, want %d %q", tc.host, code, body, want, tc.custom)
		}
	}
}

// StatusOr is StatusCode with one status replaced, as a custom error page might do.
func StatusOr(err error, from, to int) int {
	if c := tenancyhttp.StatusCode(err); c != from {
		return c
	}
	return to
}

func TestRouter(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	create(t, db, "acme", "acme.example.com")
	cache := newCache(t, db.Client, nil)
	router := tenancyhttp.NewRouter(&tenancyhttp.Config{
		Tenants:     cache,
		Resolvers:   []tenancyhttp.Resolver{tenancyhttp.PathPrefix("/t/"), tenancyhttp.Domain(), tenancyhttp.Subdomain("localhost")},
		PublicHosts: []string{"localhost", "example.com"},
	}, public, echo)
	for _, tc := range []struct {
		req
		code int
		body string
	}{
		{req{host: "localhost:8080", path: "/signup"}, 200, "public /signup"},
		{req{host: "www.localhost", path: "/"}, 200, "public /"},
		{req{host: "EXAMPLE.com."}, 200, "public /"},
		{req{host: "localhost", path: "/t/acme/tasks"}, 200, "acme /tasks"},
		{req{host: "localhost", path: "/t/zeta/tasks"}, 200, "public /t/zeta/tasks"},
		{req{host: "acme.localhost"}, 200, "acme /"},
		{req{host: "acme.example.com", path: "/a"}, 200, "acme /a"},
		{req{host: "zeta.localhost"}, 404, "Not Found"},
		{req{host: "localhost..", path: "/"}, 400, "Bad Request"},
	} {
		code, body, _ := do(router, tc.req)
		if code != tc.code || body != tc.body {
			t.Errorf("%+v: got %d %q, want %d %q", tc.req, code, body, tc.code, tc.body)
		}
	}
}

func TestConfigPanics(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	cache := tenancyhttp.NewCache(db.Client, nil)
	for name, f := range map[string]func(){
		"nil config": func() { tenancyhttp.Middleware(nil) },
		"no tenants": func() {
			tenancyhttp.Middleware(&tenancyhttp.Config{Resolvers: []tenancyhttp.Resolver{tenancyhttp.Domain()}})
		},
		"no resolvers": func() { tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache}) },
		"zero resolver": func() {
			tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache, Resolvers: []tenancyhttp.Resolver{{}}})
		},
		"bad public": func() {
			tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache, Resolvers: []tenancyhttp.Resolver{tenancyhttp.Domain()}, PublicHosts: []string{"a..b"}})
		},
		"bad base":   func() { tenancyhttp.Subdomain("-x") },
		"bad header": func() { tenancyhttp.TrustedHeader("X Tenant") },
		"bad prefix": func() { tenancyhttp.PathPrefix("t") },
		"nil func":   func() { tenancyhttp.Func(nil) },
		"nil handler": func() {
			tenancyhttp.NewRouter(&tenancyhttp.Config{Tenants: cache, Resolvers: []tenancyhttp.Resolver{tenancyhttp.Domain()}}, nil, echo)
		},
		"nil next": func() {
			tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache, Resolvers: []tenancyhttp.Resolver{tenancyhttp.Domain()}})(nil)
		},
		"nil cache src": func() { tenancyhttp.NewCache(nil, nil) },
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

// TestRealServer serves the router on a loopback port and talks HTTP to it.
func TestRealServer(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	create(t, db, "acme")
	create(t, db, "mover")
	setStatus(t, db, "mover", tenancy.StatusMoving)
	cache := newCache(t, db.Client, &tenancyhttp.CacheConfig{TTL: time.Hour}) // only a notification ends the suspension
	srv := newServer(t, tenancyhttp.NewRouter(&tenancyhttp.Config{
		Tenants:     cache,
		Resolvers:   []tenancyhttp.Resolver{tenancyhttp.Subdomain("localhost")},
		PublicHosts: []string{"localhost"},
	}, public, echo))
	if _, err := db.Client.TenantSuspend(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host string
		code int
		body string
	}{
		{"localhost", 200, "public /p"},
		{"acme.localhost", 403, "Forbidden"},
		{"zeta.localhost", 404, "Not Found"},
		{"mover.localhost", 503, "Service Unavailable"},
		{"a..localhost", 400, "Bad Request"},
	} {
		code, body, hdr := getH(t, srv, tc.host, "/p")
		if code != tc.code || body != tc.body {
			t.Errorf("%s: got %d %q, want %d %q", tc.host, code, body, tc.code, tc.body)
		}
		if code == 503 && hdr.Get("Retry-After") != "30" {
			t.Errorf("%s: Retry-After %q, want 30", tc.host, hdr.Get("Retry-After"))
		}
	}
	if _, err := db.Client.TenantResume(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { code, _ := get(t, srv, "acme.localhost", "/p"); return code == 200 })
}

// eventually bounds waitFor only to catch a hang: how soon a change arrives is measured (logged),
// never asserted, since a busy machine may be slow. Caches that a wait depends on keep entries
// far longer (an hour), so expiry cannot pass for a notification.
const eventually = 2 * time.Minute

// waitFor waits until ok, and returns how long that took.
func waitFor(t *testing.T, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > eventually {
			t.Fatalf("not within %v", eventually)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func get(t *testing.T, base, host, path string) (int, string) {
	t.Helper()
	code, body, _ := getH(t, base, host, path)
	return code, body
}

// getH sends GET base+path with the given Host header over real HTTP.
func getH(t *testing.T, base, host, path string) (int, string, http.Header) {
	t.Helper()
	r, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Host = host
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(trimNL(b)), resp.Header
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// TestLookupFailure: a catalog that cannot be reached is a 500, not a 404.
func TestLookupFailure(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	cache := tenancyhttp.NewCache(db.Client, nil)
	h := tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache, Resolvers: []tenancyhttp.Resolver{tenancyhttp.Domain()}})(echo)
	db.AppPool.Close()
	if code, _, _ := do(h, req{host: "acme.example.com"}); code != 500 {
		t.Fatalf("got %d, want 500", code)
	}
}
