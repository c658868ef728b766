package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/app"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
	"github.com/tenancy-go/tenancy/tenancycli"
)

const prog = "taskboard"

func cliOptions(getenv func(string) string) *tenancycli.Options {
	return &tenancycli.Options{
		ProgramName:      prog,
		SharedMigrations: migrations.Shared(),
		TenantMigrations: migrations.Tenant(),
		// Organisations live on <slug>.localhost: no organisation may take one of those, or the
		// public site, as a domain (add --base-domain for a served --base-domain).
		BaseDomains: []string{app.BaseDomainDefault},
		Getenv:      getenv,
		// The settings type and the type and custom migration lines of organisations.
		ClientConfig: store.ConfigureClient,
	}
}

// run runs one command line and returns the exit code (0 ok, 1 failure, 2 usage): taskboard's
// own commands beside tenancy's (tenancycli), which run with taskboard's migrations compiled in.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	root := tenancycli.Command(cliOptions(getenv))
	root.Short = "tenancy's reference application"
	root.Long = "taskboard is tenancy's reference application: 'taskboard demo' starts it with four demo\n" +
		"organisations. The operator commands are tenancy's, with taskboard's migrations built in.\n\n" + root.Long
	root.AddGroup(&cobra.Group{ID: "app", Title: "Application commands:"}, &cobra.Group{ID: "ops", Title: "Operator commands:"})
	for _, c := range root.Commands() {
		c.GroupID = "ops"
	}
	for _, c := range []*cobra.Command{serveCommand(stdout, stderr, getenv), demoCommand(stdout, stderr, getenv), tokensCommand(stdout, stderr, getenv)} {
		c.GroupID = "app"
		root.AddCommand(c)
	}
	return tenancycli.Execute(ctx, root, args, stdin, stdout, stderr)
}

type dbFlags struct {
	databaseURL, appURL, dataDir string
	warm                         int // tenancy.Config.WarmPlacements (serve and demo)
}

func (f *dbFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.databaseURL, "database-url", "", "owner role connection string (default $DATABASE_URL, then PG*, then the local cluster)")
	cmd.Flags().StringVar(&f.appURL, "app-url", "", "application role connection string (default $TENANCY_APP_DATABASE_URL)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", tenancycli.DataDirDefault, "folder of the local cluster used when no database is named")
}

func (f *dbFlags) connect(ctx context.Context, getenv func(string) string, init bool, stderr io.Writer) (*tenancycli.Connection, error) {
	return tenancycli.Connect(ctx, cliOptions(getenv), &tenancycli.ConnectOpts{
		DatabaseURL: f.databaseURL, AppURL: f.appURL, DataDir: f.dataDir, Init: init, Stderr: stderr, WarmPlacements: f.warm,
	})
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return tenancycli.UsageError(cmd, fmt.Errorf("%s wants %s", cmd.CommandPath(), names))
		}
		return nil
	}
}

type serveFlags struct {
	db            dbFlags
	addr          string
	base          string
	operator      string
	introspection bool
	proxies       prefixList
}

// prefixList is a flag of comma-separated addresses or CIDR prefixes.
type prefixList []netip.Prefix

func (l *prefixList) String() string {
	parts := make([]string, len(*l))
	for i, p := range *l {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func (l *prefixList) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		x = strings.TrimSpace(x)
		if x == "" {
			continue
		}
		p, err := netip.ParsePrefix(x)
		if err != nil {
			a, aerr := netip.ParseAddr(x)
			if aerr != nil {
				return fmt.Errorf("%q is not an IP address or CIDR prefix", x)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		*l = append(*l, p.Masked())
	}
	return nil
}

func (l *prefixList) Type() string { return "addresses" }

// add adds the flags; introspection is GraphQL introspection's default (off in serve, on in demo).
func (f *serveFlags) add(cmd *cobra.Command, getenv func(string) string, introspection bool) {
	f.db.add(cmd)
	cmd.Flags().BoolVar(&f.introspection, "graphql-introspection", introspection, "answer GraphQL introspection (__schema, __type) queries")
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&f.base, "base-domain", app.BaseDomainDefault, "host of the public site; organisations live on its subdomains")
	cmd.Flags().StringVar(&f.operator, "operator-password", "", "password of the operator console at /admin (default $TASKBOARD_OPERATOR_PASSWORD; empty disables it)")
	cmd.Flags().IntVar(&f.db.warm, "warm-placements", 0, "schema-tier placements kept made and migrated ahead of time, so that a sign-up claims one in a few milliseconds (tenancy.Config.WarmPlacements)")
	cmd.Flags().Var(&f.proxies, "trusted-proxies", "comma-separated addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (default: none, no header is)")
}

func serveCommand(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	var f serveFlags
	var initDB bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the application",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.fromEnv(getenv)
			conn, err := f.db.connect(cmd.Context(), getenv, initDB, stderr)
			if err != nil {
				return err
			}
			defer conn.Close()
			return serve(cmd.Context(), conn, &f, stdout, stderr, nil)
		},
	}
	f.add(cmd, getenv, false)
	cmd.Flags().BoolVar(&initDB, "init", false, "install or upgrade the catalog and migrations first (as `taskboard init`)")
	return cmd
}

func demoCommand(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start taskboard with four demo organisations (local PostgreSQL unless a database is named)",
		Long: `demo starts (or creates) the local PostgreSQL cluster in ./.tenancy unless a database is named,
installs the catalog and taskboard's migrations, creates four demo organisations (one of the agency type, one with its own migrations) with people,
projects, tasks and comments (kept for the next run), prints the addresses and log-ins, and
serves until interrupted. It stops the local cluster on exit if it started it.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f.fromEnv(getenv)
			start := time.Now()
			fmt.Fprintf(stderr, "%s: preparing the database...\n", prog)
			conn, err := f.db.connect(ctx, getenv, true, stderr)
			if err != nil {
				return err
			}
			defer func() {
				conn.Close()
				if conn.StartedLocal {
					if err := conn.StopLocal(context.WithoutCancel(ctx)); err != nil {
						fmt.Fprintf(stderr, "%s: stop the local PostgreSQL: %v\n", prog, err)
					} else {
						fmt.Fprintf(stderr, "%s: stopped the local PostgreSQL it started\n", prog)
					}
				}
			}()
			res, err := app.SeedDemo(ctx, conn.Client, 0)
			if err != nil {
				return err
			}
			_ = app.RevokeAPITokens(ctx, conn.Client, res.Orgs[0].Slug, "demo")
			token, err := app.CreateAPIToken(ctx, conn.Client, res.Orgs[0].Slug, "demo")
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "%s: database ready in %s (%s)\n", prog, time.Since(start).Round(time.Millisecond), conn.Where)
			return serve(ctx, conn, &f, stdout, stderr, func(port string) {
				printDemo(stdout, &f, port, res, token)
			})
		},
	}
	f.add(cmd, getenv, true)
	return cmd
}

func printDemo(w io.Writer, f *serveFlags, port string, res *app.DemoResult, token string) {
	base := "http://" + f.base + ":" + port
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\ntaskboard demo is running.\n\n")
	fmt.Fprintf(tw, "  Public site\t%s/\t\n", base)
	for _, o := range res.Orgs {
		extra := ""
		if o.Type != tenancy.DefaultType {
			extra += ", " + o.Type + " type (its own table and page: /clients)"
		}
		if o.Customized {
			extra += ", customized (its own migrations: a cost centre on projects)"
		}
		if o.Accent != "" {
			extra += ", " + o.Accent + " accent (a setting)"
		}
		fmt.Fprintf(tw, "  %s\thttp://%s.%s:%s/\t%s tier, %s plan%s\n", o.Name, o.Slug, f.base, port, o.Tier, o.Plan, extra)
	}
	if f.operator != "" {
		fmt.Fprintf(tw, "  Operator console\t%s/admin\tpassword as given\n", base)
	} else {
		fmt.Fprintf(tw, "  Operator console\tdisabled\tstart with --operator-password to enable it\n")
	}
	tw.Flush()
	fmt.Fprintf(w, "\n  Log in as %s / %s (a member of every demo organisation),\n", res.Email, app.DemoPassword)
	fmt.Fprintf(w, "  or as alice@, bob@ or carol@example.com with the same password.\n")
	fmt.Fprintf(w, "\n  Sign-ups are confirmed by a mailed link. The demo sends no mail: the link appears in\n")
	fmt.Fprintf(w, "  the server's log on stderr, on a line \"mail (outbox: not sent)\".\n")
	fmt.Fprintf(w, "\n  API token for %s: %s\n", res.Orgs[0].Slug, token)
	fmt.Fprintf(w, "    curl -H 'Authorization: Bearer %s' http://%s.%s:%s/api/v1/projects\n", token, res.Orgs[0].Slug, f.base, port)
	fmt.Fprintf(w, "    curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"query\":\"{ projects { id name } }\"}' http://%s.%s:%s/graphql\n", token, res.Orgs[0].Slug, f.base, port)
	fmt.Fprintf(w, "\nPress Ctrl+C to stop.\n")
}

// fromEnv fills in what the flags left to the environment. The operator password has no default,
// in the demo neither: without one the console is off.
func (f *serveFlags) fromEnv(getenv func(string) string) {
	if f.operator == "" {
		f.operator = getenv("TASKBOARD_OPERATOR_PASSWORD")
	}
}

// appConfig is the application's configuration from the flags.
func (f *serveFlags) appConfig(client *tenancy.Client, logger *slog.Logger) *app.Config {
	return &app.Config{Client: client, BaseDomain: f.base, OperatorPassword: f.operator, Logger: logger,
		GraphQLIntrospection: f.introspection, TrustedProxies: f.proxies}
}

// serve listens on f.addr and serves until ctx ends or SIGINT/SIGTERM, then shuts down gracefully.
// ready is called with the port once listening.
func serve(ctx context.Context, conn *tenancycli.Connection, f *serveFlags, stdout, stderr io.Writer, ready func(port string)) error {
	logger := slog.New(tenancy.NewLogHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	srv, err := app.New(f.appConfig(conn.Client, logger))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("listen for catalog changes: %w", err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if ready != nil {
		ready(port)
	} else {
		fmt.Fprintf(stdout, "taskboard serving http://%s:%s/ (organisations on http://<slug>.%s:%s/)\n", f.base, port, f.base, port)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintf(stderr, "\n%s: shutting down...\n", prog)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	return nil
}

func tokensCommand(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	group := &cobra.Command{
		Use:   "tokens",
		Short: "Manage API tokens",
		Args:  exactArgs(0, "a subcommand (create)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return tenancycli.UsageError(cmd, errors.New("tokens needs a subcommand: create"))
		},
	}
	var db dbFlags
	var name string
	var asJSON bool
	create := &cobra.Command{
		Use:   "create SLUG",
		Short: "Make an API token for organisation SLUG; it is printed once",
		Args:  exactArgs(1, "SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := tenancy.ValidateSlug(args[0]); err != nil && !errors.Is(err, tenancy.ErrReservedSlug) {
				return err
			}
			conn, err := db.connect(cmd.Context(), getenv, false, stderr)
			if err != nil {
				return err
			}
			defer conn.Close()
			tok, err := app.CreateAPIToken(cmd.Context(), conn.Client, args[0], name)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(map[string]string{"token": tok})
			}
			fmt.Fprintln(stdout, tok)
			return nil
		},
	}
	db.add(create)
	create.Flags().StringVar(&name, "name", "cli", "the token's name, shown in the organisation's token list")
	create.Flags().BoolVar(&asJSON, "json", false, `print {"token": ...}`)
	group.AddCommand(create)
	return group
}
