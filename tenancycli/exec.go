package tenancycli

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
)

func execCommand(a *app) *cobra.Command {
	var o tenancy.ExecTenantsOpts
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "exec (--tenant SLUG... | --all) SQL",
		Short: "Run SQL in each selected tenant, as the application role, and print the rows",
		Long: `exec runs SQL (one or more statements) in a transaction bound to each selected tenant, as the
application role: the tenant's schema first in search_path, tenancy.tenant_id set, row-level
security on. It prints the rows of the last statement for each tenant; with --json, an array of
{"tenant": SLUG, "rows": [{column: value}], "command": TAG} (or "error"), in the order tenants
finish. A tenant whose SQL fails is rolled back and named; the others go on (unless --fail-fast)
and the exit status is 1.`,
		Args: exactArgs("SQL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.All == (len(o.Tenants) > 0) {
				return usagef(cmd, "name the tenants: --tenant SLUG (repeatable) or --all")
			}
			if o.Concurrency < 0 {
				return usagef(cmd, "--concurrency takes a positive number")
			}
			for _, s := range o.Tenants {
				if err := tenancy.ValidateSlug(s); err != nil && !errors.Is(err, tenancy.ErrReservedSlug) {
					return usagef(cmd, "--tenant: %v", err)
				}
			}
			ctx := cmd.Context()
			if o.Concurrency == 0 {
				o.Concurrency = concurrencyDefault()
			}
			c, done, err := a.sizedClient(ctx, o.Concurrency)
			if err != nil {
				return err
			}
			defer done()
			p := &execPrinter{a: a, asJSON: asJSON}
			o.OnResult = p.add
			res, err := c.ExecTenants(ctx, args[0], &o)
			p.close()
			if res != nil && !asJSON {
				a.progressf("ran in %d tenants, %d failed, in %s", res.Succeeded+len(res.Failed), len(res.Failed), res.Duration.Round(time.Millisecond))
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Tenants, "tenant", nil, "run in this tenant (repeat for more)")
	f.BoolVar(&o.All, "all", false, "run in every active or suspended tenant")
	f.IntVar(&o.Concurrency, "concurrency", 0, "tenants at once (default: the CPUs here, at least 2)")
	f.BoolVar(&o.FailFast, "fail-fast", false, "stop at the first failed tenant")
	jsonFlag(cmd, &asJSON)
	return cmd
}

// execPrinter prints each tenant's rows as they come: a table per tenant, or a JSON array
// written element by element (memory does not grow with the number of tenants).
type execPrinter struct {
	a      *app
	asJSON bool
	n      int
}

type execJSON struct {
	Tenant  string           `json:"tenant"`
	Command string           `json:"command,omitempty"`
	Rows    []map[string]any `json:"rows"`
	Error   string           `json:"error,omitempty"`
}

func (p *execPrinter) add(r *tenancy.TenantRows) {
	p.n++
	if p.asJSON {
		out := execJSON{Tenant: r.Tenant, Command: r.Command, Rows: []map[string]any{}}
		if r.Err != nil {
			out.Error = r.Err.Error()
		}
		for _, row := range r.Rows {
			obj := make(map[string]any, len(row))
			for i, v := range row {
				obj[r.Columns[i]] = v
			}
			out.Rows = append(out.Rows, obj)
		}
		data, err := json.MarshalIndent(out, "  ", "  ")
		if err != nil {
			data, _ = json.Marshal(execJSON{Tenant: r.Tenant, Rows: []map[string]any{}, Error: "encode rows: " + err.Error()})
		}
		sep := ",\n  "
		if p.n == 1 {
			sep = "[\n  "
		}
		fmt.Fprintf(p.a.stdout, "%s%s", sep, data)
		return
	}
	if r.Err != nil {
		fmt.Fprintf(p.a.stderr, "FAILED %s\n", oneLine(r.Err.Error()))
		return
	}
	p.a.printf("== %s (%s)", r.Tenant, r.Command)
	if len(r.Columns) == 0 {
		return
	}
	w := tabwriter.NewWriter(p.a.stdout, 0, 4, 2, ' ', 0)
	for i, c := range r.Columns {
		if i > 0 {
			fmt.Fprint(w, "\t")
		}
		fmt.Fprint(w, c)
	}
	fmt.Fprintln(w)
	for _, row := range r.Rows {
		for i, v := range row {
			if i > 0 {
				fmt.Fprint(w, "\t")
			}
			if v == nil {
				fmt.Fprint(w, "NULL")
			} else {
				fmt.Fprint(w, oneLine(fmt.Sprint(v)))
			}
		}
		fmt.Fprintln(w)
	}
	_ = w.Flush()
}

func (p *execPrinter) close() {
	if !p.asJSON {
		return
	}
	if p.n == 0 {
		fmt.Fprint(p.a.stdout, "[]\n")
		return
	}
	fmt.Fprint(p.a.stdout, "\n]\n")
}
