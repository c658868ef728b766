package tenancy

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/archive"
	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/migrate"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// DefaultType is the type of a tenant created without one.
const DefaultType = placement.DefaultType

var typePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// ValidateType reports whether s can name a tenant type: 1-40 of a-z, 0-9 and '_', starting
// with a letter (so that it can name a pool, whose schema is pool_<name>).
func ValidateType(s string) error {
	if !typePattern.MatchString(s) {
		return fmt.Errorf("%w: %q (want 1-40 of a-z, 0-9 and '_', starting with a letter)", ErrUnknownType, truncate(s, 60))
	}
	return nil
}

// Types returns the tenant types the client knows, sorted: DefaultType and the keys of
// Config.TypeMigrations.
func (c *Client) Types() []string {
	out := []string{DefaultType}
	for t := range c.typeMigs {
		if t != DefaultType {
			out = append(out, t)
		}
	}
	sort.Strings(out[1:])
	return out
}

// checkType resolves a requested type ("" is DefaultType) and refuses one the client does not know.
func (c *Client) checkType(typ string) (string, error) {
	if typ == "" {
		return DefaultType, nil
	}
	if err := ValidateType(typ); err != nil {
		return "", err
	}
	if _, ok := c.typeMigs[typ]; !ok && typ != DefaultType {
		return "", fmt.Errorf("%w: %q (this application knows %v)", ErrUnknownType, typ, c.Types())
	}
	return typ, nil
}

// loadTypes reads Config.TypeMigrations and Config.CustomMigrations.
func (c *Client) loadTypes(cfg *Config) error {
	c.typeMigs = map[string][]migrate.Migration{}
	for typ, fsys := range cfg.TypeMigrations {
		migs, err := migrate.Load(fsys)
		if err != nil {
			return fmt.Errorf("tenancy: Config.TypeMigrations[%q]: %w", typ, err)
		}
		c.typeMigs[typ] = migs
	}
	for _, typ := range c.Types() {
		if migs := c.typeMigs[typ]; len(migs) > 0 {
			c.env.ShapeLines = append(c.env.ShapeLines, migrate.Line{Name: migrate.LineType(typ), Migs: migs})
		}
	}
	c.customMigs = map[string][]migrate.Migration{}
	if cfg.CustomMigrations == nil {
		return nil
	}
	entries, err := fs.ReadDir(cfg.CustomMigrations, ".")
	if err != nil {
		return fmt.Errorf("tenancy: Config.CustomMigrations: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if name[0] == '.' {
			continue
		}
		if !e.IsDir() {
			return fmt.Errorf("tenancy: Config.CustomMigrations: %s is a file at the root (want <slug>/NNNN_name.up.sql)", name)
		}
		if err := ValidateSlug(name); err != nil {
			return fmt.Errorf("tenancy: Config.CustomMigrations: directory %s: %w", name, err)
		}
		sub, err := fs.Sub(cfg.CustomMigrations, name)
		if err != nil {
			return fmt.Errorf("tenancy: Config.CustomMigrations: %w", err)
		}
		migs, err := migrate.Load(sub)
		if err != nil {
			return fmt.Errorf("tenancy: Config.CustomMigrations[%s]: %w", name, err)
		}
		if len(migs) > 0 {
			c.customMigs[name] = migs
		}
	}
	return nil
}

// lines are the migration lines a tenant's placement carries beside the common one: its
// type's, then (schema and database tiers) its own.
func (c *Client) lines(typ, slug string, tier Tier) []migrate.Line {
	var out []migrate.Line
	if migs := c.typeMigs[typ]; len(migs) > 0 {
		out = append(out, migrate.Line{Name: migrate.LineType(typ), Migs: migs})
	}
	if migs := c.customMigs[slug]; len(migs) > 0 && tier != TierPool {
		out = append(out, migrate.Line{Name: migrate.LineCustom, Migs: migs})
	}
	return out
}

// customFiles names a tenant's custom migrations, for messages.
func (c *Client) customFiles(slug string) []string {
	var out []string
	for _, m := range c.customMigs[slug] {
		out = append(out, slug+"/"+m.File)
	}
	return out
}

// customizedErr refuses to do what to tenant slug because of its custom migrations, naming them.
func (c *Client) customizedErr(slug, what string) error {
	files := strings.Join(c.customFiles(slug), ", ")
	if files == "" {
		files = "(applied, with no files in Config.CustomMigrations)"
	}
	return fmt.Errorf("%w: cannot %s: %s has custom migrations %s, which the pool tier cannot carry",
		ErrCustomized, what, slug, files)
}

// linesOf reads tenant id's type, slug and tier in the catalog and returns its lines; none
// (and no query) when the client has no type or custom lines.
func (c *Client) linesOf(ctx context.Context, db catalog.DB, id int64) ([]migrate.Line, error) {
	if len(c.typeMigs) == 0 && len(c.customMigs) == 0 {
		return nil, nil
	}
	t, err := catalog.TenantByID(ctx, db, id)
	if err != nil {
		return nil, err
	}
	return c.lines(t.Type, t.Slug, Tier(t.Tier)), nil
}

// poolOfType resolves the pool a tenant of type typ joins (the default: PoolDefault for
// DefaultType, the type's name for others), making it for that type if needed. A pool holds
// tenants of one type (ErrTypeMismatch otherwise).
func (c *Client) poolOfType(ctx context.Context, pool, typ string) (string, error) {
	if pool == "" {
		pool = PoolDefault
		if typ != DefaultType {
			pool = typ
		}
	}
	// A pool named after a type (PoolDefault: DefaultType's) holds that type only, also
	// before it exists.
	named := pool
	if pool == PoolDefault {
		named = DefaultType
	}
	if _, known := c.typeMigs[named]; (known || named == DefaultType) && named != typ {
		return "", fmt.Errorf("%w: pool %s is for tenants of type %s, not %s", ErrTypeMismatch, pool, named, typ)
	}
	if _, err := c.env.EnsurePoolType(ctx, pool, typ, c.lines(typ, "", TierPool)); err != nil {
		return "", err
	}
	return pool, nil
}

// archiveLines reads placement p's other lines for a backup's manifest, in tx (on p's database).
func archiveLines(ctx context.Context, tx pgx.Tx, p placement.Placement) ([]archive.Line, error) {
	lines, err := catalog.PlacementLines(ctx, tx, p.LocalID())
	if err != nil {
		return nil, fmt.Errorf("placement migration lines: %w", err)
	}
	var out []archive.Line
	for _, l := range lines {
		al := archive.Line{Name: l.Line, Version: l.Version, Migrations: []archive.Migration{}}
		for _, a := range l.Applied {
			al.Migrations = append(al.Migrations, archive.Migration{Version: a.Version, Name: a.Name, Checksum: a.Checksum})
		}
		out = append(out, al)
	}
	return out, nil
}

// checkArchiveLines checks an archive's type and other lines against this application, for a
// restore under slug into tier, and returns the tenant's type. The archive must carry exactly
// what a new placement of that tenant here carries (its type's line and the slug's custom line,
// each at its latest version, with the same files), since the restored rows fill such a
// placement: another type is ErrUnknownType, custom migrations that differ ErrCustomized.
func (c *Client) checkArchiveLines(m *archive.Manifest, slug string, tier Tier) (string, error) {
	typ := m.Tenant.Type
	if typ == "" {
		typ = DefaultType
	}
	if _, err := c.checkType(typ); err != nil {
		return "", fmt.Errorf("%w (the archive's tenant type)", err)
	}
	got := map[string]archive.Line{}
	for _, l := range m.Lines {
		got[l.Name] = l
	}
	if l, ok := got[migrate.LineCustom]; ok && tier == TierPool {
		return "", fmt.Errorf("%w: cannot restore %s into the pool tier: the archive has custom migrations %s", ErrCustomized, slug, migrationNames(l.Migrations))
	}
	want := c.lines(typ, slug, tier)
	if len(m.Lines) > 0 && m.Version < c.LatestVersion() {
		return "", fmt.Errorf("%w: the archive is at tenant migration version %d, this application at %d, and it has type or custom migrations: restore it with the release that wrote it, migrate, and back it up again",
			ErrBadArchive, m.Version, c.LatestVersion())
	}
	for _, w := range want {
		l, ok := got[w.Name]
		delete(got, w.Name)
		if err := sameLine(w, l, ok); err != nil {
			if w.Name == migrate.LineCustom {
				return "", fmt.Errorf("%w: the archive's custom migrations do not match this application's for %s (%s): %v", ErrCustomized, slug, strings.Join(c.customFiles(slug), ", "), err)
			}
			return "", fmt.Errorf("%w: the archive's %s migrations do not match this application's: %v", ErrBadArchive, w.Name, err)
		}
	}
	for name, l := range got {
		if name == migrate.LineCustom {
			return "", fmt.Errorf("%w: the archive has custom migrations %s, and this application has none for %s (Config.CustomMigrations %s/)", ErrCustomized, migrationNames(l.Migrations), slug, slug)
		}
		return "", fmt.Errorf("%w: the archive has %s migrations %s, which this application does not have", ErrBadArchive, name, migrationNames(l.Migrations))
	}
	return typ, nil
}

// sameLine compares what an archive applied of a line with the line's files.
func sameLine(w migrate.Line, l archive.Line, ok bool) error {
	if !ok {
		return fmt.Errorf("the archive has none of them")
	}
	if len(l.Migrations) != len(w.Migs) {
		return fmt.Errorf("the archive has %d of them (%s), the application %d", len(l.Migrations), migrationNames(l.Migrations), len(w.Migs))
	}
	for i, a := range l.Migrations {
		if m := w.Migs[i]; a.Version != m.Version || a.Checksum != m.Checksum {
			return fmt.Errorf("migration %d_%s differs", a.Version, a.Name)
		}
	}
	return nil
}

func migrationNames(ms []archive.Migration) string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%d_%s", m.Version, m.Name))
	}
	return strings.Join(out, ", ")
}

// lineStatus adds the type and custom lines to a MigrateStatus result.
func (c *Client) lineStatus(ctx context.Context, res *MigrateStatusResult) error {
	types, custom, err := catalog.LineCounts(ctx, c.app, len(c.typeMigs) > 0)
	if err != nil {
		return err
	}
	for _, r := range types {
		res.Types = append(res.Types, TypeCount{Type: r.Type, Version: r.Version, Latest: migrate.Latest(c.typeMigs[r.Type]), Tenants: r.Tenants})
	}
	for _, r := range custom {
		res.Customized = append(res.Customized, CustomStatus{Slug: r.Slug, Version: r.Version, Latest: migrate.Latest(c.customMigs[r.Slug])})
	}
	return nil
}
