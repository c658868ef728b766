package tenancycli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
)

// Exit codes of Run.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// ProgramNameDefault names the program in help and error lines unless Options says otherwise.
const ProgramNameDefault = "tenancy"

// DataDirDefault is the folder of the local cluster used when no database is named.
const DataDirDefault = ".tenancy"

// Options configure Run. The zero value (or nil) is the generic `tenancy` binary.
type Options struct {
	// ProgramName is used in help and in error lines; ProgramNameDefault if empty.
	ProgramName string

	// SharedMigrations and TenantMigrations are the application's migrations compiled into the
	// binary (NNNN_name.up.sql at the root of each FS). The --migrations flag overrides them.
	SharedMigrations fs.FS
	TenantMigrations fs.FS
	// TypeMigrations and CustomMigrations are tenancy.Config's: the tenant types' lines and
	// single tenants' own (<slug>/NNNN_name.up.sql). With --migrations DIR, DIR/types/<type>/
	// and DIR/custom/ hold them.
	TypeMigrations   map[string]fs.FS
	CustomMigrations fs.FS

	// SharedSchema is the schema of the application's shared tables; tenancy.SharedSchemaDefault
	// if empty.
	SharedSchema string

	// BaseDomains and PublicHosts are the application's base domains (tenancyhttp.Subdomain) and
	// public hosts (tenancyhttp.Config.PublicHosts): 'domains add' and 'restore --domains' refuse
	// them and every name under a base domain (tenancy.Config.BaseDomains). The --base-domain
	// and --public-host flags and TENANCY_BASE_DOMAINS and TENANCY_PUBLIC_HOSTS (comma-separated)
	// add to them.
	BaseDomains []string
	PublicHosts []string

	// Getenv reads the environment (DATABASE_URL, TENANCY_APP_DATABASE_URL, TENANCY_MIGRATIONS,
	// TENANCY_BASE_DOMAINS, TENANCY_PUBLIC_HOSTS, TENANCY_SERVER_<NAME>_PASSWORD, PG*); os.Getenv
	// if nil. Tests pass a map so that the caller's environment does not leak in.
	Getenv func(string) string

	// ClientConfig, if set, adjusts the Client's configuration before tenancy.New: where an
	// application gives its settings type (ValidateSettings, applied by 'tenants create',
	// 'tenants settings' and 'restore') and its type and custom migration lines.
	ClientConfig func(*tenancy.Config)
}

// Run runs one command line (args without the program name) and returns its exit code. It is
// Execute of Command's tree; a ProgramName of several words ("myapp tenancy") puts the tree under
// commands named by the first words, so that usage lines start with the whole name.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, opts *Options) int {
	root := Command(opts)
	words := strings.Fields(programName(opts))
	for i := len(words) - 2; i >= 0; i-- {
		parent := &cobra.Command{Use: words[i]}
		parent.AddCommand(root)
		root = parent
	}
	if len(words) > 1 {
		args = append(append([]string(nil), words[1:]...), args...)
	}
	return Execute(ctx, root, args, stdin, stdout, stderr)
}

func programName(opts *Options) string {
	if opts == nil || strings.TrimSpace(opts.ProgramName) == "" {
		return ProgramNameDefault
	}
	return strings.Join(strings.Fields(opts.ProgramName), " ")
}

// app is one invocation: its streams, global flags and the connections it opened.
type app struct {
	opts   Options
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	prog   string

	flags struct {
		databaseURL string
		appURL      string
		dataDir     string
		migrations  string
		baseDomains []string
		publicHosts []string
	}

	conn *connection // opened on first use by client()
}

func (a *app) rootCommand() *cobra.Command {
	words := strings.Fields(a.prog)
	root := &cobra.Command{
		Use:   words[len(words)-1], // the rest of a.prog names the parents it is mounted under
		Short: "Manage the tenants of a multi-tenant PostgreSQL application",
		Long: a.prog + ` manages tenants, their domains and their schemas in PostgreSQL.

Connection: --database-url, else DATABASE_URL, else the PG* variables name the owner role
(which owns the catalog and tenant schemas and runs DDL); the application role's connection
(not a superuser, no BYPASSRLS, owns nothing) is then --app-url or TENANCY_APP_DATABASE_URL.
With none of them, ` + a.prog + ` uses a local PostgreSQL in ./` + DataDirDefault + ` (--data-dir), started
from the installed server binaries and left running; '` + a.prog + ` init' creates it with its
two roles (tenancy_owner, tenancy_app) and its database.

Give the base domains and public hosts that the application serves (--base-domain,
--public-host, or TENANCY_BASE_DOMAINS and TENANCY_PUBLIC_HOSTS) so that no tenant can take
another's subdomain address or the public site as a domain; localhost is always refused.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// A root that runs lets Args report unknown commands as usage errors.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		RunE: missingCommand,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{cmd: cmd, err: err}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.flags.databaseURL, "database-url", "", "owner role connection string (default $DATABASE_URL, then the PG* variables, then the local cluster)")
	pf.StringVar(&a.flags.appURL, "app-url", "", "application role connection string, with --database-url (default $TENANCY_APP_DATABASE_URL)")
	pf.StringVar(&a.flags.dataDir, "data-dir", DataDirDefault, "folder of the local cluster used when no database is named")
	pf.StringSliceVar(&a.flags.baseDomains, "base-domain", nil, "a domain whose subdomains are tenants' addresses: no tenant may take it or a name under it as a domain (repeatable; adds to $TENANCY_BASE_DOMAINS)")
	pf.StringSliceVar(&a.flags.publicHosts, "public-host", nil, "a host of the public site, which no tenant may take as a domain (repeatable; adds to $TENANCY_PUBLIC_HOSTS)")
	pf.StringVar(&a.flags.migrations, "migrations", "", "application migrations: DIR/shared/NNNN_name.up.sql and DIR/tenant/NNNN_name.up.sql (default $TENANCY_MIGRATIONS)")
	for _, c := range commands {
		root.AddCommand(c(a))
	}
	return root
}

// group returns a command that only holds subcommands: run bare or with an unknown subcommand,
// it is a usage error (cobra would print help and succeed).
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return &usageError{cmd: cmd, err: fmt.Errorf("%s needs a subcommand", cmd.CommandPath())}
		},
	}
	g.AddCommand(subs...)
	return g
}

func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return &usageError{cmd: cmd, err: errors.New(msg)}
}

// usageError makes Run exit with ExitUsage.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error for cmd.
func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// exactArgs is cobra.ExactArgs with names, reported as a usage error.
func exactArgs(names ...string) cobra.PositionalArgs {
	return rangeArgs(len(names), names...)
}

// rangeArgs accepts min to len(names) arguments.
func rangeArgs(min int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min {
			return usagef(cmd, "missing %s", strings.Join(names[len(args):min], " and "))
		}
		if len(args) > len(names) {
			return usagef(cmd, "too many arguments: %q", args[len(names):])
		}
		return nil
	}
}

// errorf prints one line on stderr, prefixed with the program name. Library errors already start
// with "tenancy: ", which is dropped so that an embedding program's name shows instead.
func (a *app) errorf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "%s: %s\n", a.prog, errorLine(fmt.Sprintf(format, args...)))
}

// progressf prints a progress line on stderr, keeping stdout for results.
func (a *app) progressf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "%s: %s\n", a.prog, fmt.Sprintf(format, args...))
}

// printf writes a result line on stdout.
func (a *app) printf(format string, args ...any) {
	fmt.Fprintf(a.stdout, format+"\n", args...)
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// oneLine keeps an error on one line whatever it quotes: control characters are escaped.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// jsonFlag adds the --json flag to a listing command.
func jsonFlag(cmd *cobra.Command, v *bool) {
	cmd.Flags().BoolVar(v, "json", false, "print JSON")
}
