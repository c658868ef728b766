package tenancycli

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
)

func domainsCommand(a *app) *cobra.Command {
	return group("domains", "Map host names to tenants",
		domainsAddCommand(a),
		domainsRemoveCommand(a),
		domainsListCommand(a),
	)
}

func domainsAddCommand(a *app) *cobra.Command {
	var primary bool
	cmd := &cobra.Command{
		Use:   "add SLUG HOST",
		Short: "Map HOST to tenant SLUG (a tenant's first domain is its primary)",
		Args:  exactArgs("SLUG", "HOST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := tenancy.NormalizeHost(args[1]); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			d, err := c.DomainAdd(ctx, args[0], args[1], &tenancy.DomainAddOpts{Primary: primary})
			if err != nil {
				return err
			}
			kind := ""
			if d.Primary {
				kind = " (primary)"
			}
			a.printf("added domain %s to tenant %s%s", d.Host, d.Tenant, kind)
			return nil
		},
	}
	cmd.Flags().BoolVar(&primary, "primary", false, "make it the tenant's primary domain")
	return cmd
}

func domainsRemoveCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "remove HOST",
		Short: "Remove the mapping of HOST",
		Args:  exactArgs("HOST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := tenancy.NormalizeHost(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			if err := c.DomainRemove(ctx, h); err != nil {
				return err
			}
			a.printf("removed domain %s", h)
			return nil
		},
	}
}

func domainsListCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [SLUG]",
		Short: "List the domains of one tenant, or of all",
		Args:  rangeArgs(0, "SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			slug := ""
			if len(args) == 1 {
				slug = args[0]
				if err := tenancy.ValidateSlug(slug); err != nil && !errorsIsReserved(err) {
					return err
				}
			}
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			ds, err := c.DomainList(ctx, slug)
			if err != nil {
				return err
			}
			if ds == nil {
				ds = []tenancy.Domain{}
			}
			if asJSON {
				return a.printJSON(ds)
			}
			if len(ds) == 0 {
				a.printf("no domains")
				return nil
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "HOST\tTENANT\tPRIMARY")
			for _, d := range ds {
				fmt.Fprintf(w, "%s\t%s\t%t\n", d.Host, d.Tenant, d.Primary)
			}
			return w.Flush()
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func errorsIsReserved(err error) bool { return errors.Is(err, tenancy.ErrReservedSlug) }
