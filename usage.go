package tenancy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenancy-go/tenancy/internal/catalog"
)

// Usage is counted per tenant in memory, by every bound call as it ends (no query on the bound
// path), and added to the catalog's tenancy.usage table every Config.UsageFlushInterval and on
// Close, so that every process's counts add up there and `tenancy usage` can read them.

// UsageFlushIntervalDefault is how often a client adds its counts to the catalog unless
// Config.UsageFlushInterval says otherwise.
const UsageFlushIntervalDefault = time.Minute

// TenantUsage is one tenant's usage since it was created, summed over every client.
type TenantUsage struct {
	Tenant string `json:"tenant"`
	Tier   Tier   `json:"tier"`
	// Transactions counts bound transactions and one-shot calls, those that failed included.
	Transactions int64 `json:"transactions"`
	// StatementTime is the time bound calls held their turn (from admission to the connection's
	// return), summed.
	StatementTime time.Duration `json:"statement_time_ns"`
	Errors        int64         `json:"errors"`   // calls that failed (ErrTenantMoving aside)
	Timeouts      int64         `json:"timeouts"` // of them, statement and idle-in-transaction timeouts
	Busy          int64         `json:"busy"`     // calls refused with ErrTenantBusy
	// ArchiveRows counts the rows that Restore and Move wrote for the tenant.
	ArchiveRows int64 `json:"archive_rows"`
	// StorageBytes is the size of the tenant's data (UsageOpts.Storage; -1 when not measured):
	// the relations of its schema or database, or in a pool its share of each table by rows.
	StorageBytes int64     `json:"storage_bytes"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// UsageOpts selects what Usage reports.
type UsageOpts struct {
	// Storage measures each tenant's storage (a scan of each pool table; needs the owner role).
	Storage bool
}

// usageCounters is one tenant's counts not yet flushed.
type usageCounters struct {
	transactions, statementNanos, errors, timeouts, busy, archiveRows atomic.Int64
}

// usageBook holds the counters of every tenant a client served, and flushes them.
type usageBook struct {
	tenants  sync.Map // int64 -> *usageCounters
	once     sync.Once
	interval time.Duration
	flush    func(context.Context) error
	stop     chan struct{}
	stopped  chan struct{}
	closing  sync.Once
}

func (u *usageBook) of(id int64) *usageCounters {
	if v, ok := u.tenants.Load(id); ok {
		return v.(*usageCounters)
	}
	v, _ := u.tenants.LoadOrStore(id, &usageCounters{})
	return v.(*usageCounters)
}

// started starts the periodic flush on the first count: a client that serves no one starts no
// goroutine.
func (u *usageBook) started() {
	u.once.Do(func() {
		u.stopped = make(chan struct{})
		go func() {
			defer close(u.stopped)
			t := time.NewTicker(u.interval)
			defer t.Stop()
			for {
				select {
				case <-u.stop:
					return
				case <-t.C:
					ctx, cancel := context.WithTimeout(context.Background(), u.interval)
					_ = u.flush(ctx)
					cancel()
				}
			}
		}()
	})
}

// close stops the periodic flush.
func (u *usageBook) close() {
	u.once.Do(func() {}) // no flush starts after this
	u.closing.Do(func() { close(u.stop) })
	if u.stopped != nil {
		<-u.stopped
	}
}

// take returns the counts not yet flushed and zeroes them.
func (u *usageBook) take() []catalog.Usage {
	var rows []catalog.Usage
	u.tenants.Range(func(k, v any) bool {
		c := v.(*usageCounters)
		r := catalog.Usage{
			TenantID:     k.(int64),
			Transactions: c.transactions.Swap(0),
			StatementMS:  float64(c.statementNanos.Swap(0)) / 1e6,
			Errors:       c.errors.Swap(0),
			Timeouts:     c.timeouts.Swap(0),
			Busy:         c.busy.Swap(0),
			ArchiveRows:  c.archiveRows.Swap(0),
		}
		if r != (catalog.Usage{TenantID: r.TenantID}) {
			rows = append(rows, r)
		}
		return true
	})
	return rows
}

// giveBack adds counts that could not be flushed back to the counters.
func (u *usageBook) giveBack(rows []catalog.Usage) {
	for _, r := range rows {
		c := u.of(r.TenantID)
		c.transactions.Add(r.Transactions)
		c.statementNanos.Add(int64(r.StatementMS * 1e6))
		c.errors.Add(r.Errors)
		c.timeouts.Add(r.Timeouts)
		c.busy.Add(r.Busy)
		c.archiveRows.Add(r.ArchiveRows)
	}
}

// FlushUsage adds the usage counted in this process since the last flush to the catalog. The
// client does it every Config.UsageFlushInterval and on Close; call it to see the counts at
// once. On failure the counts are kept for the next flush.
func (c *Client) FlushUsage(ctx context.Context) error {
	rows := c.usage.take()
	if len(rows) == 0 {
		return nil
	}
	if err := catalog.UsageAdd(ctx, c.app, rows); err != nil {
		c.usage.giveBack(rows)
		return notFoundOr(err, ErrTenantNotFound, "")
	}
	return nil
}

// countArchiveRows returns onTable, counting the rows it is told of as tenant id's.
func (c *Client) countArchiveRows(id int64, onTable func(string, int64)) func(string, int64) {
	u := c.usage.of(id)
	return func(table string, rows int64) {
		u.archiveRows.Add(rows)
		c.usage.started()
		if onTable != nil {
			onTable(table, rows)
		}
	}
}

// Usage returns every tenant's usage as the catalog has it (flushed counts of every client; see
// FlushUsage), in slug order, deleted tenants aside.
func (c *Client) Usage(ctx context.Context, opts *UsageOpts) ([]TenantUsage, error) {
	if opts == nil {
		opts = &UsageOpts{}
	}
	db := c.app
	if opts.Storage {
		owner, err := c.ownerPool()
		if err != nil {
			return nil, err
		}
		db = owner
	}
	rows, err := catalog.UsageList(ctx, db)
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, "")
	}
	out := make([]TenantUsage, len(rows))
	for i, r := range rows {
		out[i] = TenantUsage{
			Tenant: r.Slug, Tier: Tier(r.Tier), Transactions: r.Transactions,
			StatementTime: time.Duration(r.StatementMS * 1e6), Errors: r.Errors, Timeouts: r.Timeouts,
			Busy: r.Busy, ArchiveRows: r.ArchiveRows, StorageBytes: -1, UpdatedAt: r.UpdatedAt,
		}
	}
	if opts.Storage {
		if err := c.measureStorage(ctx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// measureStorage fills in StorageBytes: a schema's relations; a database's size (on the
// catalog's server); a pool tenant's rows in each pool table times the table's bytes per row.
func (c *Client) measureStorage(ctx context.Context, us []TenantUsage) error {
	schemas, err := catalog.SchemaSizes(ctx, c.owner)
	if err != nil {
		return err
	}
	pools := map[string]map[int64]int64{} // pool schema -> tenant id -> bytes
	for i := range us {
		t, err := c.TenantGet(ctx, us[i].Tenant)
		if err != nil || t.Placement.Schema == "" {
			continue
		}
		switch {
		case t.Tier == TierPool:
			sizes, ok := pools[t.Placement.Schema]
			if !ok {
				if sizes, err = c.poolShares(ctx, t.Placement.Schema); err != nil {
					return err
				}
				pools[t.Placement.Schema] = sizes
			}
			us[i].StorageBytes = sizes[t.ID]
		case t.Tier == TierDatabase:
			if t.Placement.Server != "" {
				continue // another server: not measured
			}
			if us[i].StorageBytes, err = catalog.DatabaseSize(ctx, c.owner, t.Placement.Database); err != nil {
				return err
			}
		default:
			us[i].StorageBytes = schemas[t.Placement.Schema]
		}
	}
	return nil
}

// poolShares estimates each tenant's bytes in pool schema: its rows in each table times the
// table's size over PostgreSQL's estimate of its rows.
func (c *Client) poolShares(ctx context.Context, schema string) (map[int64]int64, error) {
	tables, err := catalog.PoolTables(ctx, c.owner, schema)
	if err != nil {
		return nil, err
	}
	out := map[int64]int64{}
	for _, tb := range tables {
		counts, err := catalog.PoolTableRows(ctx, c.owner, schema, tb.Name)
		if err != nil {
			return nil, err
		}
		var total int64
		for _, n := range counts {
			total += n
		}
		for id, n := range counts {
			out[id] += tb.Bytes * n / max(total, 1)
		}
	}
	return out, nil
}
