package tenancy

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// crashPoint is called between the steps of provisioning and hard deletion ("created", "schema",
// "migrated", "granted", "deleting", "dropped"), with the open transaction if there is one. Tests
// set Client.testHook to simulate a crash there (export_test.go); in production it does nothing.
func (c *Client) crashPoint(ctx context.Context, step string, tx pgx.Tx) error {
	if c.testHook == nil {
		return nil
	}
	return c.testHook(ctx, step, tx)
}
