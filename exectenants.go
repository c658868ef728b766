package tenancy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
)

// ExecTenantsOpts select the tenants ExecTenants runs on: the listed slugs, or All active and
// suspended tenants.
type ExecTenantsOpts struct {
	Tenants     []string
	All         bool
	Concurrency int  // tenants at once; 0 = the application pool's size
	FailFast    bool // stop handing out tenants at the first failure
	// OnResult receives each tenant's outcome as it finishes, one at a time.
	OnResult func(*TenantRows)
}

// TenantRows is one tenant's outcome of ExecTenants: the rows of the last statement.
type TenantRows struct {
	Tenant   string
	Columns  []string
	Rows     [][]any // decoded with the connection's type map; NULL is nil
	Command  string  // the last statement's command tag ("SELECT 3", "UPDATE 1")
	Duration time.Duration
	Err      error
}

// ExecTenantsResult sums up ExecTenants.
type ExecTenantsResult struct {
	Succeeded int
	Failed    []*TenantError
	Duration  time.Duration
}

// ExecTenants runs sql (one or more statements) in a transaction bound to each selected tenant,
// as the application role (TxFor: the tenant's search_path and tenancy.tenant_id, RLS applies),
// opts.Concurrency tenants at once. The statements are sent as one simple-protocol query; the
// rows of the last one are reported per tenant. A tenant whose statement fails is rolled back and
// reported; the others go on (unless FailFast), and the error is then a *PartialError.
func (c *Client) ExecTenants(ctx context.Context, sql string, opts *ExecTenantsOpts) (*ExecTenantsResult, error) {
	if opts == nil || (!opts.All && len(opts.Tenants) == 0) {
		return nil, errors.New("tenancy: ExecTenants needs tenants (ExecTenantsOpts.Tenants or All)")
	}
	if opts.All && len(opts.Tenants) > 0 {
		return nil, errors.New("tenancy: ExecTenantsOpts.Tenants and All exclude each other")
	}
	start := time.Now()
	var named []*Tenant
	for _, s := range opts.Tenants {
		t, err := c.TenantGet(ctx, s)
		if err != nil {
			return nil, err
		}
		if _, err := c.bindingFor(t); err != nil {
			return nil, err
		}
		named = append(named, t)
	}
	conc := opts.Concurrency
	if conc <= 0 {
		conc = int(c.app.Config().MaxConns)
	}
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	res := &ExecTenantsResult{}
	var mu sync.Mutex
	work := make(chan *Tenant)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				tr := c.execOne(ctx, t, sql)
				mu.Lock()
				if tr.Err != nil {
					res.Failed = append(res.Failed, &TenantError{Tenant: t.Slug, Schema: t.Placement.Schema, Version: t.Version, Err: tr.Err})
					if opts.FailFast {
						cancel()
					}
				} else {
					res.Succeeded++
				}
				if opts.OnResult != nil {
					opts.OnResult(tr)
				}
				mu.Unlock()
			}
		}()
	}
	feed := func(t *Tenant) bool {
		select {
		case work <- t:
			return true
		case <-stop.Done():
			return false
		}
	}
	var ferr error
	if opts.All {
		ferr = c.eachServableTenant(stop, feed)
	} else {
		for _, t := range named {
			if !feed(t) {
				break
			}
		}
	}
	close(work)
	wg.Wait()
	res.Duration = time.Since(start)
	err := ctx.Err()
	if err == nil && opts.FailFast && len(res.Failed) > 0 {
		err = ErrStopped
	}
	if err == nil && stop.Err() == nil {
		err = ferr
	}
	if err != nil || len(res.Failed) > 0 {
		return res, &PartialError{Applied: res.Succeeded, Failed: res.Failed, Err: err}
	}
	return res, nil
}

// eachServableTenant hands every active or suspended tenant to fn, in id order, a page at a time.
func (c *Client) eachServableTenant(ctx context.Context, fn func(*Tenant) bool) error {
	var after int64
	for {
		page, err := catalog.TenantsServable(ctx, c.app, after, 500)
		if err != nil {
			return notFoundOr(err, ErrTenantNotFound, "")
		}
		for _, t := range page {
			after = t.ID
			if !fn(tenantOf(t)) {
				return nil
			}
		}
		if len(page) < 500 {
			return nil
		}
	}
}

func (c *Client) execOne(ctx context.Context, t *Tenant, sql string) *TenantRows {
	tr := &TenantRows{Tenant: t.Slug}
	start := time.Now()
	tr.Err = c.TxFor(ctx, t, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		// The simple protocol runs every statement at top level and returns each one's result.
		results, err := tx.Conn().PgConn().Exec(ctx, sql).ReadAll()
		if err != nil {
			return err
		}
		if len(results) == 0 {
			return nil
		}
		last := results[len(results)-1]
		if last.Err != nil {
			return last.Err
		}
		tr.Command = last.CommandTag.String()
		m := tx.Conn().TypeMap()
		tr.Columns = make([]string, len(last.FieldDescriptions))
		for i, fd := range last.FieldDescriptions {
			tr.Columns[i] = fd.Name
		}
		tr.Rows = make([][]any, 0, len(last.Rows))
		for _, raw := range last.Rows {
			row := make([]any, len(raw))
			for i, b := range raw {
				if b == nil {
					continue
				}
				fd := last.FieldDescriptions[i]
				if typ, ok := m.TypeForOID(fd.DataTypeOID); ok {
					v, err := typ.Codec.DecodeValue(m, fd.DataTypeOID, fd.Format, b)
					if err != nil {
						return fmt.Errorf("column %s: %w", fd.Name, err)
					}
					row[i] = v
				} else {
					row[i] = string(b)
				}
			}
			tr.Rows = append(tr.Rows, row)
		}
		return nil
	})
	if tr.Err != nil {
		tr.Err = fmt.Errorf("%s: %w", t.Slug, tr.Err)
		tr.Columns, tr.Rows = nil, nil
	}
	tr.Duration = time.Since(start)
	return tr
}
