package tenancy

import (
	"context"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
)

// Warm placements (Config.WarmPlacements, docs/tiers.md): schema-tier placements made, migrated
// and granted ahead of time in the catalog's database. TenantCreate claims one in the
// transaction that makes the tenant (a rename and a comment: no tenant migrations run), which
// takes sign-up from the time of the migrations' DDL to a few catalog statements.
//
// Crash safety comes from each step being one transaction: a warm placement is made whole or
// not at all (WarmFill), and claimed with the tenant's row, or not at all. A warm placement is
// in the placements table, so check and repair never take it for an orphan; it is never
// migrated by Migrate (it has no tenant), so one left at an older version is never claimed and
// is dropped by the next fill.

// WarmMax caps Config.WarmPlacements.
const WarmMax = 1000

// WarmStatusResult says how many warm placements are waiting.
type WarmStatusResult struct {
	Target int `json:"target,omitempty"` // Config.WarmPlacements of this client
	Ready  int `json:"ready"`            // at the latest tenant migration, ready to be claimed
	Stale  int `json:"stale"`            // at another version: the next fill drops them
}

// WarmFillResult says what WarmFill did.
type WarmFillResult struct {
	Made      int `json:"made"`
	Discarded int `json:"discarded"`
	Ready     int `json:"ready"`
}

// warmPool is the client's side of the warm placements: the target, and the background refill.
type warmPool struct {
	target int
	fill   sync.Mutex // one fill at a time in this process
	once   sync.Once
	kickCh chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
}

func newWarmPool(target int) *warmPool {
	return &warmPool{target: target, kickCh: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// WarmStatus reports the warm placements waiting in the catalog.
func (c *Client) WarmStatus(ctx context.Context) (*WarmStatusResult, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	ready, stale, err := catalog.WarmCount(ctx, admin, c.LatestVersion())
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, "")
	}
	return &WarmStatusResult{Target: c.warmTarget(), Ready: ready, Stale: stale}, nil
}

// WarmFill brings the warm placements to Config.WarmPlacements at once: it drops those at an
// older tenant migration version, then makes what is missing, one transaction each. The client
// also does this in the background after each create that claims one.
func (c *Client) WarmFill(ctx context.Context) (*WarmFillResult, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	if c.warm == nil {
		return &WarmFillResult{}, nil
	}
	c.warm.fill.Lock()
	defer c.warm.fill.Unlock()
	res := &WarmFillResult{}
	version := c.LatestVersion()
	for {
		found, err := c.env.DiscardWarm(ctx, version)
		if err != nil {
			return res, notFoundOr(err, ErrTenantNotFound, "")
		}
		if !found {
			break
		}
		res.Discarded++
	}
	ready, _, err := catalog.WarmCount(ctx, admin, version)
	if err != nil {
		return res, notFoundOr(err, ErrTenantNotFound, "")
	}
	for ; ready < c.warmTarget(); ready++ {
		if err := c.env.MakeWarm(ctx); err != nil {
			res.Ready = ready
			return res, err
		}
		res.Made++
	}
	res.Ready = ready
	return res, nil
}

// warmTarget is Config.WarmPlacements (0 in a client copied for benchmarks).
func (c *Client) warmTarget() int {
	if c.warm == nil {
		return 0
	}
	return c.warm.target
}

// warmFits reports whether a warm placement can serve tenant t: warm placements carry the common
// tenant line only, so not a tenant whose type has a line of its own, nor one with custom
// migrations (types.go).
func (c *Client) warmFits(t newTenant) bool {
	return t.tier == TierSchema && c.warmTarget() > 0 && len(c.typeMigs[t.typ]) == 0 && len(c.customMigs[t.slug]) == 0
}

// kickWarm asks the background refill to run; the first call starts it.
func (c *Client) kickWarm() {
	w := c.warm
	if c.warmTarget() == 0 || c.owner == nil {
		return
	}
	w.once.Do(func() { go c.refillLoop() })
	select {
	case w.kickCh <- struct{}{}:
	default: // a refill is due already
	}
}

func (c *Client) refillLoop() {
	w := c.warm
	defer close(w.done)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-w.stop; cancel() }()
	for {
		select {
		case <-w.stop:
			return
		case <-w.kickCh:
			if _, err := c.WarmFill(ctx); err != nil && ctx.Err() == nil {
				c.logger.Warn("tenancy: refilling warm placements", "err", err)
			}
		}
	}
}

// closeWarm stops the background refill and waits for it.
func (c *Client) closeWarm() {
	w := c.warm
	if w == nil {
		return
	}
	w.closed.Do(func() {
		close(w.stop)
		started := true
		w.once.Do(func() { started = false })
		if started {
			<-w.done
		}
	})
}

// errNoWarm rolls back a create that found no warm placement ready.
var errNoWarm = errors.New("tenancy: no warm placement ready")

// createWarm makes a schema-tier tenant on a warm placement, in one transaction: its row, born
// active, and the claim. done is false (and nothing changed) when no warm placement is ready or
// the slug is taken: the ordinary create then runs, and says why.
func (c *Client) createWarm(ctx context.Context, row newTenant) (t *Tenant, done bool, err error) {
	var id int64
	err = pgx.BeginFunc(ctx, c.owner, func(tx pgx.Tx) error {
		var ok bool
		var err error
		id, ok, err = catalog.TenantInsert(ctx, tx, row.slug, row.name, string(StatusActive), string(TierSchema), row.settings, 0)
		if err != nil {
			return err
		}
		if !ok {
			return errNoWarm // taken: the ordinary create finishes a crash's leftover, or refuses
		}
		p, found, err := c.env.ClaimWarm(ctx, tx, id, c.LatestVersion())
		if err != nil {
			return err
		}
		if !found {
			return errNoWarm
		}
		return catalog.TenantAttach(ctx, tx, id, p.ID)
	})
	c.kickWarm()
	if errors.Is(err, errNoWarm) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, notFoundOr(err, ErrTenantNotFound, row.slug)
	}
	t, err = c.TenantGetByID(ctx, id)
	return t, true, err
}
