package tenancy

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/catalog"
)

// SharedSchemaDefault is the schema of the application's shared tables unless Config says otherwise.
const SharedSchemaDefault = "public"

// Config configures a Client. AppPool is required; everything else has a default.
//
// Two roles, two pgx pools: the application role (AppPool) and the owner role (OwnerPool). The
// word "pool" alone, in tenancy's API, means the pool tier (TierPool, PoolCreate).
type Config struct {
	// AppPool connects as the application role: not a superuser, no BYPASSRLS, owner of no
	// tenant table. Every tenant-bound call runs on it. Configure it with ConfigurePool.
	AppPool *pgxpool.Pool

	// OwnerPool connects as the owner (migrator) role, which owns the catalog and the tenant
	// schemas and runs DDL. Nil makes a client that binds and looks tenants up but cannot
	// create, change or migrate them (ErrReadOnly).
	OwnerPool *pgxpool.Pool

	// Pool is the former name of AppPool.
	//
	// Deprecated: use AppPool. Used only when AppPool is nil.
	Pool *pgxpool.Pool
	// AdminPool is the former name of OwnerPool.
	//
	// Deprecated: use OwnerPool. Used only when OwnerPool is nil.
	AdminPool *pgxpool.Pool

	// SharedSchema holds the application's shared tables; SharedSchemaDefault if empty.
	SharedSchema string

	// SharedMigrations and TenantMigrations are the two migration lines (NNNN_name.up.sql files
	// at the root of each FS). Nil means none.
	SharedMigrations fs.FS
	TenantMigrations fs.FS

	// TypeMigrations are the tenant types beside DefaultType, each with its own line of tenant
	// migrations (NNNN_name.up.sql at the root of its FS; nil: none), applied after the common
	// TenantMigrations line to the placements of that type's tenants only. A key names a type:
	// 1-40 of a-z, 0-9 and '_', starting with a letter. DefaultType may have a line too.
	TypeMigrations map[string]fs.FS

	// CustomMigrations holds the migrations of single tenants: <slug>/NNNN_name.up.sql, applied
	// after the tenant's type line to its placement, and recorded in the ledger per tenant. Only
	// the schema and database tiers take them: a customized tenant is refused the pool tier.
	// Renaming a customized tenant needs its directory renamed too.
	CustomMigrations fs.FS

	// Logger receives operational messages; slog.Default() if nil.
	Logger *slog.Logger

	// MaxPlacementPools caps the connection pools open at once to database-tier placements
	// (one per tenant database in use); PlacementPoolConns caps each (so at most
	// MaxPlacementPools*PlacementPoolConns such connections in all). The least recently used
	// idle pool is closed to make room; with every pool busy, a call waits for one, until its
	// context ends (then placement.ErrBusy). Defaults: 50 pools of 4 connections.
	MaxPlacementPools  int
	PlacementPoolConns int32
	// PlacementIdleTimeout closes a database-tier pool unused this long; 5 minutes if 0.
	PlacementIdleTimeout time.Duration

	// ConnMaxTenants closes a connection when it is released after it has been bound to
	// tenants of this many distinct placements, instead of returning it to its pool. A
	// PostgreSQL backend keeps every table it has touched in its caches until it exits, so a
	// schema-tier connection grows with each tenant it serves (docs/benchmarks.md, "Backend
	// memory"); this bounds it. The tenants of one pool placement share its tables and count
	// once, so pool-tier connections are not recycled for them.
	// The count is kept in Go and costs no query. 0 means ConnMaxTenantsDefault; negative, no
	// limit. It needs the pool's AfterRelease hook, which ConfigurePool installs: a pool
	// configured without ConfigurePool is never recycled.
	ConnMaxTenants int
	// ConnMaxBytes closes a connection when it is released once its backend's memory
	// (pg_backend_memory_contexts) exceeds this many bytes. The release hook reads it every 50
	// tenant switches, off the caller's path. PostgreSQL shows that view only to superusers and
	// members of pg_read_all_stats (which also shows every session's query text in
	// pg_stat_activity): without it, a warning is logged once and only ConnMaxTenants applies.
	// 0 (the default) turns it off.
	ConnMaxBytes int64

	// BaseDomains are the domains whose subdomains name tenants (tenancyhttp.Subdomain), and
	// PublicHosts the hosts of the public site (tenancyhttp.Config.PublicHosts). DomainAdd and
	// Restore refuse, with ErrDomainReserved, a domain that is one of them or is under a base
	// domain (acme.example.com, www.acme.example.com: the subdomain address of a tenant, existing
	// or future, which the Domain resolver would otherwise answer for first).
	// "localhost" is always refused. Give every client that adds domains the same lists as the
	// HTTP configuration (the command line: --base-domain, --public-host).
	BaseDomains []string
	PublicHosts []string

	// ServerPassword returns the password of the owner role (app false) or the application role
	// (app true) of a server added with ServerAdd, whose URLs the catalog keeps without one. Nil
	// reads the environment variable ServerPasswordEnv(server, app). An empty answer leaves the
	// password to pgx: the URL's passfile parameter, PGPASSWORD, PGPASSFILE or ~/.pgpass.
	ServerPassword func(server string, app bool) string

	// WarmPlacements keeps this many schema-tier placements made, migrated and granted ahead of
	// time in the catalog's database (docs/tiers.md, "Warm placements"). TenantCreate of a
	// schema-tier tenant that goes to the catalog's own server claims one in the transaction that
	// makes the tenant (a schema rename, no tenant migrations), and the client refills them in
	// the background (after Init and after each claim; WarmFill at once). 0 (the default): none,
	// every create makes its schema. At most WarmMax. Warm placements follow the default tenant
	// migration line (Config.TenantMigrations).
	WarmPlacements int

	// Observer, if set, is told which tenant each bound call serves and about lifecycle
	// operations (Migrate, Backup, Restore, Move), for traces and metrics: see package
	// tenancyotel. Pools that tenancy opens for other servers and tenant databases carry the
	// tracers of AppPool and OwnerPool (ConnConfig.Tracer).
	Observer Observer

	// DefaultLimits apply to every tenant that has no limits of its own (TenantSetLimits). The
	// zero value sets none. See docs/noisy-neighbours.md.
	DefaultLimits Limits
	// BusyWait is how long a bound call waits for its tenant to go below Limits.MaxConcurrent
	// before it fails with ErrTenantBusy; BusyWaitDefault if 0, no wait if negative.
	BusyWait time.Duration
	// FairShareOff turns off the fair sharing of AppPool: by default, when every connection of it
	// is taken by bound calls, the next one goes to the waiting tenant with the fewest calls in
	// flight (docs/noisy-neighbours.md).
	FairShareOff bool
	// UsageFlushInterval is how often the client adds the usage it counted to the catalog
	// (Client.Usage); UsageFlushIntervalDefault if 0.
	UsageFlushInterval time.Duration
	// ValidateSettings, if set, checks every tenant's settings before they are written
	// (TenantCreate, TenantSetSettings, Restore): SettingsType[T] makes one from a Go type.
	// Settings it refuses are an error wrapping ErrInvalidSettings, and nothing is written.
	ValidateSettings SettingsValidator
}

func (c *Config) validate() error {
	if c == nil {
		return errors.New("tenancy: Config is nil")
	}
	if c.AppPool == nil {
		c.AppPool = c.Pool
	}
	if c.OwnerPool == nil {
		c.OwnerPool = c.AdminPool
	}
	if c.AppPool == nil {
		return errors.New("tenancy: Config.AppPool is required (the application role's pool)")
	}
	if c.ConnMaxBytes < 0 {
		return fmt.Errorf("tenancy: Config.ConnMaxBytes %d is negative (0 turns it off)", c.ConnMaxBytes)
	}
	if err := c.DefaultLimits.Validate(); err != nil {
		return fmt.Errorf("tenancy: Config.DefaultLimits: %w", err)
	}
	if c.UsageFlushInterval < 0 {
		return fmt.Errorf("tenancy: Config.UsageFlushInterval %s is negative", c.UsageFlushInterval)
	}
	if c.WarmPlacements < 0 || c.WarmPlacements > WarmMax {
		return fmt.Errorf("tenancy: Config.WarmPlacements %d is out of range (0 to %d)", c.WarmPlacements, WarmMax)
	}
	if c.SharedSchema != "" && !identPattern.MatchString(c.SharedSchema) {
		return fmt.Errorf("tenancy: Config.SharedSchema %q is not a plain lower-case identifier", c.SharedSchema)
	}
	if why := reservedSchema(c.SharedSchema); why != "" {
		return fmt.Errorf("tenancy: Config.SharedSchema %q is reserved: %s", c.SharedSchema, why)
	}
	for typ := range c.TypeMigrations {
		if err := ValidateType(typ); err != nil {
			return fmt.Errorf("tenancy: Config.TypeMigrations: %w", err)
		}
	}
	for _, h := range c.BaseDomains {
		if _, err := NormalizeHost(h); err != nil {
			return fmt.Errorf("tenancy: Config.BaseDomains: %w", err)
		}
	}
	for _, h := range c.PublicHosts {
		if _, err := NormalizeHost(h); err != nil {
			return fmt.Errorf("tenancy: Config.PublicHosts: %w", err)
		}
	}
	pc := c.AppPool.Config().ConnConfig
	switch pc.DefaultQueryExecMode {
	case pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe:
		if !strings.HasPrefix(strings.TrimSpace(pc.RuntimeParams["search_path"]), catalog.ShapeSchema) {
			return fmt.Errorf("tenancy: Config.AppPool caches statements, so its search_path must start with %s (use tenancy.ConfigurePool, or QueryExecModeExec)", catalog.ShapeSchema)
		}
	}
	return nil
}

// reservedSchema says why schema cannot be the shared schema, or returns "". The application
// role gets write access to every table of the shared schema, so it must never be a schema that
// tenancy owns or generates (the catalog, the shape schema, pools, tenant schemas) nor one of
// PostgreSQL's.
func reservedSchema(schema string) string {
	switch {
	case schema == catalog.Schema || strings.HasPrefix(schema, catalog.Schema+"_"):
		return "tenancy's own schemas (the catalog and the shape schema) are named tenancy and tenancy_*"
	case strings.HasPrefix(schema, "pool_"):
		return "pool-tier placements are named pool_*"
	case strings.HasPrefix(schema, "tenant_"):
		return "schema-tier placements are named tenant_*"
	case strings.HasPrefix(schema, "pg_"), schema == "information_schema":
		return "PostgreSQL's system schemas"
	}
	return ""
}

// ConfigurePool prepares a pool configuration for the application role: its connections start
// with search_path = tenancy_shape, <shared schema>. tenancy_shape is an empty schema shaped like
// a tenant schema that the application role cannot read, so statements are prepared (and cached
// by pgx) against it, a bound transaction re-plans them against the tenant's schema, and a query
// run with no tenant bound fails instead of reading anyone's rows. It also installs the
// AfterRelease hook that recycles connections (Config.ConnMaxTenants, Config.ConnMaxBytes),
// after any hook cfg has.
func ConfigurePool(cfg *pgxpool.Config, sharedSchema string) {
	if sharedSchema == "" {
		sharedSchema = SharedSchemaDefault
	}
	// pg_temp last, so that a temporary table left on the connection never stands in for a tenant table.
	cfg.ConnConfig.RuntimeParams["search_path"] = catalog.ShapeSchema + ", " + pgx.Identifier{sharedSchema}.Sanitize() + ", pg_temp"
	addRecycleHook(cfg)
}
