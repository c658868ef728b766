package tenancy

import (
	"context"

	"github.com/tenancy-go/tenancy/internal/placement"
)

// PoolDefault is the pool that pool-tier tenants join unless TenantCreateOpts.Pool names another.
const PoolDefault = placement.PoolDefault

// PoolCreate creates the pool placement name (schema pool_<name>, at the current tenant
// migration version) if it does not exist yet. Pools are also created on first use.
func (c *Client) PoolCreate(ctx context.Context, name string) error {
	if _, err := c.ownerPool(); err != nil {
		return err
	}
	_, err := c.env.EnsurePool(ctx, name)
	return notFoundOr(err, ErrTenantNotFound, "pool "+name)
}
