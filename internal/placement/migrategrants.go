package placement

import (
	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/migrate"
)

// QueueAfterApply is AfterApply for the fleet runner's batches (migrate.AfterApplyQueuer): for
// a tenant placement it queues GrantMissing's lookup in b, which carries the placement's ledger
// rows, and the returned func gives the GRANT statements to run after b ("" when none). The
// shape schema's check and a pool's steps (afterPool: few pools, and Citus to ask) are not
// queued (nil): the runner calls AfterApply for them.
func (e *Env) QueueAfterApply(b *pgx.Batch, t *migrate.Target) func() string {
	if t.Kind == migrate.KindShape || t.Kind == migrate.KindPool {
		return nil
	}
	var sql string
	b.Queue(missingGrantsSQL, t.Schema, e.AppRole).Query(func(rows pgx.Rows) error {
		var err error
		sql, err = grantsFor(rows, t.Schema, e.AppRole)
		return err
	})
	return func() string { return sql }
}

var _ migrate.AfterApplyQueuer = (*Env)(nil)
