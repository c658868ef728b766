package tenancy

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/crash"
)

// crash is called at each crash point (the table is internal/crash), with the open transaction
// if there is one. Tests set Client.testHook to simulate a crash there (export_test.go); in
// production it does nothing.
func (c *Client) crash(ctx context.Context, step string, tx pgx.Tx) error {
	return crash.At(ctx, c.testHook, step, tx)
}
