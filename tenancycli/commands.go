package tenancycli

import "github.com/spf13/cobra"

// commands builds the top-level command groups, in help order. A new group is one file with its
// constructor and one line here. What a command has at hand:
//
//   - a.client(ctx, false): the *tenancy.Client (owner pool as OwnerPool, application pool as
//     Pool), connected on first use; a.conn.owner / a.conn.app are the pools themselves.
//   - a.printf / a.printJSON for results on stdout; a.progressf and a.stderr (progress bars) for
//     progress; return an error for a failure (Run prints it as one line, exit 1).
//   - usagef(cmd, ...) for a usage error (exit 2); exactArgs / rangeArgs as cobra Args; group()
//     for a command that only holds subcommands; jsonFlag for --json.
var commands = []func(a *app) *cobra.Command{
	initCommand,
	tenantsCommand,
	domainsCommand,
	serversCommand,
	repairCommand,
	checkCommand,
	migrateCommand,
	backupCommand,
	restoreCommand,
	moveCommand,
	rebalanceCommand,
	statusCommand,
	usageCommand,
	execCommand,
	localCommand,
	versionCommand,
}
