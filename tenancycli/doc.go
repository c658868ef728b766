// Package tenancycli is the tenancy command line as a library: the generic `tenancy` binary
// (cmd/tenancy) is one call to Run, and an application embeds the same commands in its own binary
// with its migrations compiled in:
//
//	//go:embed migrations
//	var migrations embed.FS
//
//	func main() {
//		shared, _ := fs.Sub(migrations, "migrations/shared")
//		tenant, _ := fs.Sub(migrations, "migrations/tenant")
//		os.Exit(tenancycli.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr,
//			&tenancycli.Options{ProgramName: "myapp", SharedMigrations: shared, TenantMigrations: tenant}))
//	}
//
// To mount the commands under an application's own cobra root instead (`myapp tenancy ...`), or
// to add the application's commands beside them, take the tree from Command and run it with
// Execute (as examples/taskboard does):
//
//	root := &cobra.Command{Use: "myapp"}
//	root.AddCommand(serveCommand(), tenancycli.Command(&tenancycli.Options{ProgramName: "myapp tenancy", ...}))
//	os.Exit(tenancycli.Execute(ctx, root, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
//
// The tree has `completion` (bash, zsh, fish, powershell; command names, --tier and --status
// values) when it is the root, and `version` (the library's module version from the binary's
// build information).
//
// Run returns the exit code: 0 ok, 1 failure, 2 usage (unknown command or flag, wrong number of
// arguments). A failure prints exactly one line on stderr ("tenancy: tenant already exists: acme").
// Results go to stdout, progress to stderr, so that `--json` output can be piped.
//
// Connection. With --database-url, DATABASE_URL or the PG* variables, that connection is the owner
// role (it owns the catalog and the tenant schemas and runs DDL), and the application role's
// connection comes from --app-url or TENANCY_APP_DATABASE_URL. With none of them, the commands
// use a local PostgreSQL cluster in ./.tenancy (--data-dir), started from the installed server
// binaries if needed and left running; `init` creates its two roles and its database.
//
// Adding a command group is one file defining `func xxxCommand(a *app) *cobra.Command` plus one
// line in the commands list of commands.go.
package tenancycli
