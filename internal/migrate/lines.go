package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// A placement carries its main line (the shared line, or the common tenant line) and, beside it,
// the lines of its tenants' type and, for a schema or database placement, its tenant's own
// ("custom") line. Each line has its own versions: the ledger names the line of every row
// (tenancy.migrations.line, "" for the main one), and placements.lines holds each other line's
// version, so that the fleet's plan stays one query.

// LineCustom is the ledger's name of a tenant's own line.
const LineCustom = "custom"

// LineType is the ledger's name of tenant type typ's line.
func LineType(typ string) string { return "type:" + typ }

// Line is one line beside a placement's main one, applied after it.
type Line struct {
	Name string // LineType(...) or LineCustom
	Migs []Migration
}

// ApplyLines applies every line in order to its latest version, inside tx (as Apply does).
func ApplyLines(ctx context.Context, tx pgx.Tx, placementID int64, searchPath string, lines []Line) error {
	for _, l := range lines {
		if _, _, err := applyLine(ctx, tx, placementID, searchPath, l.Name, l.Migs, 0, false); err != nil {
			return fmt.Errorf("%s line: %w", l.Name, err)
		}
	}
	return nil
}

// lineVersion reads (and locks) the placement's version of line.
func lineVersion(ctx context.Context, tx pgx.Tx, placementID int64, line string) (int64, error) {
	var v int64
	if line == "" {
		err := tx.QueryRow(ctx, `SELECT version FROM tenancy.placements WHERE id = $1 FOR UPDATE`, placementID).Scan(&v)
		return v, err
	}
	err := tx.QueryRow(ctx, `SELECT coalesce((lines->>$2)::bigint, 0) FROM tenancy.placements WHERE id = $1 FOR UPDATE`, placementID, line).Scan(&v)
	return v, err
}

// recordLine writes m's ledger row on line and the placement's version of that line.
func recordLine(ctx context.Context, tx pgx.Tx, placementID int64, line string, m *Migration, took time.Duration) error {
	if line == "" {
		return record(ctx, tx, placementID, m, took)
	}
	_, err := tx.Exec(ctx, `
		WITH l AS (INSERT INTO tenancy.migrations (placement_id, line, version, name, checksum, duration_ms)
		           VALUES ($1, $2, $3, $4, $5, $6))
		UPDATE tenancy.placements SET lines = lines || jsonb_build_object($2::text, $3::bigint) WHERE id = $1`,
		placementID, line, m.Version, m.Name, m.Checksum, float64(took.Microseconds())/1000)
	if err != nil {
		return fmt.Errorf("record migration %s (%s): %w", m.label(), line, err)
	}
	return nil
}
