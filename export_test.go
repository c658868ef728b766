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
		conns: c.conns, env: c.env, defaultLimits: c.defaultLimits, busyWait: c.busyWait,
		appGate: c.appGate, otherGate: c.otherGate, usage: c.usage, noReset: true}
	return cp
}

// WithoutAdmission returns a copy of c that sends bound calls straight to the pool, as before
// limits.go: no gate, no usage counts. The cost of the noisy-neighbour machinery, side by side.
func WithoutAdmission(c *Client) *Client {
	cp := &Client{app: c.app, owner: c.owner, appRole: c.appRole, shared: c.shared, logger: c.logger,
		conns: c.conns, env: c.env, usage: c.usage, noAdmit: true}
	return cp
}
