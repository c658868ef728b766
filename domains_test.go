package tenancy_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
)

// TestDomainReserved: a tenant cannot take another tenant's subdomain address (which the Domain
// resolver would answer for before Subdomain), a name under the base domain that a future
// tenant may get, a public host, or a domain another tenant holds; through DomainAdd, Restore
// with Domains, or by creating, restoring or renaming a tenant into an address that a domain
// added before the base domain was configured already claims.
func TestDomainReserved(t *testing.T) {
	t.Parallel()
	db := newDB(t, 2)
	ctx := context.Background()
	c, err := tenancy.New(&tenancy.Config{
		AppPool: db.AppPool, OwnerPool: db.OwnerPool,
		SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations,
		BaseDomains: []string{"Example.COM"},
		PublicHosts: []string{"signup.example.net"},
	})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, c, "acme")
	mustCreate(t, c, "globex")
	if _, err := c.DomainAdd(ctx, "acme", "acme.com", nil); err != nil {
		t.Fatal(err)
	}

	for _, host := range []string{
		"acme.example.com", "ACME.example.com.", "www.acme.example.com", // acme's address
		"future.example.com", "api.example.com", "x.acme.example.com", // under the base domain
		"example.com", "www.example.com", // the base domain, the public site
		"signup.example.net", "www.signup.example.net", "localhost", "LOCALHOST.", // public hosts
	} {
		if _, err := c.DomainAdd(ctx, "globex", host, nil); !errors.Is(err, tenancy.ErrDomainReserved) {
			t.Errorf("DomainAdd(globex, %q): %v, want ErrDomainReserved", host, err)
		}
	}
	if _, err := c.DomainAdd(ctx, "globex", "acme.com", nil); !errors.Is(err, tenancy.ErrDomainExists) || !strings.Contains(err.Error(), "is a domain of tenant acme") {
		t.Errorf("taking acme's domain: %v, want ErrDomainExists naming acme", err)
	}
	if _, err := c.DomainAdd(ctx, "globex", "globex.com", nil); err != nil {
		t.Errorf("a domain of globex's own: %v", err)
	}
	// Without Config.BaseDomains only localhost is known to be reserved.
	if _, err := db.Client.DomainAdd(ctx, "globex", "localhost", nil); !errors.Is(err, tenancy.ErrDomainReserved) {
		t.Errorf("localhost without configuration: %v, want ErrDomainReserved", err)
	}

	// An address claimed by a domain made before the base domain was configured: renaming a
	// tenant into it is refused.
	if _, err := db.Client.DomainAdd(ctx, "globex", "newco.example.com", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TenantRename(ctx, "acme", "newco"); !errors.Is(err, tenancy.ErrDomainExists) || !strings.Contains(err.Error(), "newco.example.com") {
		t.Errorf("renaming acme to newco: %v, want ErrDomainExists naming newco.example.com", err)
	}
	if _, err := c.TenantGet(ctx, "acme"); err != nil {
		t.Errorf("the refused rename changed acme: %v", err)
	}
	if _, err := c.TenantCreate(ctx, "newco", nil); !errors.Is(err, tenancy.ErrDomainExists) {
		t.Errorf("creating newco: %v, want ErrDomainExists", err)
	}

	// Restore with domains: globex's archive carries newco.example.com, refused as a domain.
	var archive bytes.Buffer
	if _, err := c.Backup(ctx, "globex", &archive, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Restore(ctx, bytes.NewReader(archive.Bytes()), &tenancy.RestoreOpts{Slug: "globex-copy", Domains: true})
	if !errors.Is(err, tenancy.ErrDomainReserved) {
		t.Errorf("restore with a domain under the base domain: %v, want ErrDomainReserved", err)
	}
	if _, err := c.TenantGet(ctx, "globex-copy"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Errorf("the refused restore left a tenant: %v", err)
	}
	_, err = c.Restore(ctx, bytes.NewReader(archive.Bytes()), &tenancy.RestoreOpts{Slug: "newco"})
	if !errors.Is(err, tenancy.ErrDomainExists) {
		t.Errorf("restore as newco: %v, want ErrDomainExists", err)
	}
	if _, err := c.TenantGet(ctx, "newco"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Errorf("a refused create or restore left newco: %v", err)
	}

	if _, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, BaseDomains: []string{"not a host"}}); err == nil || !strings.Contains(err.Error(), "Config.BaseDomains") {
		t.Errorf("an invalid base domain: %v", err)
	}
}
