package tenancyhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/internal/hostname"
)

// Defaults of CacheConfig.
const (
	CacheTTLDefault                = time.Minute
	CacheNegativeTTLDefault        = 5 * time.Second
	CacheMaxNegativeDefault        = 10_000
	CacheMaxConcurrentLoadsDefault = 8
	CacheUnlistenedTTLDefault      = time.Second
	CacheHealthIntervalDefault     = 15 * time.Second
	CacheLoadTimeoutDefault        = 10 * time.Second
)

// CacheConfig configures a Cache. The zero value (or nil) is ready to use.
type CacheConfig struct {
	// TTL bounds how long a tenant is served from memory without asking the catalog again: the
	// safety net behind notifications. CacheTTLDefault if 0.
	TTL time.Duration

	// NegativeTTL is how long "no such tenant" is remembered for a host, slug or id, so that
	// requests for unknown names do not each cost a query. CacheNegativeTTLDefault if 0.
	NegativeTTL time.Duration

	// MaxNegative bounds the number of remembered unknown names; the oldest are forgotten first,
	// so random Host headers cannot grow memory. CacheMaxNegativeDefault if 0.
	MaxNegative int

	// MaxConcurrentLoads bounds the catalog queries that misses run at once (the rest wait), so a
	// flood of unknown names cannot take every connection of the pool.
	// CacheMaxConcurrentLoadsDefault if 0.
	MaxConcurrentLoads int

	// UnlistenedTTL replaces TTL, if shorter, while a started cache has lost its listener
	// connection and is reconnecting: changes are missed meanwhile, so entries live briefly.
	// CacheUnlistenedTTLDefault if 0.
	UnlistenedTTL time.Duration

	// HealthInterval is how often an idle listener connection is pinged, so that a connection
	// dropped without a word (a network partition) is noticed. CacheHealthIntervalDefault if 0.
	HealthInterval time.Duration

	// LoadTimeout bounds one catalog query of a miss. CacheLoadTimeoutDefault if 0.
	LoadTimeout time.Duration

	// Listen is the connection the listener opens. Nil means a copy of the Client pool's
	// configuration; set it when that pool goes through a transaction-mode pooler (PgBouncer),
	// which does not support LISTEN.
	Listen *pgx.ConnConfig

	// Logger receives listener disconnections and reconnections; slog.Default() if nil.
	Logger *slog.Logger
}

// Cache is an in-process copy of the catalog's tenant lookups: by host, slug and id. A hit
// takes no lock and sends no query. Misses are loaded from the catalog (one query each, with
// concurrent misses for the same name sharing it), and "no such tenant" is remembered briefly.
//
// Started (Start), the cache listens on the catalog's notification channel on a connection of its
// own and drops a tenant's entries as soon as the tenant or one of its domains changes, in every
// process that runs one. If that connection drops, the cache drops everything, reconnects and
// starts again, since notifications may have been missed meanwhile. Entries expire after TTL in
// any case.
//
// Tenants returned by the cache are shared between requests: treat them as read-only.
// A Cache is safe for concurrent use; it satisfies Source and tenancy.TenantLoader.
type Cache struct {
	client *tenancy.Client
	cfg    CacheConfig
	log    *slog.Logger
	epoch  time.Time // entries expire at a monotonic offset from it

	hosts index[string] // normalized host
	slugs index[string]
	ids   index[int64]

	// mu orders stores after invalidations: a load that began before an invalidation is not stored.
	mu    sync.Mutex
	gen   atomic.Uint64
	neg   []negRef // ring of negative entries, oldest at negNext once full
	negAt int

	loads    chan struct{} // semaphore of concurrent loads
	flightMu sync.Mutex
	flight   map[string]*call

	state   atomic.Int32 // stateStopped, stateListening, stateReconnecting
	stats   struct{ loads, invalidations, purges, reconnects, notifications atomic.Uint64 }
	startMu sync.Mutex // guards stop and done
	stop    context.CancelFunc
	done    chan struct{}
}

const (
	stateStopped int32 = iota
	stateListening
	stateReconnecting
)

type entry struct {
	t       *tenancy.Tenant // nil: no such tenant
	err     error           // returned for a negative entry
	expires time.Duration   // since epoch
}

// negRef forgets one negative entry, if it is still there.
type negRef func()

type call struct {
	done chan struct{}
	t    *tenancy.Tenant
	err  error
}

// NewCache returns a cache of client's catalog. It does no I/O; call Start to receive
// invalidations, or use it unstarted with TTL as the only bound on staleness.
func NewCache(client *tenancy.Client, cfg *CacheConfig) *Cache {
	if client == nil {
		panic("tenancyhttp: NewCache needs a *tenancy.Client")
	}
	c := &Cache{client: client, epoch: time.Now(), flight: map[string]*call{}}
	if cfg != nil {
		c.cfg = *cfg
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.cfg.TTL, CacheTTLDefault)
	def(&c.cfg.NegativeTTL, CacheNegativeTTLDefault)
	def(&c.cfg.UnlistenedTTL, CacheUnlistenedTTLDefault)
	def(&c.cfg.HealthInterval, CacheHealthIntervalDefault)
	def(&c.cfg.LoadTimeout, CacheLoadTimeoutDefault)
	if c.cfg.MaxNegative <= 0 {
		c.cfg.MaxNegative = CacheMaxNegativeDefault
	}
	if c.cfg.MaxConcurrentLoads <= 0 {
		c.cfg.MaxConcurrentLoads = CacheMaxConcurrentLoadsDefault
	}
	c.log = c.cfg.Logger
	if c.log == nil {
		c.log = slog.Default()
	}
	c.neg = make([]negRef, 0, c.cfg.MaxNegative)
	c.loads = make(chan struct{}, c.cfg.MaxConcurrentLoads)
	return c
}

// TenantGetByDomain returns the tenant that host (any spelling) maps to.
func (c *Cache) TenantGetByDomain(ctx context.Context, host string) (*tenancy.Tenant, error) {
	h, err := hostname.Normalize(host, true)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", tenancy.ErrInvalidHost, err)
	}
	return c.byHost(ctx, h)
}

// byHost is TenantGetByDomain for a host already normalized.
func (c *Cache) byHost(ctx context.Context, h string) (*tenancy.Tenant, error) {
	if e, ok := c.fresh(c.hosts.load(h)); ok {
		return e.t, e.err
	}
	cached := func() (*entry, bool) { return c.fresh(c.hosts.load(h)) } // built on a miss only
	return c.load(ctx, "h"+h, cached, func(ctx context.Context) (*tenancy.Tenant, error) {
		return c.client.TenantGetByDomain(ctx, h)
	}, func(e *entry) negRef {
		c.hosts.store(h, e)
		return func() { c.hosts.compareAndDelete(h, e) }
	})
}

// TenantGet returns the tenant with the given slug.
func (c *Cache) TenantGet(ctx context.Context, slug string) (*tenancy.Tenant, error) {
	if e, ok := c.fresh(c.slugs.load(slug)); ok {
		return e.t, e.err
	}
	cached := func() (*entry, bool) { return c.fresh(c.slugs.load(slug)) } // built on a miss only
	return c.load(ctx, "s"+slug, cached, func(ctx context.Context) (*tenancy.Tenant, error) {
		return c.client.TenantGet(ctx, slug)
	}, func(e *entry) negRef {
		c.slugs.store(slug, e)
		return func() { c.slugs.compareAndDelete(slug, e) }
	})
}

// TenantGetByID returns the tenant with the given id.
func (c *Cache) TenantGetByID(ctx context.Context, id int64) (*tenancy.Tenant, error) {
	if e, ok := c.fresh(c.ids.load(id)); ok {
		return e.t, e.err
	}
	cached := func() (*entry, bool) { return c.fresh(c.ids.load(id)) } // built on a miss only
	return c.load(ctx, "i"+strconv.FormatInt(id, 10), cached, func(ctx context.Context) (*tenancy.Tenant, error) {
		return c.client.TenantGetByID(ctx, id)
	}, func(e *entry) negRef {
		c.ids.store(id, e)
		return func() { c.ids.compareAndDelete(id, e) }
	})
}

func (c *Cache) now() time.Duration { return time.Since(c.epoch) }

// fresh passes on a cached entry that has not expired.
func (c *Cache) fresh(e *entry, ok bool) (*entry, bool) {
	if ok && c.now() < e.expires {
		return e, true
	}
	return nil, false
}

// keeper stores an entry under the key that was asked for (with the cache's mutex held) and
// returns how to forget it again.
type keeper func(*entry) negRef

// load runs fn once for all concurrent misses of the same key and stores its answer, unless the
// cache was invalidated while it ran (its answer may predate the change).
func (c *Cache) load(ctx context.Context, flightKey string, cached func() (*entry, bool), fn func(context.Context) (*tenancy.Tenant, error), keep keeper) (*tenancy.Tenant, error) {
	c.flightMu.Lock()
	cl, waiting := c.flight[flightKey]
	if !waiting {
		// A load that ended between the caller's look at the cache and here has stored its
		// answer (it stores before leaving the flight map, which takes this mutex): use it.
		if e, ok := cached(); ok {
			c.flightMu.Unlock()
			return e.t, e.err
		}
		cl = &call{done: make(chan struct{})}
		c.flight[flightKey] = cl
	}
	c.flightMu.Unlock()
	if !waiting {
		// The load outlives a caller that gives up, since others may be waiting for it.
		go c.run(context.WithoutCancel(ctx), cl, flightKey, fn, keep)
	}
	select {
	case <-cl.done:
		return cl.t, cl.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Cache) run(ctx context.Context, cl *call, flightKey string, fn func(context.Context) (*tenancy.Tenant, error), keep keeper) {
	defer func() {
		c.flightMu.Lock()
		delete(c.flight, flightKey)
		c.flightMu.Unlock()
		close(cl.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LoadTimeout)
	defer cancel()
	select {
	case c.loads <- struct{}{}:
	case <-ctx.Done():
		cl.err = ctx.Err()
		return
	}
	gen := c.gen.Load()
	cl.t, cl.err = fn(ctx)
	<-c.loads
	c.stats.loads.Add(1)
	switch {
	case cl.err == nil:
		c.storeTenant(gen, cl.t, keep)
	case errors.Is(cl.err, tenancy.ErrTenantNotFound), errors.Is(cl.err, tenancy.ErrInvalidSlug):
		c.storeNegative(gen, cl.err, keep)
	}
}

func (c *Cache) ttl(d time.Duration) time.Duration {
	if c.state.Load() == stateReconnecting && c.cfg.UnlistenedTTL < d {
		return c.cfg.UnlistenedTTL
	}
	return d
}

// storeTenant stores t under the key it was asked for (keep, if any), its id, slug and domains.
func (c *Cache) storeTenant(gen uint64, t *tenancy.Tenant, keep keeper) {
	e := &entry{t: t, expires: c.now() + c.ttl(c.cfg.TTL)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if keep != nil {
		keep(e)
	}
	c.ids.store(t.ID, e)
	c.slugs.store(t.Slug, e)
	for _, h := range t.Domains {
		c.hosts.store(h, e)
	}
}

// storeNegative remembers that a key names no tenant, forgetting the oldest such entry if full.
func (c *Cache) storeNegative(gen uint64, err error, keep keeper) {
	e := &entry{err: err, expires: c.now() + c.ttl(c.cfg.NegativeTTL)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	forget := keep(e)
	if len(c.neg) < cap(c.neg) {
		c.neg = append(c.neg, forget)
		return
	}
	c.neg[c.negAt]()
	c.neg[c.negAt] = forget
	c.negAt = (c.negAt + 1) % len(c.neg)
}

// Preload loads every tenant of the catalog into the cache, a page at a time, so that a process
// starts with a warm cache. It returns the number of tenants loaded.
func (c *Cache) Preload(ctx context.Context) (int, error) {
	n := 0
	opts := &tenancy.TenantListOpts{Limit: 1000}
	for {
		gen := c.gen.Load()
		page, err := c.client.TenantList(ctx, opts)
		if err != nil {
			return n, err
		}
		for _, t := range page {
			c.storeTenant(gen, t, nil)
		}
		n += len(page)
		if len(page) < opts.Limit {
			// Fold everything into the base maps: a hit then skips the overlay.
			c.mu.Lock()
			c.hosts.compact()
			c.slugs.compact()
			c.ids.compact()
			c.mu.Unlock()
			return n, nil
		}
		opts.After = page[len(page)-1].Slug
	}
}

// Purge drops every entry.
func (c *Cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	c.hosts.clear()
	c.slugs.clear()
	c.ids.clear()
	c.neg = c.neg[:0]
	c.negAt = 0
	c.stats.purges.Add(1)
}

// Invalidate drops the entries of one tenant: its id, its slugs and its domains (as cached),
// plus the given slugs and hosts (names it had or has just taken). The listener calls it for
// every notification; call it yourself after a change made outside the catalog's triggers.
func (c *Cache) Invalidate(id int64, slugs []string, hosts []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	c.stats.invalidations.Add(1)
	drop := func(e *entry, ok bool) {
		if !ok || e.t == nil {
			return
		}
		c.slugs.delete(e.t.Slug)
		for _, h := range e.t.Domains {
			c.hosts.delete(h)
		}
	}
	drop(c.ids.load(id))
	c.ids.delete(id)
	for _, s := range slugs {
		drop(c.slugs.load(s))
		c.slugs.delete(s)
	}
	for _, h := range hosts {
		drop(c.hosts.load(h))
		c.hosts.delete(h)
		c.hosts.delete("www." + h)
	}
}

// CacheStats counts what a cache has done since it was made. Hits are not counted: counting them
// would make every hit write to memory shared by all cores.
type CacheStats struct {
	Loads         uint64 // catalog queries run for misses
	Notifications uint64 // catalog notifications received
	Invalidations uint64
	Purges        uint64 // whole-cache drops (on start, disconnect and reconnect)
	Reconnects    uint64 // listener connections reopened after a drop
	Listening     bool   // the listener is connected now
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	return CacheStats{
		Loads:         c.stats.loads.Load(),
		Notifications: c.stats.notifications.Load(),
		Invalidations: c.stats.invalidations.Load(),
		Purges:        c.stats.purges.Load(),
		Reconnects:    c.stats.reconnects.Load(),
		Listening:     c.state.Load() == stateListening,
	}
}
