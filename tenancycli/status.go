package tenancycli

import (
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
)

func statusCommand(a *app) *cobra.Command {
	var asJSON, tenants bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show how many tenants are at each migration version",
		Long: `status counts the tenants at each tenant migration version (one query), and shows the
versions of the shared and shape schemas, and the warm placements waiting (Config.WarmPlacements)
if there are any. --tenants also lists every tenant's version. On a Citus server it also lists
the cluster's nodes with the tenants each holds (and --tenants each tenant's node).`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			st, err := c.MigrateStatus(ctx)
			if err != nil {
				return err
			}
			warm, err := c.WarmStatus(ctx)
			if err != nil {
				return err
			}
			if warm.Ready+warm.Stale == 0 {
				warm = nil // shown only where an application keeps warm placements
			}
			// On Citus: each node with its tenants, and each tenant's node (citus.go).
			nodes, tenantNodes, err := citusNodes(ctx, c)
			if err != nil {
				return err
			}
			type tenantVersion struct {
				Slug    string         `json:"slug"`
				Status  tenancy.Status `json:"status"`
				Version int64          `json:"version"`
				Type    string         `json:"type"`
				TypeV   int64          `json:"type_version,omitempty"`
				Custom  int64          `json:"custom,omitempty"`
				Node    string         `json:"node,omitempty"`
			}
			var list []tenantVersion
			var table *tabwriter.Writer
			if tenants {
				if !asJSON {
					table = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprint(table, "TENANT\tSTATUS\tVERSION\tTYPE\tCUSTOM")
					if nodes != nil {
						fmt.Fprint(table, "\tNODE")
					}
					fmt.Fprintln(table)
				}
				opts := &tenancy.TenantListOpts{Limit: 1000}
				for {
					page, err := c.TenantList(ctx, opts)
					if err != nil {
						return err
					}
					for _, t := range page {
						if table != nil {
							custom := "-"
							if t.Customized() {
								custom = fmt.Sprintf("custom line %d", t.Custom)
							}
							fmt.Fprintf(table, "%s\t%s\t%d\t%s %d\t%s", t.Slug, t.Status, t.Version, t.Type, t.TypeVersion, custom)
							if nodes != nil {
								fmt.Fprintf(table, "\t%s", nodeText(tenantNodes, t.ID))
							}
							fmt.Fprintln(table)
						} else {
							tv := tenantVersion{t.Slug, t.Status, t.Version, t.Type, t.TypeVersion, t.Custom, ""}
							if n, ok := tenantNodes[t.ID]; ok {
								tv.Node = n.String()
							}
							list = append(list, tv)
						}
					}
					if len(page) < opts.Limit {
						break
					}
					opts.After = page[len(page)-1].Slug
					if table != nil {
						_ = table.Flush() // bounded memory
					}
				}
			}
			if asJSON {
				out := struct {
					*tenancy.MigrateStatusResult
					Tenants []tenantVersion           `json:"tenants,omitempty"`
					Warm    *tenancy.WarmStatusResult `json:"warm,omitempty"`
					Nodes   []nodeCount               `json:"nodes,omitempty"`
				}{st, list, warm, nodes}
				if tenants && out.Tenants == nil {
					out.Tenants = []tenantVersion{}
				}
				return a.printJSON(out)
			}
			if table != nil {
				if err := table.Flush(); err != nil {
					return err
				}
				a.printf("")
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "VERSION\tTENANTS\tBY STATUS\t")
			for _, v := range st.Versions {
				note := ""
				if v.Version < st.Latest {
					note = "behind"
				}
				fmt.Fprintf(w, "%d\t%d\t%s\t%s\n", v.Version, v.Tenants, byStatus(v.ByStatus), note)
			}
			if len(st.Versions) == 0 {
				fmt.Fprintln(w, "-\t0\t")
			}
			if err := w.Flush(); err != nil {
				return err
			}
			a.printf("latest tenant migration %d; shape schema at %d; shared schema at %d of %d; %d tenants behind",
				st.Latest, st.Shape, st.Shared, st.SharedLatest, st.Behind)
			if warm != nil {
				a.printf("warm placements: %d ready, %d stale (dropped by the application's next refill)", warm.Ready, warm.Stale)
			}
			for _, ty := range st.Types {
				a.printf("type %s: %d tenants at type line %d of %d", ty.Type, ty.Tenants, ty.Version, ty.Latest)
			}
			for _, cu := range st.Customized {
				a.printf("customized tenant %s: custom line at %d of %d", cu.Slug, cu.Version, cu.Latest)
			}
			if nodes != nil {
				a.printf("")
				return a.printNodes(nodes)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&tenants, "tenants", false, "also list each tenant's version")
	jsonFlag(cmd, &asJSON)
	return cmd
}

// byStatus writes "active 40, suspended 2" (statuses in lifecycle order).
func byStatus(m map[tenancy.Status]int) string {
	keys := make([]tenancy.Status, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	order := map[tenancy.Status]int{}
	for i, s := range statuses {
		order[s] = i
	}
	sort.Slice(keys, func(i, j int) bool { return order[keys[i]] < order[keys[j]] })
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", k, m[k])
	}
	return s
}
