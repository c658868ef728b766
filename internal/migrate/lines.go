package migrate

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
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

// lineVersion reads (and locks) the placement's version of line, and whether the database is
// a Citus one (citus.go).
func lineVersion(ctx context.Context, tx pgx.Tx, placementID int64, line string) (v int64, citus bool, err error) {
	if line == "" {
		err = tx.QueryRow(ctx, `SELECT version, `+citusSQL+` FROM tenancy.placements WHERE id = $1 FOR UPDATE`, placementID).Scan(&v, &citus)
		return v, citus, err
	}
	err = tx.QueryRow(ctx, `SELECT coalesce((lines->>$2)::bigint, 0), `+citusSQL+` FROM tenancy.placements WHERE id = $1 FOR UPDATE`, placementID, line).Scan(&v, &citus)
	return v, citus, err
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

// ledgerLine names a ledger row's line in the fleet's plan: a custom line by its tenant, since
// each tenant's custom line is a line of files of its own.
const ledgerLine = `CASE WHEN m.line = 'custom' THEN 'custom:' || coalesce((SELECT t.slug FROM tenancy.tenants t WHERE t.placement_id = p.id ORDER BY t.id LIMIT 1), '') ELSE m.line END`

// linesBehind is the part of pendingWhere for the other lines: $L names the lines (type:<name>,
// custom:<slug>) and $T their latest versions. The shape carries every type's line.
const linesBehind = `OR EXISTS (SELECT 1 FROM unnest($L::text[], $T::bigint[]) AS u(line, top)
	WHERE coalesce((p.lines->>(CASE WHEN u.line LIKE 'custom:%' THEN 'custom' ELSE u.line END))::bigint, 0) < u.top
	AND CASE p.kind WHEN 'shape' THEN u.line LIKE 'type:%'
	    WHEN 'pool' THEN u.line = 'type:' || coalesce(p.type, 'default')
	    ELSE EXISTS (SELECT 1 FROM tenancy.tenants t WHERE t.placement_id = p.id AND (u.line = 'type:' || t.type OR u.line = 'custom:' || t.slug)) END)`

// lineArgs are the names and latest versions of the other lines, sorted; nothing when there
// are none (then the plan's queries are what they were without lines).
func (o *RunOpts) lineArgs() []any {
	var names []string
	for typ, migs := range o.Types {
		if len(migs) > 0 {
			names = append(names, LineType(typ))
		}
	}
	for slug, migs := range o.Custom {
		if len(migs) > 0 {
			names = append(names, LineCustom+":"+slug)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	tops := make([]int64, len(names))
	for i, n := range names {
		tops[i] = Latest(o.lineFiles(n))
	}
	return []any{names, tops}
}

// lineFiles returns the files of a line named as lineArgs names it.
func (o *RunOpts) lineFiles(name string) []Migration {
	if typ, ok := strings.CutPrefix(name, "type:"); ok {
		return o.Types[typ]
	}
	slug, _ := strings.CutPrefix(name, LineCustom+":")
	return o.Custom[slug]
}

// sql fills in a plan query: /*local*/ (localOnly), and /*lines*/ with linesBehind numbered
// from parameter first, when there are lines.
func (o *RunOpts) sql(q string, first int) string {
	q = localOnly(q, o.Placements == nil)
	cond := ""
	if len(o.lineArgs()) > 0 {
		cond = strings.NewReplacer("$L", "$"+strconv.Itoa(first), "$T", "$"+strconv.Itoa(first+1)).Replace(linesBehind)
	}
	return strings.ReplaceAll(q, "/*lines*/", cond)
}

// checkLines compares the ledger of every other line with its files.
func (o *RunOpts) checkLines(ledger map[string]map[int64]map[string]int64) error {
	names := make([]string, 0, len(ledger))
	for n := range ledger {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var top int64
		for v := range ledger[n] {
			top = max(top, v)
		}
		if err := checkLedger(n, ledger[n], o.lineFiles(n), top); err != nil {
			return err
		}
	}
	return nil
}

// linesOf returns the lines target t carries beside its main one.
func (o *RunOpts) linesOf(t *Target) []Line {
	var out []Line
	switch t.Kind {
	case KindShape:
		types := make([]string, 0, len(o.Types))
		for typ := range o.Types {
			types = append(types, typ)
		}
		sort.Strings(types)
		for _, typ := range types {
			if len(o.Types[typ]) > 0 {
				out = append(out, Line{Name: LineType(typ), Migs: o.Types[typ]})
			}
		}
		return out
	case KindShared:
		return nil
	}
	if migs := o.Types[t.Type]; len(migs) > 0 {
		out = append(out, Line{Name: LineType(t.Type), Migs: migs})
	}
	if migs := o.Custom[t.Tenant]; len(migs) > 0 && t.Kind != KindPool {
		out = append(out, Line{Name: LineCustom, Migs: migs})
	}
	return out
}

// applyLines applies t's other lines after its main one, in one transaction with AfterApply,
// and says whether anything was applied.
func (r *runner) applyLines(ctx context.Context, t *Target, lines []Line, searchPath string) (bool, error) {
	applied := false
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if t.Kind == KindPool {
			if _, err := tx.Exec(ctx, PoolCitusSQL); err != nil {
				return err
			}
		}
		for _, l := range lines {
			before, _, err := lineVersion(ctx, tx, t.PlacementID, l.Name)
			if err != nil {
				return err
			}
			v, _, err := applyLine(ctx, tx, t.PlacementID, searchPath, l.Name, l.Migs, 0, false)
			if err != nil {
				return fmt.Errorf("%s line: %w", l.Name, err)
			}
			applied = applied || v > before
		}
		if r.o.Placements != nil && applied {
			return r.o.Placements.AfterApply(ctx, tx, t)
		}
		return nil
	})
	return applied && err == nil, err
}
