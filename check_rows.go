package tenancy

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// checkForeignRows reports rows of a dedicated placement (schema or database tier) tagged with
// another tenant's id than its own, t's (placement.ForeignRows).
func (c *Client) checkForeignRows(ctx context.Context, p *checkPlacement, t *checkTenant, add func(*checkTenant, string, string, bool)) {
	counts, err := c.env.ForeignRows(ctx, p.placement(), t.id)
	if err != nil {
		add(t, ProblemUnreachable, fmt.Sprintf("the rows of %s could not be inspected: %v", checkLabel(p), err), false)
		return
	}
	if len(counts) == 0 {
		return
	}
	var parts []string
	for table, n := range counts {
		parts = append(parts, fmt.Sprintf("%s (%d)", table, n))
	}
	sort.Strings(parts)
	add(t, ProblemForeignRows, fmt.Sprintf("%s holds rows tagged with another tenant's id in %s", checkLabel(p), strings.Join(parts, ", ")), false)
}
