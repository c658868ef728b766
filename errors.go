package tenancy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tenancy-go/tenancy/internal/archive"
	"github.com/tenancy-go/tenancy/internal/connpool"
	"github.com/tenancy-go/tenancy/internal/migrate"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// Every error of package tenancy that a caller may test is in this file: sentinels, which the
// errors returned wrap (with %w) with the tenant's slug or the offending value, so test them with
// errors.Is; and TenantError and PartialError for runs over many tenants, for errors.As. Some are
// defined by the internal package that returns them and named here: they are the same values.

// Sentinel errors of tenants, domains, servers and the client.
var (
	// ErrNoTenant: the context carries no tenant (WithTenant) for a binding.
	ErrNoTenant = errors.New("tenancy: no tenant bound to the context")
	// ErrTenantNotFound: the named tenant (or pool) does not exist.
	ErrTenantNotFound = errors.New("tenancy: tenant not found")
	// ErrTenantExists: the slug is taken, or another session is creating that tenant now.
	ErrTenantExists = errors.New("tenancy: tenant already exists")
	// ErrTenantSuspended: the tenant is suspended (tenancyhttp answers 403).
	ErrTenantSuspended = errors.New("tenancy: tenant is suspended")
	// ErrTenantMoving: the tenant is being moved (tenancyhttp answers 503): retry later.
	ErrTenantMoving = errors.New("tenancy: tenant is being moved")
	// ErrTenantNotActive: the tenant is provisioning, deleting or deleted, so it is not served.
	ErrTenantNotActive = errors.New("tenancy: tenant is not active")
	// ErrInvalidSlug: the slug is not a DNS label (see ValidateSlug).
	ErrInvalidSlug = errors.New("tenancy: invalid slug")
	// ErrReservedSlug: the slug is a reserved word (public, www, admin, pg_..., ...).
	ErrReservedSlug = errors.New("tenancy: reserved slug")
	// ErrInvalidTier: the tier is not pool, schema or database.
	ErrInvalidTier = errors.New("tenancy: invalid tier")
	// ErrInvalidHost: a domain or host name is malformed (see NormalizeHost).
	ErrInvalidHost = errors.New("tenancy: invalid host")
	// ErrDomainExists: the domain belongs to a tenant already.
	ErrDomainExists = errors.New("tenancy: domain already exists")
	// ErrDomainNotFound: no tenant has this domain.
	ErrDomainNotFound = errors.New("tenancy: domain not found")
	// ErrNotOwned: a schema or database by that name exists and tenancy did not make it, so it is
	// never taken over or dropped.
	ErrNotOwned = placement.ErrNotOwned
	// ErrReadOnly: the client has no Config.OwnerPool, so it cannot change tenants or migrate.
	ErrReadOnly = placement.ErrReadOnly
	// ErrNotInitialised: the catalog is not installed: run Client.Init or `tenancy init`.
	ErrNotInitialised = errors.New("tenancy: the catalog is not installed (run Init, or `tenancy init`)")
	// ErrTierNotAvailable: the tier cannot hold this tenant here (a pool on another server, a
	// unique index not led by tenant_id in a pool).
	ErrTierNotAvailable = placement.ErrTierNotAvailable
	// ErrInvalidServer: a server name or URL is malformed.
	ErrInvalidServer = errors.New("tenancy: invalid server")
	// ErrServerNotFound: no server has this name.
	ErrServerNotFound = errors.New("tenancy: server not found")
	// ErrServerExists: a server has this name already.
	ErrServerExists = errors.New("tenancy: server already exists")
	// ErrServerInUse: the server still holds placements: move their tenants first.
	ErrServerInUse = errors.New("tenancy: server holds placements")
	// ErrPlacementBusy: every database-tier pool allowed by Config.MaxPlacementPools is in use
	// and the call's context ended while it waited for one.
	ErrPlacementBusy = connpool.ErrBusy
	// ErrTenantBusy: the tenant had Limits.MaxConcurrent bound calls in flight in this process
	// for all of Config.BusyWait (tenancyhttp answers 429 with Retry-After): retry later.
	ErrTenantBusy = errors.New("tenancy: tenant busy")
	// ErrInvalidLimits: a value of Limits is out of range.
	ErrInvalidLimits = errors.New("tenancy: invalid limits")
	// ErrNotCitus: a Citus operation (Move with MoveOpts.Node, Rebalance) was asked of a server
	// that is not a Citus coordinator (docs/citus.md).
	ErrNotCitus = placement.ErrNotCitus
	// ErrOwnerSubjectToRLS: an operation that makes Citus copy shards (Isolate, Move with
	// MoveOpts.Node, Rebalance) was asked of an owner role that row-level security applies to.
	// Citus copies as the calling role, so the copy would be empty and the source dropped: the
	// rows lost. Nothing is done; run it as an owner with BYPASSRLS, or a superuser.
	ErrOwnerSubjectToRLS = placement.ErrOwnerSubjectToRLS
	// ErrUnknownType: no tenant type has this name (DefaultType and the keys of
	// Config.TypeMigrations are the types a client knows).
	ErrUnknownType = errors.New("tenancy: unknown tenant type")
	// ErrTypeMismatch: the tenant's type differs from what it is asked to join or become (a
	// pool of another type; a restore or move that would change it).
	ErrTypeMismatch = placement.ErrTypeMismatch
	// ErrCustomized: a tenant with migrations of its own (Config.CustomMigrations) cannot go
	// where they cannot follow (the pool tier), or its archive's custom migrations do not match
	// the application's.
	ErrCustomized = errors.New("tenancy: tenant has custom migrations")
)

// ErrDomainReserved: the domain is a public host, a base domain or a tenant's subdomain address
// (Config.BaseDomains, Config.PublicHosts), which no tenant may take as its own domain.
var ErrDomainReserved = errors.New("tenancy: domain is reserved")

// ErrInvalidSettings: a tenant's settings are not a JSON object, or Config.ValidateSettings
// refuses them (settings.go); nothing was written.
var ErrInvalidSettings = errors.New("tenancy: invalid settings")

// Errors of Migrate and ExecTenants; test them with errors.Is.
var (
	// ErrMigrationLocked: another migrator holds the lock. The message names its server pid.
	ErrMigrationLocked = migrate.ErrLocked
	// ErrUnknownVersion: MigrateOpts.To names no migration file.
	ErrUnknownVersion = migrate.ErrUnknownVersion
	// ErrCanaryFailed: a canary tenant failed, so the rest of the fleet was left alone.
	ErrCanaryFailed = migrate.ErrCanaryFailed
	// ErrStopped: the run stopped at the first failure (FailFast).
	ErrStopped = migrate.ErrStopped
	// ErrMigrationChanged: a migration file was edited after it was applied.
	ErrMigrationChanged = migrate.ErrChecksum
	// ErrMigrationMissing: an applied migration has no file any more.
	ErrMigrationMissing = migrate.ErrMissing
	// ErrMigrationOutOfOrder: a file older than the applied version was never applied.
	ErrMigrationOutOfOrder = migrate.ErrOutOfOrder
	// ErrNotDistributed: on Citus, a tenant migration made a table in a distributed schema that
	// stayed a local table (made inside a DO block or a function): the placement's migration
	// is rolled back. Create tenant tables with top-level CREATE TABLE (docs/citus.md).
	ErrNotDistributed = migrate.ErrNotDistributed
)

// ErrBadArchive is the error of an archive that is malformed, truncated, edited, of a newer
// format or of another application. A restore that meets it changes nothing.
var ErrBadArchive = archive.ErrInvalid

// ErrArchiveTooNew: the archive's tenant migration version is newer than this client knows.
var ErrArchiveTooNew = placement.ErrArchiveTooNew

// TenantError is the failure of one tenant in a run over many.
type TenantError struct {
	Tenant  string // the slug; "(shape)" or "(shared)" for those schemas, "pool:<schema>" for a pool
	Schema  string
	Version int64 // the migration version the placement is at now (migrations only)
	Err     error
}

func (e *TenantError) Error() string { return e.Err.Error() }
func (e *TenantError) Unwrap() error { return e.Err }

// PartialError reports a run over many tenants in which some failed, or that stopped early (Err
// says why: ErrCanaryFailed, ErrStopped, a context error, a failure of the shape schema). The
// tenants not named in Failed succeeded or were not reached; a rerun continues.
type PartialError struct {
	Applied int // tenants (placements) done
	Failed  []*TenantError
	Err     error
}

func (e *PartialError) Error() string {
	var b strings.Builder
	if e.Err != nil {
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "tenancy: "))
	}
	if len(e.Failed) > 0 {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%d failed, %d done: ", len(e.Failed), e.Applied)
		for i, f := range e.Failed {
			if i == 3 {
				fmt.Fprintf(&b, "; and %d more", len(e.Failed)-i)
				break
			}
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(f.Error())
		}
	}
	return "tenancy: " + b.String()
}

func (e *PartialError) Unwrap() error { return e.Err }

func tenantErr(sentinel error, slug string) error {
	return fmt.Errorf("%w: %s", sentinel, slug)
}
