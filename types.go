package tenancy

import (
	"context"
	"fmt"
	"strings"
	"io/fs"
	"regexp"
	"sort"

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
	return fmt.Errorf("%w: cannot %s of %s: the pool tier cannot carry its custom migrations %s",
		ErrCustomized, what, slug, strings.Join(c.customFiles(slug), ", "))
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
// DefaultType, the type's name for others), making it for that type if needed.
func (c *Client) poolOfType(ctx context.Context, pool, typ string) (string, error) {
	if pool == "" {
		pool = PoolDefault
		if typ != DefaultType {
			pool = typ
		}
	}
	if _, err := c.env.EnsurePoolType(ctx, pool, typ, c.lines(typ, "", TierPool)); err != nil {
		return "", err
	}
	return pool, nil
}
