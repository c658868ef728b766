// Package migrate reads SQL migrations from an fs.FS and applies them to one placement, recording
// each in the catalog's ledger in the same transaction as its DDL.
package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Migration is one numbered step of a migration line.
type Migration struct {
	Version  int64
	Name     string
	Up       string
	Down     string // empty when there is no .down.sql
	Checksum string // sha256 of Up, hex
}

var fileName = regexp.MustCompile(`^(\d+)_([a-zA-Z0-9_-]+)\.(up|down)\.sql$`)

// Load reads NNNN_name.up.sql (and optional NNNN_name.down.sql) files from the root of fsys, in
// version order. Unknown files are refused, so that a typo does not silently skip a migration.
// A nil fsys is an empty line.
func Load(fsys fs.FS) ([]Migration, error) {
	if fsys == nil {
		return nil, nil
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	byVersion := map[int64]*Migration{}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %q: name must be NNNN_name.up.sql or NNNN_name.down.sql", e.Name())
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: version must be a positive number", e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Clean(e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migration %q: %w", e.Name(), err)
		}
		mig := byVersion[v]
		if mig == nil {
			mig = &Migration{Version: v, Name: m[2]}
			byVersion[v] = mig
		} else if mig.Name != m[2] {
			return nil, fmt.Errorf("migration version %d is used twice (%q and %q)", v, mig.Name, m[2])
		}
		if m[3] == "up" {
			if mig.Up != "" {
				return nil, fmt.Errorf("migration version %d has two up files", v)
			}
			mig.Up = string(body)
			if strings.TrimSpace(mig.Up) == "" {
				return nil, fmt.Errorf("migration %q is empty", e.Name())
			}
		} else {
			mig.Down = string(body)
		}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.Up == "" {
			return nil, fmt.Errorf("migration version %d (%s) has a down file but no up file", m.Version, m.Name)
		}
		sum := sha256.Sum256([]byte(m.Up))
		m.Checksum = hex.EncodeToString(sum[:])
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Latest is the version of the last migration, 0 for none.
func Latest(migs []Migration) int64 {
	if len(migs) == 0 {
		return 0
	}
	return migs[len(migs)-1].Version
}

// ErrChecksum reports a migration whose file changed after it was applied.
var ErrChecksum = errors.New("migration file changed after it was applied")

// Apply applies, inside tx, every migration above the placement's current version up to target
// (0: all), with search_path set to searchPath for the transaction. Each migration's SQL is sent
// as top-level statements (the simple protocol), and its ledger row and the placement's version
// are written in the same transaction, so DDL and ledger never disagree. It returns the new version.
func Apply(ctx context.Context, tx pgx.Tx, placementID int64, searchPath string, migs []Migration, target int64) (int64, error) {
	var current int64
	if err := tx.QueryRow(ctx, `SELECT version FROM tenancy.placements WHERE id = $1 FOR UPDATE`, placementID).Scan(&current); err != nil {
		return 0, fmt.Errorf("read placement version: %w", err)
	}
	if err := Verify(ctx, tx, placementID, migs); err != nil {
		return current, err
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, searchPath); err != nil {
		return current, err
	}
	for _, m := range migs {
		if m.Version <= current || (target > 0 && m.Version > target) {
			continue
		}
		start := time.Now()
		// No arguments: pgx sends the text as one simple-protocol query, so a file with many
		// statements runs them all, each at top level.
		if _, err := tx.Exec(ctx, m.Up); err != nil {
			return current, fmt.Errorf("migration %d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, `
			WITH l AS (INSERT INTO tenancy.migrations (placement_id, version, name, checksum, duration_ms)
			           VALUES ($1, $2, $3, $4, $5))
			UPDATE tenancy.placements SET version = $2 WHERE id = $1`,
			placementID, m.Version, m.Name, m.Checksum, float64(time.Since(start).Microseconds())/1000); err != nil {
			return current, fmt.Errorf("record migration %d_%s: %w", m.Version, m.Name, err)
		}
		current = m.Version
	}
	return current, nil
}

// Verify refuses to go on when an applied migration's file has changed since.
func Verify(ctx context.Context, tx pgx.Tx, placementID int64, migs []Migration) error {
	rows, err := tx.Query(ctx, `SELECT version, name, checksum FROM tenancy.migrations WHERE placement_id = $1`, placementID)
	if err != nil {
		return err
	}
	applied := map[int64]string{}
	for rows.Next() {
		var v int64
		var name, sum string
		if err := rows.Scan(&v, &name, &sum); err != nil {
			return err
		}
		applied[v] = sum
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range migs {
		if sum, ok := applied[m.Version]; ok && sum != m.Checksum {
			return fmt.Errorf("%w: %d_%s", ErrChecksum, m.Version, m.Name)
		}
	}
	return nil
}
