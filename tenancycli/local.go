package tenancycli

import (
	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy/internal/pglocal"
)

func localCommand(a *app) *cobra.Command {
	return group("local", "Show or stop the local PostgreSQL cluster (in ./"+DataDirDefault+", or --data-dir)",
		&cobra.Command{
			Use:   "status",
			Short: "Say whether the local cluster exists and runs",
			Args:  exactArgs(),
			RunE: func(cmd *cobra.Command, args []string) error {
				dir, err := a.dataDir()
				if err != nil {
					return err
				}
				c, running, err := pglocal.Status(cmd.Context(), dir)
				switch {
				case err != nil:
					return err
				case c == nil:
					a.printf("no local cluster in %s (`%s init` creates one)", dir, a.prog)
				case running:
					a.printf("running on 127.0.0.1:%d (data in %s, PostgreSQL binaries in %s)", c.Port, dir, c.BinDir)
				default:
					a.printf("stopped (data in %s; any command that needs it starts it)", dir)
				}
				return nil
			},
		},
		&cobra.Command{
			Use:   "stop",
			Short: "Stop the local cluster (its data is kept)",
			Args:  exactArgs(),
			RunE: func(cmd *cobra.Command, args []string) error {
				dir, err := a.dataDir()
				if err != nil {
					return err
				}
				c, running, err := pglocal.Status(cmd.Context(), dir)
				if err != nil {
					return err
				}
				if c == nil || !running {
					a.printf("not running")
					return nil
				}
				if err := pglocal.Stop(cmd.Context(), dir); err != nil {
					return err
				}
				a.printf("stopped the local cluster in %s", dir)
				return nil
			},
		},
	)
}
