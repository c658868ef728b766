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
	cp := testCopy(c)
	cp.noReset = true
	return cp
}

// WithoutAdmission returns a copy of c that sends bound calls straight to the pool, as before
// limits.go: no gate, no usage counts. The cost of the noisy-neighbour machinery, side by side.
func WithoutAdmission(c *Client) *Client {
	cp := testCopy(c)
	cp.noAdmit = true
	return cp
}

// BindingVariant is a binding idea switched off (bind.go, plans.go), to measure it side by side.
type BindingVariant struct {
	SharedPlans bool // schema-tier one-shot statements share one text (no per-tenant plans)
	NoPoolCheck bool // the pool tier's binding skips its catalog check
}

// WithBindingVariant returns a copy of c that binds as v says.
func WithBindingVariant(c *Client, v BindingVariant) *Client {
	cp := testCopy(c)
	cp.noOwnPlans, cp.noPoolCheck = v.SharedPlans, v.NoPoolCheck
	return cp
}

// testCopy copies what binding needs of c (not its sync.Once): the variants above change one
// field of the copy, so that every other part of the binding path stays as in c.
func testCopy(c *Client) *Client {
	return &Client{app: c.app, owner: c.owner, appRole: c.appRole, shared: c.shared, logger: c.logger,
		obs: c.obs, recycle: c.recycle, sharedMigs: c.sharedMigs, tenantMigs: c.tenantMigs,
		reservedHosts: c.reservedHosts, serverPW: c.serverPW, conns: c.conns, env: c.env,
		defaultLimits: c.defaultLimits, busyWait: c.busyWait, appGate: c.appGate,
		otherGate: c.otherGate, usage: c.usage, testHook: c.testHook, noReset: c.noReset,
		noAdmit: c.noAdmit, noOwnPlans: c.noOwnPlans, noPoolCheck: c.noPoolCheck}
}
