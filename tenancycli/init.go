package tenancycli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func initCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Install or upgrade the catalog and the shared migrations (creates the local cluster if none is named)",
		Long: `init installs or upgrades the tenancy catalog, applies the shared migrations and brings the
tenant shape to the latest tenant migration. It is idempotent: run it again after upgrading.

With no database named, it first creates (or starts) the local PostgreSQL cluster in ./.tenancy,
its owner role tenancy_owner (CREATEDB), its application role tenancy_app (no superuser, no
BYPASSRLS, owns nothing) with random passwords kept in .tenancy/roles.json (mode 0600), and the
database tenancy owned by tenancy_owner.

With --database-url (or DATABASE_URL, or PG*), that role owns the catalog; the application role
is --app-url (or TENANCY_APP_DATABASE_URL) and must exist already: init refuses a superuser, a
role with BYPASSRLS, or the owner itself, because row-level security would not apply to it.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx, true)
			if err != nil {
				return err
			}
			var owner, app string
			var super, bypass bool
			if err := a.conn.owner.QueryRow(ctx, `SELECT current_user`).Scan(&owner); err != nil {
				return err
			}
			if err := a.conn.app.QueryRow(ctx, `SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&app, &super, &bypass); err != nil {
				return err
			}
			switch {
			case app == owner:
				return fmt.Errorf("the application role must not be the owner role %s: the owner bypasses row-level security on its own tables", owner)
			case super:
				return fmt.Errorf("the application role %s is a superuser: row-level security would not apply to it", app)
			case bypass:
				return fmt.Errorf("the application role %s has BYPASSRLS: row-level security would not apply to it", app)
			}
			if err := c.Init(ctx); err != nil {
				return err
			}
			a.printf("catalog ready in %s (owner %s, application role %s, tenant migrations at version %d)",
				a.conn.where, owner, app, c.LatestVersion())
			return nil
		},
	}
}
