package tenancy

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/lockkey"
)

// The binding on a Citus coordinator (docs/citus.md, "The binding on Citus"). The plain binding's
// set_config stays on the coordinator: a worker running a shard query sees no tenant, and row-level
// security there shows nothing and refuses every write. Citus carries a setting to the workers
// only as a SET LOCAL statement, run inside a transaction block, with
// citus.propagate_set_commands = local. So on Citus a bound use is a transaction block:
//
//	one-shot: BEGIN, bind_citus(...), the statement, unbind_citus(), COMMIT, the session reset
//	Tx:       BEGIN, bind_citus(...)  ...  unbind_citus(); COMMIT; the session reset
//
// still one round trip for a one-shot call and for BEGIN. tenancy.bind_citus (catalog migration
// 0009) builds the SET LOCAL statements from its arguments, so every tenant's binding is the same
// statement text (pgx prepares and caches one, not one per tenant), and raises SQLSTATE TMOVE
// where the plain binding returns no row (the fence, the pool check): SET LOCAL is unconditional,
// so the fence must stop the batch before the statement runs. tenancy.unbind_citus resets the
// worker connections that Citus keeps for the coordinator backend's next user.

const (
	bindCitusSQL   = `SELECT tenancy.bind_citus($1::text[], $2::text, $3::int4, $4::int4, $5::bigint, $6::text, $7::text)`
	unbindCitusSQL = `SELECT tenancy.unbind_citus()`
	// citusFenced is bind_citus's SQLSTATE for a fenced tenant.
	citusFenced = "TMOVE"
)

// Server kinds as the binding caches them.
const (
	kindUnknown int32 = iota
	kindPlain
	kindCitus
)

// citusVariant switches a part of the Citus binding off, in tests only: what it protects from.
type citusVariant uint8

const (
	citusFull         citusVariant = iota
	citusPlainBinding              // bind as on a plain server (set_config)
	citusNoUnbind                  // no unbind_citus: the coordinator's reset only
)

// serverKinds caches whether each server is a Citus coordinator. It is a property of the
// database (its citus extension), read once per client on the application role's own connection,
// so that read-only clients (no owner pool) know it too.
type serverKinds struct {
	catalog atomic.Int32 // the catalog's own server
	others  sync.Map     // server name -> bool
}

// onCitus reports whether t's placement is on a Citus coordinator, reading it on conn (a
// connection to the placement's database) the first time. For the catalog's own server, once
// known, it costs an atomic load: the plain binding's hot path (issue 15) pays nothing more.
func (c *Client) onCitus(ctx context.Context, conn *pgx.Conn, t *Tenant) (bool, error) {
	if t.Tier == TierDatabase || c.citusVariant == citusPlainBinding {
		// A tenant database is never in a Citus cluster: the tier is refused there.
		return false, nil
	}
	server := t.Placement.Server
	if server == "" {
		switch c.kinds.catalog.Load() {
		case kindPlain:
			return false, nil
		case kindCitus:
			return true, nil
		}
	} else if v, ok := c.kinds.others.Load(server); ok {
		return v.(bool), nil
	}
	kind, err := catalog.ServerKind(ctx, conn)
	if err != nil {
		return false, err
	}
	citus := kind == catalog.ServerKindCitus
	if server == "" {
		k := kindPlain
		if citus {
			k = kindCitus
		}
		c.kinds.catalog.Store(k)
	} else {
		c.kinds.others.Store(server, citus)
	}
	return citus, nil
}

// citusArgs are bind_citus's arguments for b.
func (b *binding) citusArgs(shared string) []any {
	var pool any
	if b.poolID != 0 {
		pool = b.poolID
	}
	return []any{[]string{b.schema, shared, "pg_temp"}, b.tenantID, lockkey.Fence, lockkey.Tenant(b.id),
		pool, msArg(b.limits.StatementTimeout), msArg(b.limits.IdleInTransactionTimeout)}
}

// msArg is a timeout as PostgreSQL reads it, or NULL (the connection's own value) when zero.
func msArg(d time.Duration) any {
	if d == 0 {
		return nil
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// citusBatch is a one-shot use on Citus: [BEGIN, bind, statement, unbind, COMMIT, reset], one
// Sync. The reset follows the COMMIT, so nothing re-binds for deferred triggers as rebindSQL
// does on plain servers: they ran at the COMMIT, under unbind_citus's binding.
func (c *Client) citusBatch(conn *pgx.Conn, b *binding, sql string, args []any) *pgx.Batch {
	batch := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 6+len(resetSQL))}
	batch.Queue("BEGIN")
	batch.Queue(bindCitusSQL, b.citusArgs(c.shared)...)
	batch.Queue(tenantSQL(conn, b, sql, args), args...)
	if !c.noReset && c.citusVariant != citusNoUnbind {
		batch.Queue(unbindCitusSQL)
	}
	batch.Queue("COMMIT")
	if !c.noReset {
		for _, r := range resetSQL {
			batch.Queue(r)
		}
		batch.Queue(unlockSQL)
	}
	return batch
}

// checkCitus reads the results of BEGIN and of bind_citus.
func (b *binding) checkCitus(br pgx.BatchResults) error {
	if _, err := br.Exec(); err != nil {
		return err
	}
	_, err := br.Exec()
	return citusBindErr(err, b.slug)
}

// citusBindErr reports bind_citus's refusal as ErrTenantMoving.
func citusBindErr(err error, slug string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == citusFenced {
		return tenantErr(ErrTenantMoving, slug)
	}
	return err
}

// citusCommit puts unbind_citus in front of a Tx's commit message (txOptions).
func (c *Client) citusCommit(opts pgx.TxOptions) pgx.TxOptions {
	if !c.noReset && c.citusVariant != citusNoUnbind {
		opts.CommitQuery = unbindCitusSQL + "; " + opts.CommitQuery
	}
	return opts
}

// abortCitus ends a failed use on Citus: its batch stopped inside the transaction block it
// opened, which the pool would destroy the connection for. The rollback undoes every session
// change of the transaction, on the workers too; only session advisory locks outlive it.
func (c *Client) abortCitus(ctx context.Context, conn *pgx.Conn) {
	if conn.IsClosed() {
		return
	}
	if s := conn.PgConn().TxStatus(); s != 'E' && s != 'T' {
		c.unlock(ctx, conn)
		return
	}
	sql := "ROLLBACK"
	if !c.noReset {
		sql += "; " + unlockSQL
	}
	_, _ = conn.Exec(ctx, sql)
}
