package tenancyriver

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tenancy-go/tenancy"
)

// ErrEnqueueAfterCommit reports jobs of a tenant outside the queue's database that could not be
// enqueued after its transaction committed: the tenant's changes are in, the jobs are not.
var ErrEnqueueAfterCommit = errors.New("tenancyriver: the tenant's transaction committed, its jobs were not enqueued")

// Queue enqueues jobs from inside Tx: they are inserted if and only if the transaction commits.
type Queue struct {
	river  *river.Client[pgx.Tx]
	tx     pgx.Tx
	inline bool // the tenant lives in the queue's database: insert in its transaction
	later  []river.InsertManyParams
}

// Insert enqueues a job for the transaction's tenant (Middleware records it in the job). For a
// tenant in the queue's database the job is inserted in the transaction now; otherwise it is
// inserted after the transaction commits (see the package documentation).
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if !q.inline {
		q.later = append(q.later, river.InsertManyParams{Args: args, InsertOpts: opts})
		return nil
	}
	_, err := q.river.InsertTx(ctx, q.tx, args, opts)
	return err
}

// InQueueDatabase reports whether t lives in the queue's database, the catalog's: a pool-tier
// tenant, or a schema-tier tenant on the catalog's own server. Their jobs are inserted in their
// own transactions.
func InQueueDatabase(t *tenancy.Tenant) bool {
	return t.Tier != tenancy.TierDatabase && t.Placement.Server == ""
}

// Tx runs fn in a transaction bound to the tenant in ctx (tenancy.Client.Tx) with a Queue whose
// jobs commit with it. rc must be a River client on the application pool of the catalog's
// database, where River's tables are (SharedMigrations), with Middleware installed.
func Tx(ctx context.Context, tc *tenancy.Client, rc *river.Client[pgx.Tx], fn func(ctx context.Context, tx pgx.Tx, q *Queue) error) error {
	t, ok := tenancy.FromContext(ctx)
	if !ok {
		return tenancy.ErrNoTenant
	}
	var q *Queue
	err := tc.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		q = &Queue{river: rc, tx: tx, inline: InQueueDatabase(t)} // anew on a retried transaction
		return fn(ctx, tx, q)
	})
	if err != nil || len(q.later) == 0 {
		return err
	}
	if _, err := rc.InsertMany(ctx, q.later); err != nil {
		return fmt.Errorf("%w (%d jobs of tenant %s): %w", ErrEnqueueAfterCommit, len(q.later), t.Slug, err)
	}
	return nil
}
