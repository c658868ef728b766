package tenancy

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Connection recycling. A PostgreSQL backend keeps every relation it has opened in its caches
// (relcache, catcache, plan caches) until it exits; nothing frees them. A pooled connection of the
// schema tier visits tenant after tenant, so its backend grows with the number of tenant schemas
// it has served (docs/benchmarks.md, "Backend memory"), until the server runs out of memory. So a
// connection that has served Config.ConnMaxTenants distinct placements, or whose backend holds
// more than Config.ConnMaxBytes, is closed when it is released, and the pool opens a fresh one.
// The tenants of a pool placement share its tables, so they count once: recycling a pool-tier
// connection for them would throw away warm caches and buy no memory (docs/benchmarks.md).
//
// The count is kept in Go, on the connection (pgconn's CustomData), when the binding takes the
// connection: it costs the bound call no query. The decision is pgxpool's AfterRelease hook,
// which ConfigurePool installs; it runs after the caller has its answer.

// ConnMaxTenantsDefault is Config.ConnMaxTenants when left 0.
const ConnMaxTenantsDefault = 500

// connMemCheckEvery is how many tenant switches a connection makes between two readings of its
// backend's memory, when Config.ConnMaxBytes is set: the reading is a round trip (in the release
// hook, off the caller's path), so it is made now and then, not at every release.
const connMemCheckEvery = 50

// connUseKey keys a connection's use record in pgconn's CustomData.
const connUseKey = "tenancy.connUse"

// memSQL reads the memory of the backend that runs it. PostgreSQL shows it to superusers and
// members of pg_read_all_stats only.
const memSQL = `SELECT coalesce(sum(total_bytes), 0)::bigint FROM pg_backend_memory_contexts`

// recycler holds a client's limits; nil when both are off.
type recycler struct {
	maxTenants int   // distinct tenants a connection serves; <= 0: no limit
	maxBytes   int64 // backend memory; 0: no limit
	warn       func(msg string, args ...any)
	warned     atomic.Bool // the memory reading was refused once (logged once)
}

func newRecycler(cfg *Config, warn func(string, ...any)) *recycler {
	r := &recycler{maxTenants: cfg.ConnMaxTenants, maxBytes: cfg.ConnMaxBytes, warn: warn}
	if r.maxTenants == 0 {
		r.maxTenants = ConnMaxTenantsDefault
	}
	if r.maxTenants < 0 && r.maxBytes <= 0 {
		return nil
	}
	return r
}

// limit is the number of distinct placements after which a connection is closed; 0: none.
func (r *recycler) limit() int {
	if r == nil || r.maxTenants < 0 {
		return 0
	}
	return r.maxTenants
}

// connUse is what a connection has served since it was opened.
type connUse struct {
	r        *recycler
	tenants  map[string]struct{} // distinct placements served, up to maxTenants
	last     string              // the placement served last
	switches int                 // tenant switches since the last memory reading
	noMem    bool                // the memory reading was refused on this connection
	due      bool                // close at the next release
}

// served records that conn is bound to a tenant of placement (its schema). The binding calls it
// after taking the connection from the pool; it runs no query.
func (r *recycler) served(conn *pgx.Conn, placement string) {
	if r == nil {
		return
	}
	data := conn.PgConn().CustomData()
	u, _ := data[connUseKey].(*connUse)
	if u == nil {
		u = &connUse{r: r}
		if r.maxTenants > 0 {
			u.tenants = make(map[string]struct{})
		}
		data[connUseKey] = u
	}
	if u.last == placement {
		return
	}
	u.last = placement
	u.switches++
	if u.tenants == nil {
		return
	}
	if _, ok := u.tenants[placement]; !ok {
		u.tenants[placement] = struct{}{}
		if len(u.tenants) >= r.maxTenants {
			u.due = true
		}
	}
}

// keepConn is the AfterRelease hook: false closes the connection instead of returning it.
func keepConn(conn *pgx.Conn) bool {
	u, _ := conn.PgConn().CustomData()[connUseKey].(*connUse)
	if u == nil {
		return true
	}
	if u.due {
		return false
	}
	if u.r.maxBytes <= 0 || u.noMem || u.switches < connMemCheckEvery {
		return true
	}
	u.switches = 0
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int64
	// The simple protocol: no statement of pgx's cache spent on it.
	err := conn.QueryRow(ctx, memSQL, pgx.QueryExecModeSimpleProtocol).Scan(&n)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" {
		u.noMem = true
		if u.r.warned.CompareAndSwap(false, true) {
			u.r.warn("tenancy: Config.ConnMaxBytes needs the application role to read pg_backend_memory_contexts (GRANT pg_read_all_stats); only Config.ConnMaxTenants recycles connections", "err", err)
		}
		return true
	}
	return err == nil && n < u.r.maxBytes
}

// addRecycleHook makes cfg's pool consult keepConn when a connection is released, after any
// AfterRelease hook cfg already has.
func addRecycleHook(cfg *pgxpool.Config) {
	prev := cfg.AfterRelease
	cfg.AfterRelease = func(c *pgx.Conn) bool {
		if prev != nil && !prev(c) {
			return false
		}
		return keepConn(c)
	}
}
