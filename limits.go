package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/fair"
)

// Noisy neighbours (docs/noisy-neighbours.md): a tenant's limits bound what its transactions may
// cost the others. Timeouts travel in the binding statement (transaction-local, so they end with
// the transaction); the cap on concurrent bound calls, and the fair sharing of the application
// pool among tenants when it is saturated, are enforced in this process by a gate in front of
// the pool (internal/fair). None of it adds a query or a round trip to the bound path.

// Limits bound one tenant's use of the database. The zero value sets none.
type Limits struct {
	// StatementTimeout cancels any statement of the tenant's that runs longer (SQLSTATE 57014).
	StatementTimeout time.Duration
	// IdleInTransactionTimeout ends the session of a transaction of the tenant's left idle this
	// long (SQLSTATE 25P03): a handler that holds a transaction open holds a connection.
	IdleInTransactionTimeout time.Duration
	// MaxConcurrent caps the tenant's bound transactions and one-shot calls in flight at once in
	// this process; a call beyond it waits up to Config.BusyWait, then fails with ErrTenantBusy.
	MaxConcurrent int
}

// BusyWaitDefault is how long a call waits for its tenant to go below Limits.MaxConcurrent
// unless Config.BusyWait says otherwise.
const BusyWaitDefault = 100 * time.Millisecond

// IsZero reports whether l sets no limit.
func (l Limits) IsZero() bool { return l == Limits{} }

// Validate reports the first value that is negative, or a timeout finer or larger than
// PostgreSQL's (whole milliseconds up to 2^31-1).
func (l Limits) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"StatementTimeout", l.StatementTimeout}, {"IdleInTransactionTimeout", l.IdleInTransactionTimeout}} {
		switch {
		case d.v < 0:
			return fmt.Errorf("%w: %s %s is negative", ErrInvalidLimits, d.name, d.v)
		case d.v%time.Millisecond != 0:
			return fmt.Errorf("%w: %s %s is not a whole number of milliseconds", ErrInvalidLimits, d.name, d.v)
		case d.v > (1<<31-1)*time.Millisecond:
			return fmt.Errorf("%w: %s %s is longer than PostgreSQL allows (about 24 days)", ErrInvalidLimits, d.name, d.v)
		}
	}
	if l.MaxConcurrent < 0 {
		return fmt.Errorf("%w: MaxConcurrent %d is negative", ErrInvalidLimits, l.MaxConcurrent)
	}
	return nil
}

// limitsJSON is Limits in JSON: durations as Go duration strings ("2s"), omitted when zero.
type limitsJSON struct {
	StatementTimeout         string `json:"statement_timeout,omitempty"`
	IdleInTransactionTimeout string `json:"idle_in_transaction_timeout,omitempty"`
	MaxConcurrent            int    `json:"max_concurrent,omitempty"`
}

func durString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// MarshalJSON writes durations as strings ("1.5s").
func (l Limits) MarshalJSON() ([]byte, error) {
	return json.Marshal(limitsJSON{durString(l.StatementTimeout), durString(l.IdleInTransactionTimeout), l.MaxConcurrent})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (l *Limits) UnmarshalJSON(b []byte) error {
	var j limitsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var out Limits
	var err error
	if j.StatementTimeout != "" {
		if out.StatementTimeout, err = time.ParseDuration(j.StatementTimeout); err != nil {
			return err
		}
	}
	if j.IdleInTransactionTimeout != "" {
		if out.IdleInTransactionTimeout, err = time.ParseDuration(j.IdleInTransactionTimeout); err != nil {
			return err
		}
	}
	out.MaxConcurrent = j.MaxConcurrent
	*l = out
	return nil
}

// catalogLimits is the catalog's column (tenancy.tenants.limits): milliseconds.
type catalogLimits struct {
	StatementTimeoutMS int64 `json:"statement_timeout_ms,omitempty"`
	IdleTimeoutMS      int64 `json:"idle_in_transaction_timeout_ms,omitempty"`
	MaxConcurrent      int   `json:"max_concurrent,omitempty"`
}

func limitsFromCatalog(b []byte) Limits {
	var cl catalogLimits
	if len(b) == 0 || json.Unmarshal(b, &cl) != nil {
		return Limits{}
	}
	return Limits{
		StatementTimeout:         time.Duration(cl.StatementTimeoutMS) * time.Millisecond,
		IdleInTransactionTimeout: time.Duration(cl.IdleTimeoutMS) * time.Millisecond,
		MaxConcurrent:            cl.MaxConcurrent,
	}
}

// TenantSetLimits sets the limits of tenant slug; nil or the zero Limits clear them, so that
// Config.DefaultLimits apply. Every client sees the change once its cache has the notice (as for
// any catalog change); a transaction under way keeps the limits it started with.
func (c *Client) TenantSetLimits(ctx context.Context, slug string, l *Limits) (*Tenant, error) {
	if err := ValidateSlug(slug); err != nil {
		return nil, err
	}
	var raw []byte
	if l != nil && !l.IsZero() {
		if err := l.Validate(); err != nil {
			return nil, err
		}
		raw, _ = json.Marshal(catalogLimits{l.StatementTimeout.Milliseconds(), l.IdleInTransactionTimeout.Milliseconds(), l.MaxConcurrent})
	}
	owner, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	ok, err := catalog.TenantSetLimits(ctx, owner, slug, raw)
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, slug)
	}
	if !ok {
		return nil, tenantErr(ErrTenantNotFound, slug)
	}
	return c.TenantGet(ctx, slug)
}

// EffectiveLimits returns the limits that apply to t: its own, or Config.DefaultLimits when it
// has none.
func (c *Client) EffectiveLimits(t *Tenant) Limits {
	if t.Limits.IsZero() {
		return c.defaultLimits
	}
	return t.Limits
}

// bindLimitsSQL is the binding statement that also sets the tenant's timeouts: the same SELECT
// with two more set_config calls in its second column (check scans two). A NULL argument keeps
// the connection's own value. base is bindSQL or bindPoolSQL; n is the first free parameter.
func bindLimitsSQL(base string, n int) string {
	const tenantCol = `set_config('tenancy.tenant_id', $2, true)`
	col := fmt.Sprintf(`%s || set_config('statement_timeout', coalesce($%d, current_setting('statement_timeout')), true)`+
		` || set_config('idle_in_transaction_session_timeout', coalesce($%d, current_setting('idle_in_transaction_session_timeout')), true)`,
		tenantCol, n, n+1)
	for i := 0; i+len(tenantCol) <= len(base); i++ {
		if base[i:i+len(tenantCol)] == tenantCol {
			return base[:i] + col + base[i+len(tenantCol):]
		}
	}
	panic("tenancy: the binding statement has no tenancy.tenant_id")
}

var (
	bindLimitsPlainSQL = bindLimitsSQL(bindSQL, 5)
	bindLimitsPoolSQL  = bindLimitsSQL(bindPoolSQL, 6)
)

// addTimeouts makes b set l's timeouts too, when l has any.
func (b *binding) addTimeouts(l Limits) {
	if l.StatementTimeout == 0 && l.IdleInTransactionTimeout == 0 {
		return
	}
	ms := func(d time.Duration) any {
		if d == 0 {
			return nil
		}
		return strconv.FormatInt(d.Milliseconds(), 10)
	}
	if b.sql == bindPoolSQL {
		b.sql = bindLimitsPoolSQL
	} else {
		b.sql = bindLimitsPlainSQL
	}
	b.args = append(b.args, ms(l.StatementTimeout), ms(l.IdleInTransactionTimeout))
}

// admission is one bound call let through the gate; nil when no gate applies.
type admission struct {
	c     *Client
	gate  *fair.Gate
	id    int64
	start time.Time
	use   *usageCounters
}

// admit lets a bound call of t through the gate of its pool (the application pool's is shared
// fairly among tenants; every pool's enforces Limits.MaxConcurrent).
func (c *Client) admit(ctx context.Context, t *Tenant, l Limits) (*admission, error) {
	if c.noAdmit {
		return nil, nil
	}
	gate := c.otherGate
	if t.Tier != TierDatabase && t.Placement.Server == "" {
		gate = c.appGate
	}
	if gate == c.otherGate && l.MaxConcurrent == 0 {
		gate = nil // nothing to enforce
	}
	u := c.usage.of(t.ID)
	if gate != nil {
		if err := gate.Acquire(ctx, t.ID, l.MaxConcurrent, c.busyWait); err != nil {
			if errors.Is(err, fair.ErrBusy) {
				u.busy.Add(1)
				return nil, fmt.Errorf("%w: %s has %d bound calls in flight", ErrTenantBusy, t.Slug, l.MaxConcurrent)
			}
			return nil, err
		}
	}
	return &admission{c: c, gate: gate, id: t.ID, start: time.Now(), use: u}, nil
}

// done ends the call: the slot goes back and the usage is counted.
func (a *admission) done(err error) {
	if a == nil {
		return
	}
	if a.gate != nil {
		a.gate.Release(a.id)
	}
	a.use.transactions.Add(1)
	a.use.statementNanos.Add(int64(time.Since(a.start)))
	if err != nil && !errors.Is(err, ErrTenantMoving) {
		a.use.errors.Add(1)
		if isTimeout(err) {
			a.use.timeouts.Add(1)
		}
	}
	a.c.usage.started()
}

// isTimeout reports a statement timeout or an idle-in-transaction timeout.
func isTimeout(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "25P03" || pgErr.Code == "57014" && pgErr.Message == "canceling statement due to statement timeout"
}
