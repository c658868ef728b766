package tenancy

import "fmt"

// Tier is how a tenant's rows are placed (docs/tiers.md).
type Tier string

const (
	// TierPool keeps the tenant's rows in a shared schema beside other tenants', told apart by
	// tenant_id and row-level security.
	TierPool Tier = "pool"
	// TierSchema gives the tenant a schema of its own in a shared database. The default.
	TierSchema Tier = "schema"
	// TierDatabase gives the tenant a database of its own, possibly on another server.
	TierDatabase Tier = "database"
)

// TierDefault is the tier of a tenant created without one.
const TierDefault = TierSchema

// ParseTier parses "pool", "schema" or "database".
func ParseTier(s string) (Tier, error) {
	switch t := Tier(s); t {
	case TierPool, TierSchema, TierDatabase:
		return t, nil
	}
	return "", fmt.Errorf("%w: %q (want pool, schema or database)", ErrInvalidTier, s)
}

// Status is where a tenant is in its life.
type Status string

const (
	StatusProvisioning Status = "provisioning" // being created; never served
	StatusActive       Status = "active"       // served
	StatusSuspended    Status = "suspended"    // kept, refused (HTTP 403)
	StatusMoving       Status = "moving"       // being copied to another placement (HTTP 503)
	StatusDeleting     Status = "deleting"     // its placement is being dropped
	StatusDeleted      Status = "deleted"      // soft-deleted: kept, never served
)
