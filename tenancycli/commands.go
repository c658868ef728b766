package tenancycli

import "github.com/spf13/cobra"

// commands builds the top-level command groups, in help order. A new group is one file with its
// constructor and one line here.
var commands = []func(a *app) *cobra.Command{
	initCommand,
	tenantsCommand,
	domainsCommand,
	repairCommand,
	localCommand,
}
