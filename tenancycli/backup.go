package tenancycli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
)

// backupCommand, restoreCommand and moveCommand are Client.Backup, Restore and Move on the
// command line; the archive format, and what a restore checks, are in docs/archive.md.

func backupCommand(a *app) *cobra.Command {
	var out string
	var asJSON, force bool
	cmd := &cobra.Command{
		Use:   "backup SLUG -o FILE",
		Short: "Write one tenant (catalog entry, domains, every row) to an archive file",
		Long: `backup writes tenant SLUG to FILE as one compressed archive (docs/archive.md): its catalog
entry and domains, its tenant migration version, and every row of its tables, read in one
consistent snapshot. It works in every tier; for a pool tenant the archive holds only its rows.

A new FILE appears only once it is complete (written to a temporary file beside it, synced,
then renamed). An existing file is replaced only with --force; a symbolic link is never
followed, and replaced (the link itself) only with --force. A FIFO or a device is written to as
a stream, never replaced. -o - writes to stdout.`,
		Args: exactArgs("SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef(cmd, "-o FILE is required (- for stdout)")
			}
			if out == "-" && asJSON {
				return usagef(cmd, "--json prints on stdout: use -o FILE with it")
			}
			var target outputKind
			if out != "-" {
				var err error
				if target, err = checkOutput(out, force); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			opts := &tenancy.BackupOpts{OnTable: a.tableProgress("backup")}
			var res *tenancy.BackupResult
			if out == "-" {
				res, err = c.Backup(ctx, args[0], a.stdout, opts)
				if err != nil {
					return err
				}
				a.progressf("backed up tenant %s: %d tables, %d rows, %s", res.Tenant, res.Tables, res.Rows, size(res.Bytes))
				return nil
			}
			backup := func(w io.Writer) error {
				res, err = c.Backup(ctx, args[0], w, opts)
				return err
			}
			if target == outputStream {
				err = writeStream(out, backup)
			} else {
				err = writeAtomically(out, target == outputReplace, backup)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(res)
			}
			a.printf("backed up tenant %s (id %d, version %d): %d tables, %d rows, %s to %s in %s",
				res.Tenant, res.ID, res.Version, res.Tables, res.Rows, size(res.Bytes), out, res.Duration.Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the archive file to write (- for stdout)")
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists (a regular file or a symbolic link; never a FIFO or device)")
	jsonFlag(cmd, &asJSON)
	return cmd
}

// outputKind is how backup writes its -o path.
type outputKind int

const (
	outputNew     outputKind = iota // nothing there: a new file, never clobbering one that appears meanwhile
	outputReplace                   // --force over a regular file or a symbolic link (the link, not its target)
	outputStream                    // a FIFO or device: opened and written, never replaced
)

// checkOutput says how to write path, or why not, before any work is done.
func checkOutput(path string, force bool) (outputKind, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return outputNew, nil
	}
	if err != nil {
		return 0, err
	}
	switch m := fi.Mode(); {
	case m&(fs.ModeNamedPipe|fs.ModeDevice|fs.ModeCharDevice) != 0:
		return outputStream, nil
	case m.IsRegular() || m&fs.ModeSymlink != 0:
		if !force {
			what := "already exists"
			if m&fs.ModeSymlink != 0 {
				what = "is a symbolic link (it is never followed; --force replaces the link itself)"
			}
			return 0, fmt.Errorf("%s %s: pass --force to replace it", path, what)
		}
		return outputReplace, nil
	case m.IsDir():
		return 0, fmt.Errorf("%s is a directory", path)
	}
	return 0, fmt.Errorf("%s is not a regular file, FIFO or device (%s)", path, fi.Mode().Type())
}

// writeStream writes to an existing FIFO or device through fn. Nothing is created or replaced;
// an error writing (a full device, a reader gone) is the backup's error.
func writeStream(path string, fn func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func restoreCommand(a *app) *cobra.Command {
	var as, tier, server, pool string
	var domains, asJSON bool
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Restore a tenant from an archive into a new placement of any tier",
		Long: `restore loads an archive written by 'backup' (FILE, or - for stdin) into a new tenant: under its
own slug or --as SLUG, in its own tier or --tier, on --server. Every table's row count and checksum
are checked before the tenant becomes active; an archive made at an older tenant migration
version is migrated forward, one from a newer version is refused. --domains also restores the
archive's domains. A restore that fails, or a bad archive, leaves nothing behind.`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &tenancy.RestoreOpts{Slug: as, Server: server, Pool: pool, Domains: domains, OnTable: a.tableProgress("restore")}
			if tier != "" {
				t, err := tenancy.ParseTier(tier)
				if err != nil {
					return usagef(cmd, "--tier: %v", err)
				}
				opts.Tier = t
			}
			if as != "" {
				if err := tenancy.ValidateSlug(as); err != nil {
					return err
				}
			}
			var in io.Reader = a.stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			if err := a.requireTenantMigrations(ctx, c); err != nil {
				return err
			}
			start := time.Now()
			t, err := c.Restore(ctx, in, opts)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(tenantJSON(t))
			}
			a.printf("restored tenant %s (id %d, %s tier, %s, version %d) in %s", t.Slug, t.ID, t.Tier, placementText(t.Placement), t.Version, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "restore under this slug (default: the archive's)")
	cmd.Flags().StringVar(&tier, "tier", "", "pool, schema or database (default: the archive's)")
	cmd.Flags().StringVar(&server, "server", "", "the server of a schema or database tenant (default: the one with the fewest tenants)")
	cmd.Flags().StringVar(&pool, "pool", "", "the pool a pool tenant joins (default: "+tenancy.PoolDefault+")")
	cmd.Flags().BoolVar(&domains, "domains", false, "also restore the archive's domains (refused if one is taken)")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func moveCommand(a *app) *cobra.Command {
	var tier, server, pool string
	var transfer string
	var asJSON bool
	var iso isolateFlags
	cmd := &cobra.Command{
		Use:   "move SLUG --tier T",
		Short: "Move a tenant to another tier, server or pool (served 503 meanwhile, never lost)",
		Long: `move copies tenant SLUG into a new placement (--tier, --server, --pool), checks the copy, switches
the catalog and only then drops the old placement. Meanwhile the tenant is 'moving': its requests
get 503 with Retry-After. Interrupted, running move again (or 'repair') finishes or rolls back.

On a Citus server, move SLUG --isolate [--node HOST:PORT] keeps a pool tenant in its pool but gives
it shards of its own, optionally on the worker named; move SLUG --node HOST:PORT moves a
schema-tier tenant's distributed schema to that node of the cluster (citus_schema_move): the tenant
stays served and the catalog does not change (docs/citus.md).`,
		Args: exactArgs("SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if transfer != tenancy.TransferAuto && (iso.node == "" || iso.isolate) {
				return usagef(cmd, "--transfer-mode goes with --node alone (--isolate takes --online)")
			}
			if iso.isolate {
				return iso.run(a, cmd, args[0], tier != "" || server != "" || pool != "", asJSON)
			}
			if iso.online {
				return usagef(cmd, "--online goes with --isolate")
			}
			if iso.node != "" {
				return a.moveToNode(cmd, args[0], iso.node, transfer, tier != "" || server != "" || pool != "", asJSON)
			}
			if tier == "" && server == "" && pool == "" {
				return usagef(cmd, "say where to: --tier, --server or --pool")
			}
			opts := &tenancy.MoveOpts{Server: server, Pool: pool, OnTable: a.tableProgress("move")}
			if tier != "" {
				t, err := tenancy.ParseTier(tier)
				if err != nil {
					return usagef(cmd, "--tier: %v", err)
				}
				opts.Tier = t
			}
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			if err := a.requireTenantMigrations(ctx, c); err != nil {
				return err
			}
			start := time.Now()
			t, err := c.Move(ctx, args[0], opts)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(tenantJSON(t))
			}
			a.printf("moved tenant %s to the %s tier (%s) in %s", t.Slug, t.Tier, placementText(t.Placement), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&tier, "tier", "", "pool, schema or database (default: the tenant's)")
	cmd.Flags().StringVar(&server, "server", "", "the server to move to (default: the tenant's)")
	cmd.Flags().StringVar(&pool, "pool", "", "with --tier pool: the pool to join (default: "+tenancy.PoolDefault+")")
	iso.add(cmd)
	cmd.Flags().StringVar(&transfer, "transfer-mode", tenancy.TransferAuto, "with --node: how Citus copies the shards (auto, force_logical or block_writes)")
	jsonFlag(cmd, &asJSON)
	return cmd
}

// tableProgress prints a line per table on stderr when it is a terminal.
func (a *app) tableProgress(verb string) func(string, int64) {
	if !isTerminal(a.stderr) {
		return nil
	}
	return func(table string, rows int64) { a.progressf("%s: %s, %d rows", verb, table, rows) }
}

// writeAtomically writes path through fn: to a new temporary file beside it, synced, then
// renamed, so that a failed or interrupted backup never leaves a file that looks complete.
// Without replace, a file that appeared at path meanwhile is kept and the write fails.
func writeAtomically(path string, replace bool, fn func(io.Writer) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.partial")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = fn(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = publish(tmp, path, replace)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// publish moves the finished tmp to path. Without replace it links (which fails if path
// exists) rather than renames (which would clobber it); where hard links are not supported it
// renames after checking again.
func publish(tmp, path string, replace bool) error {
	if replace {
		if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
			return fmt.Errorf("%s became a %s during the backup: not replaced", path, fi.Mode().Type())
		}
		return os.Rename(tmp, path)
	}
	err := os.Link(tmp, path)
	if err == nil {
		return os.Remove(tmp)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s appeared during the backup: pass --force to replace it", path)
	}
	if _, serr := os.Lstat(path); !errors.Is(serr, fs.ErrNotExist) {
		return err
	}
	return os.Rename(tmp, path)
}

// hardDeleteWithBackup is 'tenants delete SLUG --hard --yes --backup FILE': the library drops
// the placement only after the archive has been written to FILE, synced and read back. FILE is
// removed again only if the tenant was left untouched; once the drop may have begun it is kept.
func (a *app) hardDeleteWithBackup(ctx context.Context, c *tenancy.Client, slug, path string) error {
	if _, err := c.TenantGet(ctx, slug); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = c.TenantDelete(ctx, slug, &tenancy.TenantDeleteOpts{Hard: true, Backup: f})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if t, gerr := c.TenantGet(context.WithoutCancel(ctx), slug); gerr == nil && t.Status != tenancy.StatusDeleting {
			os.Remove(path)
			return err
		}
		return fmt.Errorf("%w (the archive in %s is kept)", err, path)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
