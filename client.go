package tenancy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/connpool"
	"github.com/tenancy-go/tenancy/internal/fair"
	"github.com/tenancy-go/tenancy/internal/migrate"
	"github.com/tenancy-go/tenancy/internal/placement"
)

var identPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Client is the entry point: it binds units of work to tenants and manages the catalog.
// It is safe for concurrent use.
type Client struct {
	app     *pgxpool.Pool // the application role
	owner   *pgxpool.Pool // the owner role; nil in a read-only client
	appRole string
	shared  string // the shared schema, unquoted
	logger  *slog.Logger
	obs     Observer  // Config.Observer; nil costs nothing (observe.go)
	recycle *recycler // Config.ConnMaxTenants, ConnMaxBytes (recycle.go); nil: off

	validateSettings SettingsValidator // Config.ValidateSettings (settings.go)

	sharedMigs []migrate.Migration
	tenantMigs []migrate.Migration
	typeMigs   map[string][]migrate.Migration // Config.TypeMigrations, by type
	customMigs map[string][]migrate.Migration // Config.CustomMigrations, by slug

	reservedHosts reservedHosts                        // domains that DomainAdd refuses
	serverPW      func(server string, app bool) string // Config.ServerPassword

	conns   *connpool.Registry // pools of placements outside the catalog's database
	env     *placement.Env     // what the tiers (internal/placement) need of the client
	servers serverCache
	kinds   serverKinds // which servers are Citus coordinators (citusbind.go)

	dbNameOnce sync.Once
	dbName     string
	dbNameErr  error
	identity   catalogIdentity // the catalog's identity (catalogID)
	warm       *warmPool       // Config.WarmPlacements (warm.go)

	defaultLimits Limits        // Config.DefaultLimits (limits.go)
	busyWait      time.Duration // Config.BusyWait
	appGate       *fair.Gate    // the fair share of app and the tenants' caps on it
	otherGate     *fair.Gate    // the tenants' caps on the other pools
	usage         *usageBook    // usage.go

	testHook func(ctx context.Context, step string, tx pgx.Tx) error // see crash (lifecycle.go); nil outside tests
	noReset  bool                                                    // skip the session reset (bind.go); benchmarks only
	noAdmit  bool                                                    // skip the gate and usage (limits.go); benchmarks only

	// Benchmarks only: per-tenant statements off, the pool tier's catalog check off (bind.go).
	noOwnPlans, noPoolCheck bool
	citusVariant            citusVariant // tests only: a part of the Citus binding off (citusbind.go)
}

// New validates cfg and returns a client. It does no I/O; call Init once to install or upgrade
// the catalog.
func New(cfg *Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Client{
		app:     cfg.AppPool,
		owner:   cfg.OwnerPool,
		appRole: cfg.AppPool.Config().ConnConfig.User,
		shared:  cfg.SharedSchema,
		logger:  cfg.Logger,
		obs:     cfg.Observer,

		defaultLimits:    cfg.DefaultLimits,
		busyWait:         cmp.Or(cfg.BusyWait, BusyWaitDefault),
		otherGate:        fair.New(0),
		warm:             newWarmPool(cfg.WarmPlacements),
		validateSettings: cfg.ValidateSettings,
	}
	if c.busyWait < 0 {
		c.busyWait = 0
	}
	c.appGate = c.otherGate
	if !cfg.FairShareOff {
		c.appGate = fair.New(int(cfg.AppPool.Config().MaxConns))
	}
	c.usage = &usageBook{interval: cmp.Or(cfg.UsageFlushInterval, UsageFlushIntervalDefault), flush: c.FlushUsage, stop: make(chan struct{})}
	if c.shared == "" {
		c.shared = SharedSchemaDefault
	}
	c.reservedHosts = newReservedHosts(cfg.BaseDomains, cfg.PublicHosts)
	c.serverPW = cfg.ServerPassword
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.env = &placement.Env{
		Owner: c.owner, AppRole: c.appRole, Shared: c.shared,
		Server: c.serverConfig, CatalogID: c.catalogID, CatalogDB: c.catalogDatabase,
		Hook: func(ctx context.Context, step string, tx pgx.Tx) error {
			if c.testHook == nil {
				return nil
			}
			return c.testHook(ctx, step, tx)
		},
	}
	c.recycle = newRecycler(cfg, c.logger.Warn)
	c.conns = connpool.NewRegistry(c.openPlacementPool, connpool.Limits{
		MaxPools:        cfg.MaxPlacementPools,
		MaxConnsPerPool: cfg.PlacementPoolConns,
		IdleTimeout:     cfg.PlacementIdleTimeout,
	})
	var err error
	if c.sharedMigs, err = migrate.Load(cfg.SharedMigrations); err != nil {
		return nil, fmt.Errorf("tenancy: Config.SharedMigrations: %w", err)
	}
	if c.tenantMigs, err = migrate.Load(cfg.TenantMigrations); err != nil {
		return nil, fmt.Errorf("tenancy: Config.TenantMigrations: %w", err)
	}
	if err := c.loadTypes(cfg); err != nil {
		return nil, err
	}
	c.env.TenantMigs, c.env.Conns = c.tenantMigs, c.conns
	return c, nil
}

// openPlacementPool configures a pool for placements outside the catalog's database; the
// application role's pools are recycled like AppPool.
func (c *Client) openPlacementPool(ctx context.Context, k connpool.Key) (*pgxpool.Config, error) {
	cfg, err := c.env.OpenConfig(ctx, k)
	if err == nil && !k.Admin {
		addRecycleHook(cfg)
	}
	return cfg, err
}

// Close stops the refill of warm placements and the periodic usage flush, flushes what is left
// (see FlushUsage), and closes the pools the client opened itself (those of database-tier
// placements). The pools passed in Config belong to the caller.
func (c *Client) Close() {
	c.closeWarm()
	c.usage.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = c.FlushUsage(ctx)
	cancel()
	c.conns.Close()
}

// AppPool returns the application role's pool.
func (c *Client) AppPool() *pgxpool.Pool { return c.app }

// Pool returns the application role's pool.
//
// Deprecated: use AppPool.
func (c *Client) Pool() *pgxpool.Pool { return c.app }

// LatestVersion is the version of the newest tenant migration this client knows.
func (c *Client) LatestVersion() int64 { return migrate.Latest(c.tenantMigs) }

// Init installs or upgrades the catalog, applies the shared migrations and brings the shape schema
// to the latest tenant migration, in one transaction. It is idempotent. Existing tenants are
// migrated by Migrate.
func (c *Client) Init(ctx context.Context) error {
	if c.owner == nil {
		return ErrReadOnly
	}
	err := catalog.Install(ctx, c.owner, catalog.InstallOpts{
		AppRole:      c.appRole,
		SharedSchema: c.shared,
		Shared:       c.sharedMigs,
		Tenant:       c.tenantMigs,
		TypeLines:    c.env.ShapeLines,
	})
	if err == nil {
		c.kickWarm() // Config.WarmPlacements: fill them in the background
	}
	return err
}

func (c *Client) ownerPool() (*pgxpool.Pool, error) {
	if c.owner == nil {
		return nil, ErrReadOnly
	}
	return c.owner, nil
}

func notFoundOr(err error, sentinel error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s", sentinel, what)
	}
	if placement.IsUndefinedTable(err) {
		return ErrNotInitialised
	}
	return err
}

// catalogDatabase returns the name of the catalog's database (cached).
func (c *Client) catalogDatabase(ctx context.Context) (string, error) {
	c.dbNameOnce.Do(func() {
		// A connection of its own, as catalogID does: callers may hold the pool's connections.
		conn, err := pgx.ConnectConfig(ctx, c.app.Config().ConnConfig)
		if err != nil {
			c.dbNameErr = err
			return
		}
		defer conn.Close(context.WithoutCancel(ctx))
		c.dbNameErr = conn.QueryRow(ctx, `SELECT current_database()`).Scan(&c.dbName)
	})
	return c.dbName, c.dbNameErr
}

// PlacementStats describes the connection pools the client keeps for placements outside the
// catalog's database (database-tier tenants, other servers).
type PlacementStats struct {
	Pools     int   `json:"pools"`      // pools open
	Held      int   `json:"held"`       // pools in use
	Conns     int64 `json:"conns"`      // connections open in all of them
	PeakConns int64 `json:"peak_conns"` // the most connections open at once so far
}

// PlacementStats reports the pools and connections to placements outside the catalog's
// database, which Config.MaxPlacementPools and Config.PlacementPoolConns cap.
func (c *Client) PlacementStats() PlacementStats {
	st := c.conns.Stats()
	return PlacementStats{Pools: st.Pools, Held: st.Held, Conns: st.Conns, PeakConns: st.PeakConns}
}

// The catalog's identity is a random id written when the catalog is installed: every mark on
// what tenancy makes names it (internal/placement, marks.go).

// catalogIdentity caches the catalog's identity once read.
type catalogIdentity struct {
	mu sync.Mutex
	id string
}

// catalogID returns the catalog's identity.
func (c *Client) catalogID(ctx context.Context) (string, error) {
	c.identity.mu.Lock()
	defer c.identity.mu.Unlock()
	if c.identity.id != "" {
		return c.identity.id, nil
	}
	admin, err := c.ownerPool()
	if err != nil {
		return "", err
	}
	// A connection of its own, not one of the pool's: the first call often comes from inside an
	// operation that already holds the owner pool's connections (a move's lock and transaction on
	// a pool of 2), where waiting for a third would wait forever.
	conn, err := pgx.ConnectConfig(ctx, admin.Config().ConnConfig)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	id, err := catalog.Identity(ctx, conn)
	if err != nil {
		return "", notFoundOr(err, ErrTenantNotFound, "")
	}
	c.identity.id = id
	return id, nil
}
