// Package placement reaches tenant placements that are not in the catalog's own database: a
// database of their own (the database tier) or another server. It keeps one connection pool per
// (server, database, role), capped in number, and closes the least recently used idle ones, so
// that thousands of database-tier tenants never exhaust a server's connections.
package connpool

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrBusy is returned when every pool is in use, the cap is reached and ctx ends first.
var ErrBusy = errors.New("tenancy: all database-tier connection pools are in use (raise Config.MaxPlacementPools)")

// Key names one pool.
type Key struct {
	Server   string // "" is the catalog's server
	Database string
	Admin    bool // the owner role (DDL) rather than the application role
}

func (k Key) String() string {
	role := "app"
	if k.Admin {
		role = "owner"
	}
	s := k.Server
	if s == "" {
		s = "default"
	}
	return fmt.Sprintf("%s/%s (%s)", s, k.Database, role)
}

// Opener makes the pool configuration for a key (it knows the servers' URLs and the roles).
type Opener func(ctx context.Context, k Key) (*pgxpool.Config, error)

// Limits bound a Registry.
type Limits struct {
	MaxPools        int           // most pools open at once
	MaxConnsPerPool int32         // each pool's MaxConns
	IdleTimeout     time.Duration // a pool unused this long is closed
}

// Registry hands out pools. Acquire returns a pool with a release func; a pool is closed only
// when nobody holds it, least recently used first.
type Registry struct {
	open   Opener
	limits Limits

	conns, peak atomic.Int64 // physical connections open in all pools, and the most at once

	mu      sync.Mutex
	entries map[Key]*entry
	lru     *list.List // of *entry, most recently released at the front
	freed   chan struct{}
	closed  bool
}

type entry struct {
	key      Key
	pool     *pgxpool.Pool
	refs     int
	lastUsed time.Time
	elem     *list.Element
	ready    chan struct{} // closed when pool (or err) is set
	err      error
}

// NewRegistry returns a registry. Call Close when done.
func NewRegistry(open Opener, limits Limits) *Registry {
	if limits.MaxPools <= 0 {
		limits.MaxPools = 50
	}
	if limits.MaxConnsPerPool <= 0 {
		limits.MaxConnsPerPool = 4
	}
	if limits.IdleTimeout <= 0 {
		limits.IdleTimeout = 5 * time.Minute
	}
	return &Registry{open: open, limits: limits, entries: map[Key]*entry{}, lru: list.New(), freed: make(chan struct{}, 1)}
}

// Acquire returns the pool for k, opening it if needed. The caller must call release when done
// with the pool (not with each connection: pgxpool handles those).
func (r *Registry) Acquire(ctx context.Context, k Key) (*pgxpool.Pool, func(), error) {
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, nil, errors.New("tenancy: placement registry closed")
		}
		if e, ok := r.entries[k]; ok {
			e.refs++
			if e.elem != nil {
				r.lru.Remove(e.elem)
				e.elem = nil
			}
			r.mu.Unlock()
			select {
			case <-e.ready:
			case <-ctx.Done():
				r.release(e)
				return nil, nil, ctx.Err()
			}
			if e.err != nil {
				r.release(e)
				return nil, nil, e.err
			}
			return e.pool, func() { r.release(e) }, nil
		}
		if len(r.entries) >= r.limits.MaxPools {
			// Evict the least recently used idle pool, or wait for one to become idle.
			if back := r.lru.Back(); back != nil {
				victim := back.Value.(*entry)
				r.lru.Remove(back)
				delete(r.entries, victim.key)
				r.mu.Unlock()
				victim.pool.Close()
				continue
			}
			r.mu.Unlock()
			select {
			case <-r.freed:
				continue
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("%w: %v", ErrBusy, ctx.Err())
			}
		}
		e := &entry{key: k, refs: 1, ready: make(chan struct{})}
		r.entries[k] = e
		r.mu.Unlock()

		e.pool, e.err = r.connect(ctx, k)
		close(e.ready)
		if e.err != nil {
			r.mu.Lock()
			delete(r.entries, k)
			r.mu.Unlock()
			r.release(e)
			return nil, nil, e.err
		}
		return e.pool, func() { r.release(e) }, nil
	}
}

func (r *Registry) connect(ctx context.Context, k Key) (*pgxpool.Pool, error) {
	cfg, err := r.open(ctx, k)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = r.limits.MaxConnsPerPool
	if cfg.MinConns > cfg.MaxConns {
		cfg.MinConns = 0
	}
	cfg.MaxConnIdleTime = r.limits.IdleTimeout
	// Count physical connections, so that the caps can be checked (and reported) exactly.
	afterConnect := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if afterConnect != nil {
			if err := afterConnect(ctx, c); err != nil {
				return err
			}
		}
		n := r.conns.Add(1)
		for p := r.peak.Load(); n > p && !r.peak.CompareAndSwap(p, n); p = r.peak.Load() {
		}
		return nil
	}
	beforeClose := cfg.BeforeClose
	cfg.BeforeClose = func(c *pgx.Conn) {
		if beforeClose != nil {
			beforeClose(c)
		}
		r.conns.Add(-1)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", k, err)
	}
	return pool, nil
}

func (r *Registry) release(e *entry) {
	r.mu.Lock()
	e.refs--
	e.lastUsed = time.Now()
	if e.refs == 0 && r.entries[e.key] == e && e.pool != nil {
		e.elem = r.lru.PushFront(e)
		select {
		case r.freed <- struct{}{}:
		default:
		}
	}
	r.mu.Unlock()
	r.closeIdle()
}

// closeIdle closes pools unused for longer than IdleTimeout.
func (r *Registry) closeIdle() {
	var idle []*pgxpool.Pool
	r.mu.Lock()
	cutoff := time.Now().Add(-r.limits.IdleTimeout)
	for el := r.lru.Back(); el != nil; {
		e := el.Value.(*entry)
		prev := el.Prev()
		if e.lastUsed.After(cutoff) {
			break
		}
		r.lru.Remove(el)
		delete(r.entries, e.key)
		idle = append(idle, e.pool)
		el = prev
	}
	r.mu.Unlock()
	for _, p := range idle {
		p.Close()
	}
}

// Evict closes the pool for k once nobody holds it (e.g. before DROP DATABASE).
func (r *Registry) Evict(k Key) {
	r.mu.Lock()
	e, ok := r.entries[k]
	if !ok || e.refs > 0 {
		r.mu.Unlock()
		return
	}
	if e.elem != nil {
		r.lru.Remove(e.elem)
	}
	delete(r.entries, k)
	r.mu.Unlock()
	if e.pool != nil {
		e.pool.Close()
	}
}

// Stats describes a registry at one moment.
type Stats struct {
	Pools     int   // pools open
	Held      int   // pools in use by a caller
	Conns     int64 // connections open in all pools
	PeakConns int64 // the most connections ever open at once
}

// Stats reports the open pools and connections.
func (r *Registry) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Stats{Pools: len(r.entries), Conns: r.conns.Load(), PeakConns: r.peak.Load()}
	for _, e := range r.entries {
		if e.refs > 0 {
			st.Held++
		}
	}
	return st
}

// Close closes every pool.
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	entries := r.entries
	r.entries = map[Key]*entry{}
	r.lru.Init()
	r.mu.Unlock()
	for _, e := range entries {
		if e.pool != nil {
			e.pool.Close()
		}
	}
}
