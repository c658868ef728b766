package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/hostname"
)

// Domain maps a host name to a tenant.
type Domain struct {
	Host    string `json:"host"`
	Tenant  string `json:"tenant"` // the tenant's slug
	Primary bool   `json:"primary"`
}

// NormalizeHost returns the catalog spelling of a host name (lower case, IDNA A-labels, no
// trailing dot, no port), or an error wrapping ErrInvalidHost.
func NormalizeHost(host string) (string, error) {
	h, err := hostname.Normalize(host, false)
	if err != nil {
		return "", hostErr(err)
	}
	return h, nil
}

// hostErr rewraps a hostname error as ErrInvalidHost without saying "invalid host" twice.
func hostErr(err error) error {
	return fmt.Errorf("%w: %s", ErrInvalidHost, strings.TrimPrefix(err.Error(), hostname.ErrInvalid.Error()+": "))
}

// reservedHosts are the names no tenant may take as a domain: the public hosts, the base domains
// and the names under them, where tenants have their subdomain addresses. The Domain
// resolver answers before Subdomain (README, tenancyhttp), so a domain acme.example.com mapped to
// globex would serve globex at acme's address; and a future tenant may take any slug.
type reservedHosts struct {
	public map[string]bool // normalised, without a leading "www."
	bases  []string        // normalised
}

func newReservedHosts(bases, public []string) reservedHosts {
	r := reservedHosts{public: map[string]bool{"localhost": true}}
	for _, h := range public {
		if n, err := NormalizeHost(h); err == nil {
			r.public[strings.TrimPrefix(n, "www.")] = true
		}
	}
	for _, h := range bases {
		if n, err := NormalizeHost(h); err == nil {
			r.bases = append(r.bases, n)
			r.public[n] = true
		}
	}
	return r
}

// check refuses h (normalised) if it is reserved: a public host (with or without "www.", which
// the resolvers ignore), a base domain, or any name under one. One label under a base is a
// tenant's address; deeper names are refused too, as they belong to the application and its
// tenants' addresses (x.acme.example.com is not globex's to take).
func (r reservedHosts) check(h string) error {
	bare := strings.TrimPrefix(h, "www.")
	if r.public[bare] {
		return fmt.Errorf("%w: %s is a public host of the application", ErrDomainReserved, h)
	}
	for _, b := range r.bases {
		if strings.HasSuffix(h, "."+b) {
			return fmt.Errorf("%w: %s is under the base domain %s, where tenants have their subdomain addresses", ErrDomainReserved, h, b)
		}
	}
	return nil
}

// checkSlugAddress refuses slug when a tenant other than except holds its subdomain address as
// a domain (one added before the base domain was configured).
func (c *Client) checkSlugAddress(ctx context.Context, q catalog.RowQuerier, slug, except string) error {
	var hosts []string
	for _, b := range c.reservedHosts.bases {
		hosts = append(hosts, slug+"."+b, "www."+slug+"."+b)
	}
	if len(hosts) == 0 {
		return nil
	}
	host, owner, err := catalog.DomainHeldByOther(ctx, q, hosts, except)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return notFoundOr(err, ErrTenantNotFound, slug)
	}
	return fmt.Errorf("%w: %s, the address of slug %s, is a domain of tenant %s (remove it first)", ErrDomainExists, host, slug, owner)
}

// DomainAddOpts are the options of DomainAdd.
type DomainAddOpts struct {
	Primary bool // make it the tenant's primary domain (a tenant's first domain always is)
}

// DomainAdd maps host to the tenant slug. A host that another tenant holds is refused with
// ErrDomainExists; a public host, a base domain or a tenant's subdomain address (see
// Config.BaseDomains) with ErrDomainReserved.
func (c *Client) DomainAdd(ctx context.Context, slug, host string, opts *DomainAddOpts) (*Domain, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	h, err := NormalizeHost(host)
	if err != nil {
		return nil, err
	}
	if err := c.reservedHosts.check(h); err != nil {
		return nil, err
	}
	primary := opts != nil && opts.Primary
	err = pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		id, first, err := catalog.TenantLockForDomains(ctx, tx, slug)
		if err != nil {
			return notFoundOr(err, ErrTenantNotFound, slug)
		}
		primary = primary || first
		if primary {
			if err := catalog.DomainClearPrimary(ctx, tx, id); err != nil {
				return err
			}
		}
		inserted, err := catalog.DomainInsert(ctx, tx, h, id, primary)
		if err != nil || inserted {
			return err
		}
		owner, err := catalog.DomainOwner(ctx, tx, h)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrDomainExists, h)
		}
		return fmt.Errorf("%w: %s is a domain of tenant %s", ErrDomainExists, h, owner)
	})
	if err != nil {
		return nil, err
	}
	return &Domain{Host: h, Tenant: slug, Primary: primary}, nil
}

// DomainRemove removes the mapping of host. If it was the tenant's primary domain, the oldest
// remaining one becomes primary.
func (c *Client) DomainRemove(ctx context.Context, host string) error {
	admin, err := c.ownerPool()
	if err != nil {
		return err
	}
	h, err := NormalizeHost(host)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		id, wasPrimary, err := catalog.DomainDelete(ctx, tx, h)
		if err != nil {
			return notFoundOr(err, ErrDomainNotFound, h)
		}
		if wasPrimary {
			err = catalog.DomainPromoteOldest(ctx, tx, id)
		}
		return err
	})
}

// DomainList lists the domains of the tenant slug, or of every tenant when slug is empty.
func (c *Client) DomainList(ctx context.Context, slug string) ([]Domain, error) {
	rows, err := catalog.DomainList(ctx, c.app, slug)
	if err != nil {
		return nil, notFoundOr(err, ErrDomainNotFound, slug)
	}
	out := make([]Domain, len(rows))
	for i, d := range rows {
		out[i] = Domain{Host: d.Host, Tenant: d.Tenant, Primary: d.Primary}
	}
	if slug != "" && len(out) == 0 {
		if _, err := c.TenantGet(ctx, slug); errors.Is(err, ErrTenantNotFound) {
			return nil, err
		}
	}
	return out, nil
}
