package tenancycli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tenancy-go/tenancy"
)

func migrateCommand(a *app) *cobra.Command {
	var o tenancy.MigrateOpts
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the shared and tenant migrations to every tenant (or the ones named)",
		Long: `migrate brings the shared schema, the shape schema and then every tenant's schema to the newest
migration (or --to VERSION), --concurrency tenants at a time, each in a transaction of its own.
Tenants still being created are skipped. A tenant whose migration fails does not stop the others
(unless --fail-fast): the run ends with a summary naming each failed tenant, exit status 1, and a
rerun migrates exactly what is left. --canary N migrates N tenants first and stops if any fails.
Only one migrate runs at a time per database. With nothing to apply it costs one query.

Progress goes to stderr: a bar on a terminal, a line per tenant otherwise; --json prints one JSON
event per line on stdout instead.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Concurrency < 0 || o.Canary < 0 || o.To < 0 {
				return usagef(cmd, "--concurrency, --canary and --to take positive numbers")
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
			if len(o.Tenants) == 0 {
				o.Tenants = nil
			}
			p := a.migrateProgress(asJSON, o.DryRun)
			o.OnEvent = p.event
			res, err := c.Migrate(ctx, &o)
			p.finish()
			return a.migrateSummary(res, err, asJSON, o.DryRun)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Tenants, "tenant", nil, "migrate only this tenant (repeat for more); the shape and shared schemas are migrated anyway")
	f.IntVar(&o.Concurrency, "concurrency", 0, "tenants migrated at once (default: the CPUs here, at least 2, at most half the server's free connections)")
	f.Int64Var(&o.To, "to", 0, "stop at this tenant migration version (default: the newest)")
	f.IntVar(&o.Canary, "canary", 0, "migrate this many tenants first and stop if any of them fails")
	f.BoolVar(&o.DryRun, "dry-run", false, "print what would be applied to which tenant, change nothing")
	f.BoolVar(&o.FailFast, "fail-fast", false, "stop at the first failed tenant (those under way finish)")
	jsonFlag(cmd, &asJSON)
	return cmd
}

// concurrencyDefault sizes a run to the machine: the server is usually this one or its twin.
func concurrencyDefault() int { return max(2, runtime.NumCPU()) }

// sizedClient returns a client whose pools hold n connections: the command's own pools hold two.
func (a *app) sizedClient(ctx context.Context, n int) (*tenancy.Client, func(), error) {
	c, err := a.client(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	if int32(n) <= a.conn.owner.Config().MaxConns {
		return c, func() {}, nil
	}
	ocfg, acfg := a.conn.owner.Config().Copy(), a.conn.app.Config().Copy()
	ocfg.MaxConns, acfg.MaxConns = int32(n), int32(n)
	owner, err := pgxpool.NewWithConfig(ctx, ocfg)
	if err != nil {
		return nil, nil, err
	}
	app, err := pgxpool.NewWithConfig(ctx, acfg)
	if err != nil {
		owner.Close()
		return nil, nil, err
	}
	shared, tenant, err := a.migrations()
	var types map[string]fs.FS
	var custom fs.FS
	if err == nil {
		types, custom, err = a.lineMigrations()
	}
	if err == nil {
		c, err = tenancy.New(&tenancy.Config{AppPool: app, OwnerPool: owner, SharedSchema: a.opts.SharedSchema,
			SharedMigrations: shared, TenantMigrations: tenant, TypeMigrations: types, CustomMigrations: custom})
	}
	done := func() { owner.Close(); app.Close() }
	if err != nil {
		done()
		return nil, nil, err
	}
	return c, done, nil
}

// isTerminal reports whether w is a terminal (a progress bar is drawn only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// migrateProgress renders MigrateEvents: JSON lines, a progress bar, or plain lines.
type migrateProgress struct {
	a      *app
	asJSON bool
	dryRun bool
	bar    *progressbar.ProgressBar
	tty    bool
}

func (a *app) migrateProgress(asJSON, dryRun bool) *migrateProgress {
	return &migrateProgress{a: a, asJSON: asJSON, dryRun: dryRun, tty: !asJSON && isTerminal(a.stderr)}
}

type eventJSON struct {
	tenancy.MigrateEvent
	Ms    float64 `json:"ms,omitempty"`
	Error string  `json:"error,omitempty"`
}

func (p *migrateProgress) event(e tenancy.MigrateEvent) {
	if p.asJSON {
		if e.Kind == tenancy.MigrateEventFinish {
			return // the summary follows
		}
		ev := eventJSON{MigrateEvent: e, Ms: float64(e.Duration.Microseconds()) / 1000}
		if e.Err != nil {
			ev.Error = e.Err.Error()
		}
		data, _ := json.Marshal(ev)
		fmt.Fprintf(p.a.stdout, "%s\n", data)
		return
	}
	switch e.Kind {
	case tenancy.MigrateEventStart:
		if p.dryRun {
			return
		}
		if p.tty && e.Total > 0 {
			p.bar = progressbar.NewOptions(e.Total,
				progressbar.OptionSetWriter(p.a.stderr),
				progressbar.OptionSetDescription("migrating"),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionFullWidth())
		} else {
			p.a.progressf("migrating %d placements", e.Total)
		}
	case tenancy.MigrateEventPlanned:
		p.a.printf("%s: %d -> %d (%s)", e.Tenant, e.From, e.To, versionList(e.Versions))
	case tenancy.MigrateEventDone:
		if p.bar != nil {
			if e.Err != nil {
				// Above the bar, so that failures stay visible.
				_ = p.bar.Clear()
				fmt.Fprintf(p.a.stderr, "FAILED %s: %s\n", e.Tenant, oneLine(e.Err.Error()))
			}
			if e.Failed > 0 {
				p.bar.Describe(fmt.Sprintf("migrating (%d failed)", e.Failed))
			}
			_ = p.bar.Set(e.Done)
			return
		}
		if e.Err != nil {
			fmt.Fprintf(p.a.stderr, "FAILED %s: %s\n", e.Tenant, oneLine(e.Err.Error()))
		} else {
			fmt.Fprintf(p.a.stderr, "%d/%d %s: %d -> %d (%s)\n", e.Done, e.Total, e.Tenant, e.From, e.To, e.Duration.Round(100*time.Microsecond))
		}
	}
}

func (p *migrateProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

func versionList(vs []int64) string {
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(v)
	}
	return s
}

type summaryJSON struct {
	Event       string        `json:"event"`
	DryRun      bool          `json:"dry_run,omitempty"`
	Total       int           `json:"total"`
	Applied     int           `json:"applied"`
	Skipped     int           `json:"skipped"`
	Failed      []failureJSON `json:"failed"`
	Shared      [2]int64      `json:"shared"`
	Concurrency int           `json:"concurrency,omitempty"`
	Ms          float64       `json:"ms"`
	Error       string        `json:"error,omitempty"`
}

type failureJSON struct {
	Tenant  string `json:"tenant"`
	Version int64  `json:"version,omitempty"`
	Error   string `json:"error"`
}

// migrateSummary prints how the run went and returns the command's error (nil only if every
// tenant succeeded).
func (a *app) migrateSummary(res *tenancy.MigrateResult, err error, asJSON, dryRun bool) error {
	if res == nil {
		return err
	}
	if asJSON {
		s := summaryJSON{Event: "summary", DryRun: dryRun, Total: res.Total, Applied: res.Applied, Skipped: res.Skipped,
			Failed: []failureJSON{}, Shared: [2]int64{res.SharedFrom, res.SharedTo}, Concurrency: res.Concurrency,
			Ms: float64(res.Duration.Microseconds()) / 1000}
		for _, f := range res.Failed {
			s.Failed = append(s.Failed, failureJSON{Tenant: f.Tenant, Version: f.Version, Error: f.Err.Error()})
		}
		if err != nil {
			s.Error = err.Error()
		}
		data, _ := json.Marshal(s)
		fmt.Fprintf(a.stdout, "%s\n", data)
		return err
	}
	switch {
	case dryRun && res.Total == 0 && res.SharedFrom == res.SharedTo:
		a.printf("nothing to apply")
	case dryRun:
		a.printf("dry run: %d placements would be migrated", res.Total)
	case res.Total == 0 && res.Applied == 0 && len(res.Failed) == 0:
		a.printf("nothing to apply (%d catalog query, %s)", res.Queries, res.Duration.Round(100*time.Microsecond))
	default:
		a.printf("migrated %d of %d placements in %s (concurrency %d)", res.Applied, res.Total, res.Duration.Round(time.Millisecond), res.Concurrency)
	}
	if res.SharedTo > res.SharedFrom {
		a.printf("shared schema: %d -> %d", res.SharedFrom, res.SharedTo)
	}
	if res.Skipped > 0 {
		a.printf("skipped %d tenants still being created or deleted", res.Skipped)
	}
	if len(res.Failed) > 0 {
		a.printf("%d failed:", len(res.Failed))
		for _, f := range res.Failed {
			a.printf("  %s (at version %d): %s", f.Tenant, f.Version, oneLine(f.Err.Error()))
		}
	}
	return err
}
