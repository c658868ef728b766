package tenancycli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
)

func tenantsCommand(a *app) *cobra.Command {
	return group("tenants", "Create, list, show, suspend, resume, rename and delete tenants",
		tenantsCreateCommand(a),
		tenantsListCommand(a),
		tenantsShowCommand(a),
		tenantsStatusCommand(a, "suspend", "Stop serving a tenant (its data is kept)", (*tenancy.Client).TenantSuspend),
		tenantsStatusCommand(a, "resume", "Serve a suspended or soft-deleted tenant again", (*tenancy.Client).TenantResume),
		tenantsRenameCommand(a),
		tenantsSettingsCommand(a), // settings.go
		tenantsDeleteCommand(a),
		tenantsLimitsCommand(a),
	)
}

func tenantsCreateCommand(a *app) *cobra.Command {
	var name, tier, server, pool, typ string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create SLUG",
		Short: "Create a tenant: its schema, its tables (the tenant migrations), then make it active",
		Long: `create makes a tenant. SLUG is a DNS label: 2-63 of a-z, 0-9 and '-', starting with a letter,
not ending with '-', and not a reserved word (public, www, admin, api, ...). Creating a tenant
left half-made by a crash finishes it; creating an existing one fails and changes nothing.`,
		Args: exactArgs("SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := tenancy.ParseTier(tier)
			if err != nil {
				return usagef(cmd, "--tier: %v", err)
			}
			ctx := cmd.Context()
			// Check the slug before connecting (or starting a local cluster) for it.
			if err := tenancy.ValidateSlug(args[0]); err != nil {
				return err
			}
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			if err := a.requireTenantMigrations(ctx, c); err != nil {
				return err
			}
			ten, err := c.TenantCreate(ctx, args[0], &tenancy.TenantCreateOpts{Name: name, Tier: t, Server: server, Pool: pool, Type: typ})
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(tenantJSON(ten))
			}
			a.printf("created tenant %s (id %d, type %s, %s tier, %s, version %d%s)", ten.Slug, ten.ID, ten.Type, ten.Tier, placementText(ten.Placement), ten.Version, customText(ten))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name (default: the slug)")
	cmd.Flags().StringVar(&tier, "tier", string(tenancy.TierDefault), "pool, schema or database")
	cmd.Flags().StringVar(&server, "server", "", "the server of a schema or database tenant (default: the one with the fewest tenants)")
	cmd.Flags().StringVar(&pool, "pool", "", "the pool a pool tenant joins (default: "+tenancy.PoolDefault+", or the type's name for another type)")
	cmd.Flags().StringVar(&typ, "type", "", "the tenant's type: "+tenancy.DefaultType+" (the default) or a folder of types/ in --migrations")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func tenantsListCommand(a *app) *cobra.Command {
	var status, tier string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tenants in slug order",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &tenancy.TenantListOpts{Limit: 1000, Status: tenancy.Status(status)}
			if tier != "" {
				t, err := tenancy.ParseTier(tier)
				if err != nil {
					return usagef(cmd, "--tier: %v", err)
				}
				opts.Tier = t
			}
			if limit < 0 {
				return usagef(cmd, "--limit must be 0 (all) or more")
			}
			if status != "" && !knownStatus(opts.Status) {
				return usagef(cmd, "--status: unknown status %q (want %s)", status, strings.Join(statusNames(), ", "))
			}
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			// Pages are printed as they come, so that a million pool tenants do not sit in memory.
			out := a.tenantPrinter(asJSON)
			for n := 0; ; {
				if limit > 0 && limit-n < opts.Limit {
					opts.Limit = limit - n
				}
				page, err := c.TenantList(ctx, opts)
				if err != nil {
					return err
				}
				for _, t := range page {
					out.add(t)
				}
				n += len(page)
				if len(page) < opts.Limit || n == limit {
					break
				}
				opts.After = page[len(page)-1].Slug
			}
			return out.close()
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only tenants in this status ("+strings.Join(statusNames(), ", ")+")")
	cmd.Flags().StringVar(&tier, "tier", "", "only tenants in this tier (pool, schema, database)")
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many (0: all)")
	jsonFlag(cmd, &asJSON)
	return cmd
}

// tenantPrinter prints tenants one at a time: a JSON array (the same bytes as printJSON of the
// whole slice) or a table.
type tenantPrinter struct {
	a      *app
	asJSON bool
	n      int
	table  *tabwriter.Writer
	err    error
}

func (a *app) tenantPrinter(asJSON bool) *tenantPrinter {
	return &tenantPrinter{a: a, asJSON: asJSON}
}

func (p *tenantPrinter) add(t *tenancy.Tenant) {
	if p.err != nil {
		return
	}
	p.n++
	if p.asJSON {
		data, err := json.MarshalIndent(tenantJSON(t), "  ", "  ")
		if err != nil {
			p.err = err
			return
		}
		sep := ",\n  "
		if p.n == 1 {
			sep = "[\n  "
		}
		_, p.err = fmt.Fprintf(p.a.stdout, "%s%s", sep, data)
		return
	}
	if p.table == nil {
		p.table = tabwriter.NewWriter(p.a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(p.table, "SLUG\tNAME\tSTATUS\tTIER\tVERSION\tDOMAINS\tCREATED")
	}
	fmt.Fprintf(p.table, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", t.Slug, oneLine(t.Name), t.Status, t.Tier, t.Version,
		orDash(strings.Join(t.Domains, ",")), t.CreatedAt.Local().Format(time.DateTime))
	if p.n%1000 == 0 {
		p.err = p.table.Flush() // bounded memory; columns may shift between blocks
	}
}

func (p *tenantPrinter) close() error {
	if p.err != nil {
		return p.err
	}
	switch {
	case p.asJSON && p.n == 0:
		_, err := fmt.Fprint(p.a.stdout, "[]\n")
		return err
	case p.asJSON:
		_, err := fmt.Fprint(p.a.stdout, "\n]\n")
		return err
	case p.n == 0:
		p.a.printf("no tenants")
		return nil
	}
	return p.table.Flush()
}

func tenantsShowCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show SLUG",
		Short: "Show one tenant",
		Args:  exactArgs("SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			t, err := c.TenantGet(ctx, args[0])
			if err != nil {
				return err
			}
			node, err := tenantNode(ctx, c, t) // nil unless on Citus (citus.go)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(tenantWithNode{tenantJSON(t), node})
			}
			if node != nil {
				a.printTenant(t, [2]string{"node", node.String()})
			} else {
				a.printTenant(t)
			}
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

// printTenant writes t, key by key; extra rows (the Citus node) go after its placement.
func (a *app) printTenant(t *tenancy.Tenant, extra ...[2]string) {
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	placement := t.Placement.Schema
	if t.Placement.Database != "" {
		placement = t.Placement.Database + "." + placement
	}
	if t.Placement.Server != "" {
		placement = t.Placement.Server + ":" + placement
	}
	for _, kv := range append(append([][2]string{
		{"id", fmt.Sprint(t.ID)},
		{"slug", t.Slug},
		{"name", oneLine(t.Name)},
		{"status", string(t.Status)},
		{"type", t.Type},
		{"tier", string(t.Tier)},
		{"placement", orDash(placement)},
	}, extra...), [][2]string{
		{"version", fmt.Sprint(t.Version) + customText(t)},
		{"domains", orDash(strings.Join(t.Domains, ", "))},
		{"created", t.CreatedAt.Local().Format(time.RFC3339)},
		{"updated", t.UpdatedAt.Local().Format(time.RFC3339)},
	}...) {
		fmt.Fprintf(w, "%s:\t%s\n", kv[0], kv[1])
	}
	if len(t.Settings) > 0 {
		fmt.Fprintf(w, "settings:\t%s\n", t.Settings)
	}
	_ = w.Flush()
}

func tenantsStatusCommand(a *app, verb, short string, change func(*tenancy.Client, context.Context, string) (*tenancy.Tenant, error)) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " SLUG",
		Short: short,
		Args:  exactArgs("SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			t, err := change(c, ctx, args[0])
			if err != nil {
				return err
			}
			a.printf("tenant %s is %s", t.Slug, t.Status)
			return nil
		},
	}
}

func tenantsRenameCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "rename SLUG NEW-SLUG",
		Short: "Change a tenant's slug (its id, schema and data stay as they are)",
		Args:  exactArgs("SLUG", "NEW-SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := tenancy.ValidateSlug(args[1]); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			t, err := c.TenantRename(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			a.printf("renamed tenant %s to %s", args[0], t.Slug)
			return nil
		},
	}
}

func tenantsDeleteCommand(a *app) *cobra.Command {
	var hard, yes bool
	var backupPath string
	cmd := &cobra.Command{
		Use:   "delete SLUG",
		Short: "Delete a tenant: softly (kept, never served, resumable), or --hard --yes (its data is dropped)",
		Long: `delete marks a tenant deleted: it is kept and never served, and 'tenants resume' brings it back.
With --hard it drops the tenant's data (its schema or database; in the pool tier, its rows) and
removes it from the catalog; that cannot be undone, so it also needs --yes. A hard delete drops
only what tenancy created for that very tenant. --backup FILE writes the tenant's archive first
(see 'backup'); the data is dropped only once the archive is written and checked.`,
		Args: exactArgs("SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if hard && !yes {
				return usagef(cmd, "--hard drops tenant %s and all its data for good: add --yes to confirm", args[0])
			}
			if backupPath != "" && !hard {
				return usagef(cmd, "--backup goes with --hard")
			}
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			if backupPath != "" {
				err = a.hardDeleteWithBackup(ctx, c, args[0], backupPath) // backup.go
			} else {
				err = c.TenantDelete(ctx, args[0], &tenancy.TenantDeleteOpts{Hard: hard})
			}
			if err != nil {
				return err
			}
			if hard {
				a.printf("deleted tenant %s and its data for good", args[0])
			} else {
				a.printf("deleted tenant %s (soft: its data is kept; `%s tenants resume %s` brings it back)", args[0], a.prog, args[0])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&hard, "hard", false, "drop the tenant's data and remove it from the catalog")
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm --hard")
	cmd.Flags().StringVar(&backupPath, "backup", "", "with --hard: write the tenant's archive to this file first")
	return cmd
}

// tenantJSON returns t as the JSON of every listing: domains is [] rather than null.
func tenantJSON(t *tenancy.Tenant) *tenancy.Tenant {
	if t.Domains == nil {
		c := *t
		c.Domains = []string{}
		return &c
	}
	return t
}

// requireTenantMigrations refuses to provision tenants with fewer tenant migrations than the
// database already has (the usual cause: --migrations forgotten), which would make tenants
// without their tables.
func (a *app) requireTenantMigrations(ctx context.Context, c *tenancy.Client) error {
	var shape int64
	err := a.conn.owner.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM tenancy.placements WHERE kind = 'shape'`).Scan(&shape)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000") {
			return tenancy.ErrNotInitialised
		}
		return err
	}
	if have := c.LatestVersion(); have < shape {
		return fmt.Errorf("the database's tenant migrations are at version %d but this command has only %d: pass --migrations DIR (or set TENANCY_MIGRATIONS)", shape, have)
	}
	return nil
}

var statuses = []tenancy.Status{tenancy.StatusProvisioning, tenancy.StatusActive, tenancy.StatusSuspended,
	tenancy.StatusMoving, tenancy.StatusDeleting, tenancy.StatusDeleted}

func knownStatus(s tenancy.Status) bool {
	for _, k := range statuses {
		if k == s {
			return true
		}
	}
	return false
}

func statusNames() []string {
	out := make([]string, len(statuses))
	for i, s := range statuses {
		out[i] = string(s)
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// placementText says where a placement is, briefly: "schema tenant_4", "database x_t4 on s2".
func placementText(p tenancy.Placement) string {
	s := "schema " + p.Schema
	if p.Database != "" {
		s = "database " + p.Database
	}
	if p.Server != "" {
		s += " on " + p.Server
	}
	return s
}

// customText is ", type line N, custom line M" for a tenant with such lines, else "".
func customText(t *tenancy.Tenant) string {
	s := ""
	if t.TypeVersion > 0 {
		s += fmt.Sprintf(", type line %d", t.TypeVersion)
	}
	if t.Customized() {
		s += fmt.Sprintf(", customized: custom line %d", t.Custom)
	}
	return s
}
