package tenancycli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
)

func serversCommand(a *app) *cobra.Command {
	return group("servers", "Other PostgreSQL servers that tenants can be placed on",
		serversAddCommand(a),
		serversListCommand(a),
		serversRemoveCommand(a),
	)
}

func serversAddCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add NAME URL APP_URL",
		Short: "Record a server: URL connects as the owner role, APP_URL as the application role",
		Long: `add records another PostgreSQL server. URL connects as a role that may create databases
(it owns what tenancy creates there); APP_URL as the application role (no superuser, no
BYPASSRLS). Both name the same database, the server's home: schema-tier tenants placed on the
server live there, and database-tier tenants get databases of their own beside it. Both
connections are tried before anything is recorded. New schema- and database-tier tenants go to
the server holding the fewest tenants unless 'tenants create --server' says otherwise.

The URLs are kept in the catalog, so they must not carry a password (one is refused). Every
process that connects to the server finds the passwords in TENANCY_SERVER_<NAME>_PASSWORD
(owner role) and TENANCY_SERVER_<NAME>_APP_PASSWORD (application role), NAME upper-cased with
'-' as '_', or else in a password file: the URL's passfile parameter, PGPASSFILE or ~/.pgpass.`,
		Args: exactArgs("NAME", "URL", "APP_URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			s, err := c.ServerAdd(ctx, args[0], args[1], args[2])
			if err != nil {
				return err
			}
			a.printf("added server %s (%s)", s.Name, s.URL)
			return nil
		},
	}
	return cmd
}

func serversListCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the servers besides the catalog's own, with their tenant counts",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			ss, err := c.ServerList(ctx)
			if err != nil {
				return err
			}
			if ss == nil {
				ss = []tenancy.Server{}
			}
			if asJSON {
				return a.printJSON(ss)
			}
			if len(ss) == 0 {
				a.printf("no servers besides %s", tenancy.ServerDefault)
				return nil
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tKIND\tTENANTS\tURL")
			for _, s := range ss {
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", s.Name, s.Kind, s.Tenants, s.URL)
			}
			return w.Flush()
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func serversRemoveCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Forget a server (refused while tenants live there)",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			if err := c.ServerRemove(ctx, args[0]); err != nil {
				return err
			}
			a.printf("removed server %s", args[0])
			return nil
		},
	}
}
