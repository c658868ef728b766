// Package fair shares a fixed number of slots (the application pool's connections) among
// tenants, and caps the slots each tenant holds.
//
// While a slot is free and its tenant is under its cap, Acquire takes it at once. Otherwise the
// caller waits; every Release hands the slot it frees to the best waiter that may take it: the
// one whose tenant holds the fewest slots, the earliest arrived among equals. So when the slots
// are saturated a tenant with few in flight goes ahead of one holding many, and nobody starves:
// a waiter is passed over only by a waiter whose tenant holds fewer slots than its own, or as
// many and arrived earlier; its own tenant's count only falls while its waiters wait (their
// slots come back and are not retaken by later arrivals of the same tenant), and once it is the
// lowest, only earlier arrivals go first. The proof is in docs/noisy-neighbours.md.
package fair

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrBusy: the tenant held its cap of slots for the whole wait.
var ErrBusy = errors.New("fair: tenant at its cap")

// Gate shares slots among tenants. The zero Gate is not usable; use New.
type Gate struct {
	mu      sync.Mutex
	slots   int // 0: unbounded (only the tenants' caps apply)
	used    int
	held    map[int64]int
	waiters []*waiter // arrival order
}

type waiter struct {
	tenant  int64
	max     int
	ready   chan struct{} // closed when granted
	granted bool
}

// New returns a gate of slots slots (0: no shared bound, only the tenants' caps).
func New(slots int) *Gate {
	return &Gate{slots: slots, held: map[int64]int{}}
}

func (g *Gate) free(tenant int64, max int) bool {
	return (g.slots == 0 || g.used < g.slots) && (max <= 0 || g.held[tenant] < max)
}

// Acquire takes a slot for tenant, which may hold at most max at once (0: no cap). It waits
// until a slot is its turn or ctx ends (ctx.Err()); if the tenant stays at its cap for busyWait,
// it returns ErrBusy. Every nil return must be matched by one Release(tenant).
func (g *Gate) Acquire(ctx context.Context, tenant int64, max int, busyWait time.Duration) error {
	g.mu.Lock()
	if g.free(tenant, max) {
		g.used++
		g.held[tenant]++
		g.mu.Unlock()
		return nil
	}
	if max > 0 && g.held[tenant] >= max && busyWait <= 0 {
		g.mu.Unlock()
		return ErrBusy
	}
	w := &waiter{tenant: tenant, max: max, ready: make(chan struct{})}
	g.waiters = append(g.waiters, w)
	g.mu.Unlock()

	var busy <-chan time.Time
	if max > 0 {
		t := time.NewTimer(busyWait)
		defer t.Stop()
		busy = t.C
	}
	for {
		select {
		case <-w.ready:
			return nil
		case <-ctx.Done():
			return g.abandon(w, ctx.Err())
		case <-busy:
			g.mu.Lock()
			atCap := !w.granted && g.held[tenant] >= max
			g.mu.Unlock()
			if atCap {
				return g.abandon(w, ErrBusy)
			}
			busy = nil // waiting for a shared slot, not for the cap: as long as ctx lets it
		}
	}
}

// abandon takes w out of the queue and returns err, unless w was granted meanwhile: then the slot
// goes back (to the next waiter) and err stands all the same.
func (g *Gate) abandon(w *waiter, err error) error {
	g.mu.Lock()
	if w.granted {
		g.mu.Unlock()
		g.Release(w.tenant)
		return err
	}
	for i, x := range g.waiters {
		if x == w {
			g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
			break
		}
	}
	g.mu.Unlock()
	return err
}

// Release gives back a slot of tenant's and hands it to the best waiter that may take it.
func (g *Gate) Release(tenant int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.used--
	if g.held[tenant]--; g.held[tenant] <= 0 {
		delete(g.held, tenant)
	}
	best := -1
	for i, w := range g.waiters {
		if !g.free(w.tenant, w.max) {
			continue
		}
		if best < 0 || g.held[w.tenant] < g.held[g.waiters[best].tenant] {
			best = i // earlier arrivals win ties: the scan is in arrival order
		}
	}
	if best < 0 {
		return
	}
	w := g.waiters[best]
	g.waiters = append(g.waiters[:best], g.waiters[best+1:]...)
	g.used++
	g.held[w.tenant]++
	w.granted = true
	close(w.ready)
}

// Held returns the slots tenant holds now.
func (g *Gate) Held(tenant int64) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held[tenant]
}

// Waiting returns the number of callers waiting.
func (g *Gate) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiters)
}
