package tenancy

// WithObserver returns a copy of c that reports to o: the cost of an Observer, measured side by
// side (BenchmarkBoundRead).
func WithObserver(c *Client, o Observer) *Client {
	cp := testCopy(c)
	cp.obs = o
	return cp
}
