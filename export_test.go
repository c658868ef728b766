package tenancy

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SetTestHook makes c call fn at each crash point of provisioning and hard deletion (see
// Client.crash, internal/crash). An error from fn aborts the operation there, as a crash would.
func SetTestHook(c *Client, fn func(ctx context.Context, step string, tx pgx.Tx) error) {
	c.testHook = fn
}

// BindSQL is the statement that binds one-shot queries (for benchmarks preparing it).
const BindSQL = bindSQL

// WithoutSessionReset returns a copy of c whose connections are not reset after use (bind.go,
// resetSQL): the cost of the reset, measured side by side.
func WithoutSessionReset(c *Client) *Client {
	cp := &Client{app: c.app, owner: c.owner, appRole: c.appRole, shared: c.shared, logger: c.logger,
		conns: c.conns, env: c.env, noReset: true}
	return cp
}

// WithBindingVariant returns a copy of c whose binding gives schema-tier tenants no statements
// of their own (ownPlans false; plans.go) or, with poolCheck false, skips the pool tier's
// catalog check (bindPoolSQL): the binding's ideas, measured side by side.
func WithBindingVariant(c *Client, ownPlans, poolCheck bool) *Client {
	return &Client{app: c.app, owner: c.owner, appRole: c.appRole, shared: c.shared, logger: c.logger,
		conns: c.conns, env: c.env, noOwnPlans: !ownPlans, noPoolCheck: !poolCheck}
}
