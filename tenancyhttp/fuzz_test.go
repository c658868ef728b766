package tenancyhttp_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/internal/hostname"
	"github.com/tenancy-go/tenancy/tenancyhttp"
)

// guard stands between the middleware and the cache and fails the test if anything but a
// normalised host name or a valid slug reaches a lookup (and so, on a miss, SQL).
type guard struct {
	*tenancyhttp.Cache
	fail func(format string, args ...any)
}

func (g guard) TenantGetByDomain(ctx context.Context, host string) (*tenancy.Tenant, error) {
	if n, err := hostname.Normalize(host, false); err != nil || n != host {
		g.fail("lookup of host %q (normalised: %q, %v)", host, n, err)
	}
	return g.Cache.TenantGetByDomain(ctx, host)
}

func (g guard) TenantGet(ctx context.Context, slug string) (*tenancy.Tenant, error) {
	if err := tenancy.ValidateSlug(slug); err != nil {
		g.fail("lookup of slug %q: %v", slug, err)
	}
	return g.Cache.TenantGet(ctx, slug)
}

var hostSeeds = []string{
	"acme.localhost", "ACME.LocalHost.:8080", "www.acme.localhost", "acme.example.com", "localhost", "", ".", "..",
	"a..b", "-a.localhost", "acme-.localhost", "ab--c.localhost", "xn--.localhost", "xn--bcher-kva.localhost",
	"bücher.localhost", "acme.localhost:", "acme.localhost:99999999", "acme.localhost:8080:80", "[::1]:80", "127.0.0.1",
	"acme.localhost/../x", "acme.localhost\x00", "0\xff", "user@acme.localhost", "acme.localhost'; DROP TABLE tenancy.tenants; --",
	"%61cme.localhost", "acme.local host", "\u200dacme.localhost", "ａｃｍｅ.localhost", strings.Repeat("a", 64) + ".localhost",
	strings.Repeat("a.", 130) + "localhost",
}

// FuzzHost sends arbitrary Host values through the middleware: each is refused with 400 exactly
// when it is not a valid host name, nothing else reaches a lookup, and nothing panics or fails
// with 500. go test -fuzz FuzzHost ./tenancyhttp runs it for longer.
func FuzzHost(f *testing.F) {
	db, _ := newDB(f)
	create(f, db, "acme", "acme.example.com")
	cache := tenancyhttp.NewCache(db.Client, nil)
	for _, s := range hostSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		h := tenancyhttp.Middleware(&tenancyhttp.Config{
			Tenants:   guard{cache, t.Errorf},
			Resolvers: []tenancyhttp.Resolver{tenancyhttp.Domain(), tenancyhttp.Subdomain("localhost")},
		})(echo)
		code, body, _ := do(h, req{host: host})
		norm, err := hostname.Normalize(host, true)
		switch {
		case err != nil && code != http.StatusBadRequest:
			t.Fatalf("invalid host %q: %d %q, want 400", host, code, body)
		case err == nil && code != http.StatusOK && code != http.StatusNotFound:
			t.Fatalf("host %q (%q): %d %q, want 200 or 404", host, norm, code, body)
		case code == http.StatusOK && body != "acme /":
			t.Fatalf("host %q: 200 %q", host, body)
		}
	})
}

// TestMalformedHostOverTheWire: malformed Host headers that net/http lets through reach the
// middleware on a real server and are refused with 400.
func TestMalformedHostOverTheWire(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	create(t, db, "acme")
	cache := newCache(t, db.Client, nil)
	base := newServer(t, tenancyhttp.Middleware(&tenancyhttp.Config{
		Tenants:   cache,
		Resolvers: []tenancyhttp.Resolver{tenancyhttp.Domain(), tenancyhttp.Subdomain("localhost")},
	})(echo))
	addr := strings.TrimPrefix(base, "http://")
	for _, host := range []string{"a..localhost", "acme.localhost:99x", "-acme.localhost", "127.0.0.1", "acme.localhost%00", "xn--zz.localhost", "acme.localhost"} {
		conn, err := net.DialTimeout("tcp", addr, eventually)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
		status, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		want := "HTTP/1.1 400"
		if host == "acme.localhost" {
			want = "HTTP/1.1 200"
		}
		if err != nil || !strings.HasPrefix(status, want) {
			t.Errorf("Host %q: %q, %v; want %s", host, status, err, want)
		}
	}
}
