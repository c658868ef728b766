package tenancycli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func checkCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify that the catalog and the placements agree; exit 1 naming each damaged tenant otherwise",
		Long: `Check compares the catalog with every placement it describes: each tenant's schema or database
exists and carries tenancy's mark, has the shape schema's tables at its version (forced row-level
security, a policy, the application role's grants), and a version that agrees with its migration
ledger. Tenants left in provisioning, deleting or moving by a crash, and schemas or databases that
no tenant uses, are reported too. It changes nothing; "repair" fixes what is marked repairable.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			res, err := c.Check(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				if err := a.printJSON(res); err != nil {
					return err
				}
			} else {
				for _, p := range res.Problems {
					fix := ""
					if p.Repairable {
						fix = " [repairable]"
					}
					a.printf("%s%s", p, fix)
				}
				if res.OK() {
					a.printf("ok: %d tenants, %d placements agree with the catalog", res.Tenants, res.Placements)
				}
			}
			if res.OK() {
				return nil
			}
			damaged := res.Damaged()
			return fmt.Errorf("check found %d problem(s) in %d tenant(s): %s", len(res.Problems), len(damaged), strings.Join(damaged, ", "))
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}
