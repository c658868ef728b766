package tenancycli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
)

// Command returns the command tree that Run runs, for an application to mount under its own root
// command (myapp.AddCommand(tenancycli.Command(opts)) gives `myapp tenancy tenants list`) or to
// use as its root with its own commands added. Set Options.ProgramName to the words that reach
// the tree ("myapp tenancy"): the last one names its root command, and help text quotes them all.
//
// The commands read and write the streams cobra gives them (SetIn, SetOut and SetErr on the
// application's root) and close their connections before they return. Execute runs the whole
// tree with Run's error lines and exit codes; with cobra's own Execute, ExitCode maps its error.
func Command(opts *Options) *cobra.Command {
	if opts == nil {
		opts = &Options{}
	}
	a := &app{opts: *opts, prog: programName(opts)}
	if a.opts.Getenv == nil {
		a.opts.Getenv = os.Getenv
	}
	root := a.rootCommand()
	walk(root, func(c *cobra.Command) {
		path := strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), root.Name()), " ")
		if ex := examples[path]; ex != "" {
			c.Example = strings.ReplaceAll(strings.Trim(ex, "\n"), "PROG", a.prog)
		}
		if c.ValidArgsFunction == nil && !fileArgs[path] {
			c.ValidArgsFunction = cobra.NoFileCompletions
		}
		if c.Flags().Lookup("tier") != nil {
			_ = c.RegisterFlagCompletionFunc("tier", cobra.FixedCompletions(
				[]string{string(tenancy.TierPool), string(tenancy.TierSchema), string(tenancy.TierDatabase)}, cobra.ShellCompDirectiveNoFileComp))
		}
		if c.Flags().Lookup("status") != nil {
			_ = c.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(statusNames(), cobra.ShellCompDirectiveNoFileComp))
		}
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				a.stdin, a.stdout, a.stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
				defer a.close()
				return run(cmd, args)
			}
		}
	})
	return root
}

// Execute runs root, an application's command tree holding Command's (or Command's alone), on
// args and returns the exit code, as Run does: a failure is one line on stderr starting with
// root's name, a usage error (UsageError, a bad flag, an unknown or missing command) is exit 2
// with a pointer to the command's help. The first SIGINT or SIGTERM cancels ctx.
func Execute(ctx context.Context, root *cobra.Command, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The first interrupt cancels ctx, so that a long command stops cleanly (transactions roll
	// back, partial results are reported); a second one kills as usual.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()

	root.SilenceErrors, root.SilenceUsage = true, true
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return UsageError(cmd, err) })
	if root.Args == nil {
		root.Args = noArgs
	}
	if !root.Runnable() {
		root.RunE = missingCommand
	}
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if ue := (*usageError)(nil); errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s: %s\n", root.Name(), oneLine(ue.err.Error()))
		if ue.cmd != nil {
			cmd = ue.cmd
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return ExitUsage
	}
	fmt.Fprintf(stderr, "%s: %s\n", root.Name(), errorLine(err.Error()))
	return ExitFailure
}

// ExitCode is the exit code of an error returned by executing a tree that holds Command's:
// ExitOK for nil, ExitUsage for a usage error, else ExitFailure.
func ExitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	}
	return ExitFailure
}

// UsageError marks err as a usage error of cmd, for an application's own commands run by
// Execute: exit 2, and a pointer to cmd's help.
func UsageError(cmd *cobra.Command, err error) error {
	return &usageError{cmd: cmd, err: err}
}

// noArgs makes a command that runs with arguments report an unknown command, as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return unknownCommand(cmd, args[0])
	}
	return nil
}

// missingCommand is the run of a command that only holds others: help on stderr, usage error.
func missingCommand(cmd *cobra.Command, _ []string) error {
	cmd.SetOut(cmd.ErrOrStderr())
	_ = cmd.Help()
	return &usageError{cmd: cmd, err: errors.New("missing command")}
}

// errorLine is an error on one line. Library errors start with "tenancy: ", which is dropped so
// that an embedding program's name shows instead.
func errorLine(msg string) string {
	msg = strings.TrimPrefix(msg, "tenancy: ")
	msg = strings.ReplaceAll(msg, ": tenancy: ", ": ")
	return oneLine(msg)
}

func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

// fileArgs are the commands whose arguments are files; the others complete no file names.
var fileArgs = map[string]bool{"restore": true}

// examples are the Example sections of the commands used most, by path under the root; PROG is
// the program name.
var examples = map[string]string{
	"init": `
  PROG init                                   # a local PostgreSQL in ./.tenancy
  PROG init --database-url postgres://owner@db/app --app-url postgres://app@db/app`,
	"tenants create": `
  PROG tenants create acme --name "Acme Corp"
  PROG tenants create tiny --tier pool
  PROG tenants create bigco --tier database --server eu-2 --json`,
	"tenants list": `
  PROG tenants list
  PROG tenants list --tier pool --status suspended --json`,
	"tenants show": `
  PROG tenants show acme --json`,
	"tenants settings": `
  PROG tenants settings acme
  PROG tenants settings acme --set theme=dark --set max_projects=20 --unset beta
  PROG tenants settings acme --set 'labels={"done":"Shipped"}' --json`,
	"tenants delete": `
  PROG tenants delete acme                    # soft: the tenant stops being served
  PROG tenants delete acme --hard --yes --backup acme.tenancy`,
	"domains add": `
  PROG domains add acme app.acme.com --primary`,
	"migrate": `
  PROG migrate --dry-run
  PROG migrate --canary 10 --concurrency 8
  PROG migrate --tenant acme --json`,
	"status": `
  PROG status --tenants`,
	"backup": `
  PROG backup acme -o acme.tenancy
  PROG backup acme -o - | gzip > acme.tenancy.gz`,
	"restore": `
  PROG restore acme.tenancy
  PROG restore acme.tenancy --as acme-copy --tier schema`,
	"move": `
  PROG move acme --tier database
  PROG move acme --tier schema --server eu-2`,
	"exec": `
  PROG exec --tenant acme "SELECT count(*) FROM projects"
  PROG exec --all --json "SELECT count(*) FROM tasks WHERE done"`,
	"check": `
  PROG check --json`,
}
