package tenancy

// WithoutCitusBinding returns a copy of c that binds tenants on a Citus coordinator as on a plain
// server (set_config, no transaction block): what the workers see without citusbind.go.
func WithoutCitusBinding(c *Client) *Client {
	cp := testCopy(c)
	cp.citusVariant = citusPlainBinding
	return cp
}

// WithoutCitusUnbind returns a copy of c whose uses on Citus end without unbind_citus: the
// coordinator's session is reset, the workers' connections are not.
func WithoutCitusUnbind(c *Client) *Client {
	cp := testCopy(c)
	cp.citusVariant = citusNoUnbind
	return cp
}
