package tenancy

import (
	"errors"
	"fmt"

	"github.com/tenancy-go/tenancy/internal/placement"
)

// Sentinel errors. Errors returned by tenancy wrap these with the tenant's slug or the offending
// value; test them with errors.Is.
var (
	ErrNoTenant         = errors.New("tenancy: no tenant bound to the context")
	ErrTenantNotFound   = errors.New("tenancy: tenant not found")
	ErrTenantExists     = errors.New("tenancy: tenant already exists")
	ErrTenantSuspended  = errors.New("tenancy: tenant is suspended")
	ErrTenantMoving     = errors.New("tenancy: tenant is being moved")
	ErrTenantNotActive  = errors.New("tenancy: tenant is not active")
	ErrInvalidSlug      = errors.New("tenancy: invalid slug")
	ErrReservedSlug     = errors.New("tenancy: reserved slug")
	ErrInvalidTier      = errors.New("tenancy: invalid tier")
	ErrInvalidHost      = errors.New("tenancy: invalid host")
	ErrDomainExists     = errors.New("tenancy: domain already exists")
	ErrDomainNotFound   = errors.New("tenancy: domain not found")
	ErrNotOwned         = errors.New("tenancy: placement was not created by tenancy")
	ErrReadOnly         = errors.New("tenancy: this client has no AdminPool")
	ErrNotInitialised   = errors.New("tenancy: the catalog is not installed (run Init, or `tenancy init`)")
	ErrTierNotAvailable = errors.New("tenancy: tier not available")
	ErrInvalidServer    = errors.New("tenancy: invalid server")
	ErrServerNotFound   = errors.New("tenancy: server not found")
	ErrServerExists     = errors.New("tenancy: server already exists")
	ErrServerInUse      = errors.New("tenancy: server holds placements")
	// ErrPlacementBusy: every database-tier pool allowed by Config.MaxPlacementPools is in use
	// and the call's context ended while it waited for one.
	ErrPlacementBusy = placement.ErrBusy
)

// ErrDomainReserved: the domain is a public host, a base domain or a tenant's subdomain address
// (Config.BaseDomains, Config.PublicHosts), which no tenant may take as its own domain.
var ErrDomainReserved = errors.New("tenancy: domain is reserved")

func tenantErr(sentinel error, slug string) error {
	return fmt.Errorf("%w: %s", sentinel, slug)
}
