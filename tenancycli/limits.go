package tenancycli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
)

func tenantsLimitsCommand(a *app) *cobra.Command {
	var stmt, idle time.Duration
	var maxConc int
	var clear, asJSON bool
	cmd := &cobra.Command{
		Use:   "limits SLUG",
		Short: "Show or set a tenant's limits: statement timeout, idle-in-transaction timeout, concurrent calls",
		Long: `limits shows a tenant's own limits, or sets them with the flags (the flags not given keep
their values; 0 removes one). --clear removes them all, so that the application's defaults
apply (tenancy.Config.DefaultLimits). Running applications see the change at once, through the
catalog's change notices. See docs/noisy-neighbours.md.`,
		Args: exactArgs("SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			changed := f.Changed("statement-timeout") || f.Changed("idle-timeout") || f.Changed("max-concurrent")
			if clear && changed {
				return usagef(cmd, "--clear cannot be combined with --statement-timeout, --idle-timeout or --max-concurrent")
			}
			// Check every value before connecting: bad input changes nothing.
			if err := tenancy.ValidateSlug(args[0]); err != nil {
				return err
			}
			if err := (tenancy.Limits{StatementTimeout: stmt, IdleInTransactionTimeout: idle, MaxConcurrent: maxConc}).Validate(); err != nil {
				return usagef(cmd, "%s", strings.TrimPrefix(err.Error(), "tenancy: "))
			}
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			t, err := c.TenantGet(ctx, args[0])
			if err != nil {
				return err
			}
			if clear || changed {
				l := t.Limits
				if clear {
					l = tenancy.Limits{}
				}
				if f.Changed("statement-timeout") {
					l.StatementTimeout = stmt
				}
				if f.Changed("idle-timeout") {
					l.IdleInTransactionTimeout = idle
				}
				if f.Changed("max-concurrent") {
					l.MaxConcurrent = maxConc
				}
				if t, err = c.TenantSetLimits(ctx, t.Slug, &l); err != nil {
					return err
				}
			}
			if asJSON {
				return a.printJSON(t.Limits)
			}
			if t.Limits.IsZero() {
				a.printf("%s has no limits of its own (the application's defaults apply)", t.Slug)
				return nil
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "statement timeout:\t%s\n", durOrNone(t.Limits.StatementTimeout))
			fmt.Fprintf(w, "idle-in-transaction timeout:\t%s\n", durOrNone(t.Limits.IdleInTransactionTimeout))
			conc := "none"
			if t.Limits.MaxConcurrent > 0 {
				conc = fmt.Sprint(t.Limits.MaxConcurrent)
			}
			fmt.Fprintf(w, "max concurrent:\t%s\n", conc)
			return w.Flush()
		},
	}
	cmd.Flags().DurationVar(&stmt, "statement-timeout", 0, "cancel the tenant's statements that run longer (e.g. 2s; 0: none)")
	cmd.Flags().DurationVar(&idle, "idle-timeout", 0, "end the tenant's transactions left idle this long (e.g. 10s; 0: none)")
	cmd.Flags().IntVar(&maxConc, "max-concurrent", 0, "the tenant's bound calls in flight at once per application process (0: no cap)")
	cmd.Flags().BoolVar(&clear, "clear", false, "remove the tenant's own limits")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func durOrNone(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return d.String()
}

func usageCommand(a *app) *cobra.Command {
	var storage, asJSON bool
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show each tenant's usage: transactions, statement time, errors, timeouts, refusals, rows, storage",
		Long: `usage lists what every tenant used, as the application processes have counted it and
added it to the catalog (every minute and when they stop; tenancy.Client.FlushUsage):
bound transactions and calls, the time they held, errors, timeouts among them, calls refused
at the tenant's cap (busy), rows written by restore and move. --storage also measures each
tenant's storage: a schema's or database's relations, a pool tenant's share of each pool table
by its rows.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			us, err := c.Usage(ctx, &tenancy.UsageOpts{Storage: storage})
			if err != nil {
				return err
			}
			if asJSON {
				if us == nil {
					us = []tenancy.TenantUsage{}
				}
				return a.printJSON(us)
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "TENANT\tTIER\tTRANSACTIONS\tTIME\tERRORS\tTIMEOUTS\tBUSY\tARCHIVE ROWS\tSTORAGE\t")
			for _, u := range us {
				size := "-"
				if u.StorageBytes >= 0 {
					size = fmt.Sprintf("%.1f kB", float64(u.StorageBytes)/1024)
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\t\n", u.Tenant, u.Tier, u.Transactions,
					u.StatementTime.Round(time.Millisecond), u.Errors, u.Timeouts, u.Busy, u.ArchiveRows, size)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&storage, "storage", false, "measure each tenant's storage (scans pool tables)")
	jsonFlag(cmd, &asJSON)
	return cmd
}
