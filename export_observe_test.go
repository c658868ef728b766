package tenancy

// WithObserver returns a copy of c that reports to o: the cost of an Observer, measured side by
// side (BenchmarkBoundRead).
func WithObserver(c *Client, o Observer) *Client {
	return &Client{app: c.app, owner: c.owner, appRole: c.appRole, shared: c.shared, logger: c.logger,
		conns: c.conns, env: c.env, defaultLimits: c.defaultLimits, busyWait: c.busyWait,
		appGate: c.appGate, otherGate: c.otherGate, usage: c.usage, noReset: c.noReset, obs: o}
}
