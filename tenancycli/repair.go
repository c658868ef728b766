package tenancycli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
)

func repairCommand(a *app) *cobra.Command {
	var orphans bool
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Finish what crashes left half-done: provision tenants stuck in provisioning, drop those stuck in deleting",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			if err := a.requireTenantMigrations(ctx, c); err != nil {
				return err
			}
			if orphans {
				res, err := c.DropOrphans(ctx)
				if err != nil {
					return err
				}
				for _, s := range res.Dropped {
					a.printf("dropped orphan %s", s)
				}
				for _, s := range res.Kept {
					a.printf("kept: %s", s)
				}
				if len(res.Dropped)+len(res.Kept) == 0 {
					a.printf("no orphans")
				}
				return nil
			}
			res, err := c.Repair(ctx)
			if err != nil {
				return err
			}
			for _, s := range res.Provisioned {
				a.printf("provisioned tenant %s", s)
			}
			for _, s := range res.Deleted {
				a.printf("finished deleting tenant %s", s)
			}
			for _, s := range res.Moves {
				a.printf("finished or rolled back the move or restore of tenant %s", s)
			}
			removed := make([]string, 0, len(res.Removed))
			for s := range res.Removed {
				removed = append(removed, s)
			}
			sort.Strings(removed)
			for _, s := range removed {
				a.printf("removed tenant %s, whose create could not be finished: %v", s, res.Removed[s])
			}
			if len(res.Failed) == 0 {
				if len(res.Provisioned)+len(res.Deleted)+len(res.Moves)+len(res.Removed) == 0 {
					a.printf("nothing to repair")
				}
				return nil
			}
			failed := make([]string, 0, len(res.Failed))
			for s := range res.Failed {
				failed = append(failed, s)
			}
			sort.Strings(failed)
			// One line per failed tenant, then the summary line that Run prints.
			for _, s := range failed {
				a.errorf("repair %s: %v", s, res.Failed[s])
			}
			return fmt.Errorf("repair failed for %d tenant(s)", len(failed))
		},
	}
	cmd.Flags().BoolVar(&orphans, "orphans", false, "instead, drop the schemas and databases that check reports as removable orphans (marked by this catalog, or by an earlier catalog of this database proven gone); nothing else is ever dropped")
	return cmd
}
