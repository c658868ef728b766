package tenancycli_test

import (
	"path/filepath"
	"testing"
)

// TestDomainsReserved: 'domains add' and 'restore --domains' refuse another tenant's subdomain
// address, a name under a base domain and a public host, given by flag or environment, each
// with one line; localhost is refused with no configuration at all.
func TestDomainsReserved(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	tg.ok(t, "tenants", "create", "acme")
	tg.ok(t, "tenants", "create", "globex")
	env := map[string]string{"TENANCY_BASE_DOMAINS": "example.com, example.org", "TENANCY_PUBLIC_HOSTS": "signup.example.net"}
	before := tg.snapshot(t)

	wantFailure(t, tg.run(t, "domains", "add", "x", "localhost"), "domain is reserved: localhost is a public host")
	wantFailure(t, tg.run(t, "domains", "add", "globex", "localhost"), "domain is reserved: localhost is a public host")
	wantFailure(t, tg.run(t, "domains", "add", "globex", "acme.example.com", "--base-domain", "example.com"), "domain is reserved: acme.example.com is under the base domain example.com")
	wantFailure(t, tg.run(t, "domains", "add", "globex", "www.example.com", "--public-host", "example.com"), "domain is reserved")
	for _, host := range []string{"acme.example.com", "acme.example.org", "example.org", "signup.example.net"} {
		wantFailure(t, cli(t, env, append([]string{"domains", "add", "globex", host}, tg.args...)...), "domain is reserved")
	}
	if after := tg.snapshot(t); after != before {
		t.Fatalf("a refused domain changed the catalog:\n%s\n%s", before, after)
	}

	// An archive whose domain is now under the base domain is refused whole.
	tg.ok(t, "domains", "add", "globex", "globex.example.com") // no base domain given: accepted
	file := filepath.Join(t.TempDir(), "globex.tar.gz")
	tg.ok(t, "backup", "globex", "-o", file)
	wantFailure(t, tg.run(t, "restore", file, "--as", "copy", "--domains", "--base-domain", "example.com"), "domain is reserved: globex.example.com")
	wantFailure(t, tg.run(t, "tenants", "show", "copy"), "not found")
	tg.ok(t, "domains", "add", "globex", "globex.com", "--base-domain", "example.com")
}
