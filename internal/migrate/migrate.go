package migrate

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// Errors of Apply and Verify, wrapped with the migration they are about.
var (
	// ErrChecksum reports a migration whose file changed after it was applied.
	ErrChecksum = errors.New("migration file changed after it was applied")
	// ErrMissing reports an applied migration that no file has any more.
	ErrMissing = errors.New("applied migration has no file")
	// ErrOutOfOrder reports a migration file older than the applied version that was never applied
	// (a branch merged late): renumber it above the latest version.
	ErrOutOfOrder = errors.New("migration is older than the applied version but was never applied")
)

// Apply applies, inside tx, every migration above the placement's current version up to target
// (0: all), with search_path set to searchPath for the transaction. Each migration's SQL is sent
// as top-level statements (the simple protocol), and its ledger row and the placement's version
// are written in the same transaction, so DDL and ledger never disagree. It returns the new version.
//
// A NO TRANSACTION migration is run here statement by statement inside tx, which is what a new
// placement (tenant creation, the shape schema) needs; its CONCURRENTLY index statements run in
// their plain form (see inTxForm). The fleet runner runs them outside a transaction.
func Apply(ctx context.Context, tx pgx.Tx, placementID int64, searchPath string, migs []Migration, target int64) (int64, error) {
	v, _, err := apply(ctx, tx, placementID, searchPath, migs, target, false)
	return v, err
}

// apply is Apply; with stopAtNoTx it stops before the first NO TRANSACTION migration and returns it.
func apply(ctx context.Context, tx pgx.Tx, placementID int64, searchPath string, migs []Migration, target int64, stopAtNoTx bool) (int64, *Migration, error) {
	return applyLine(ctx, tx, placementID, searchPath, "", migs, target, stopAtNoTx)
}

// applyLine is apply on one line of the placement ("" its main line; see Line).
func applyLine(ctx context.Context, tx pgx.Tx, placementID int64, searchPath, line string, migs []Migration, target int64, stopAtNoTx bool) (int64, *Migration, error) {
	current, citus, err := lineVersion(ctx, tx, placementID, line)
	if err != nil {
		return 0, nil, fmt.Errorf("read placement version: %w", err)
	}
	if err := verifyLine(ctx, tx, placementID, line, current, migs); err != nil {
		return current, nil, err
	}
	pathSet := false
	for i := range migs {
		m := &migs[i]
		if m.Version <= current || (target > 0 && m.Version > target) {
			continue
		}
		if m.NoTx && stopAtNoTx {
			return current, m, nil
		}
		if !pathSet {
			if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, searchPath); err != nil {
				return current, nil, err
			}
			pathSet = true
		}
		start := time.Now()
		if m.NoTx {
			for _, s := range m.Statements {
				if _, err := tx.Exec(ctx, inTxForm(s), pgx.QueryExecModeSimpleProtocol); err != nil {
					return current, nil, fmt.Errorf("migration %s: %w", m.label(), err)
				}
			}
		} else if err := execUp(ctx, tx, m.Up, citus); err != nil {
			return current, nil, fmt.Errorf("migration %s: %w", m.label(), err)
		}
		if citus {
			if err := checkDistributed(ctx, tx); err != nil {
				return current, nil, fmt.Errorf("migration %s: %w", m.label(), err)
			}
		}
		if err := recordLine(ctx, tx, placementID, line, m, time.Since(start)); err != nil {
			return current, nil, err
		}
		current = m.Version
	}
	return current, nil, nil
}

// recordSQL writes a migration's ledger row and the placement's new version.
const recordSQL = `
	WITH l AS (INSERT INTO tenancy.migrations (placement_id, version, name, checksum, duration_ms)
	           VALUES ($1, $2, $3, $4, $5))
	UPDATE tenancy.placements SET version = $2 WHERE id = $1`

func record(ctx context.Context, tx pgx.Tx, placementID int64, m *Migration, took time.Duration) error {
	_, err := tx.Exec(ctx, recordSQL, placementID, m.Version, m.Name, m.Checksum, float64(took.Microseconds())/1000)
	if err != nil {
		return fmt.Errorf("record migration %s: %w", m.label(), err)
	}
	return nil
}

// queueRecord queues record's statement in b.
func queueRecord(b *pgx.Batch, placementID int64, m *Migration, took time.Duration) {
	b.Queue(recordSQL, placementID, m.Version, m.Name, m.Checksum, float64(took.Microseconds())/1000)
}

func (m *Migration) label() string { return fmt.Sprintf("%d_%s", m.Version, m.Name) }

// Verify refuses to go on when the ledger of a placement at version current and the files
// disagree: an applied migration whose file changed (ErrChecksum) or vanished (ErrMissing), or a
// file below current that was never applied (ErrOutOfOrder).
func Verify(ctx context.Context, tx pgx.Tx, placementID, current int64, migs []Migration) error {
	return verifyLine(ctx, tx, placementID, "", current, migs)
}

func verifyLine(ctx context.Context, tx pgx.Tx, placementID int64, line string, current int64, migs []Migration) error {
	rows, err := tx.Query(ctx, `SELECT version, checksum FROM tenancy.migrations WHERE placement_id = $1 AND line = $2`, placementID, line)
	if err != nil {
		return err
	}
	applied := map[int64]string{}
	var v int64
	var sum string
	_, err = pgx.ForEachRow(rows, []any{&v, &sum}, func() error { applied[v] = sum; return nil })
	if err != nil {
		return err
	}
	return verifyLedger(applied, current, migs)
}

// verifyLedger is Verify on a placement's ledger read already (version -> checksum); it empties
// applied.
func verifyLedger(applied map[int64]string, current int64, migs []Migration) error {
	for _, m := range migs {
		sum, ok := applied[m.Version]
		switch {
		case ok && sum != m.Checksum:
			return fmt.Errorf("%w: %s (restore the applied text, and put the change in a new migration)", ErrChecksum, m.File)
		case !ok && m.Version <= current:
			return fmt.Errorf("%w: %s (the placement is at %d)", ErrOutOfOrder, m.File, current)
		}
		delete(applied, m.Version)
	}
	for v := range applied {
		return fmt.Errorf("%w: version %d", ErrMissing, v)
	}
	return nil
}

var concurrently = regexp.MustCompile(`(?is)^((?:\s*--[^\n]*\n)*\s*(?:CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX\s+(?:\(.*?\)\s*)?(?:INDEX|TABLE|SCHEMA))\s+)CONCURRENTLY\s+`)

// inTxForm drops CONCURRENTLY from an index statement, which PostgreSQL refuses inside a
// transaction block. Apply uses it for new placements and the shape schema, whose tables hold no
// rows, so the plain form locks nothing anyone waits for. (Install also applies the shared line
// this way; Migrate applies it outside a transaction, which is what a big shared table wants.)
func inTxForm(stmt string) string {
	return concurrently.ReplaceAllString(stmt, "$1")
}
