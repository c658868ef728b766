package tenancycli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/internal/pglocal"
)

// ConnectOpts say where Connect finds the database, as the commands' flags do. The zero value
// (or nil) reads DATABASE_URL / TENANCY_APP_DATABASE_URL / PG* through Options.Getenv, else uses
// the local cluster in DataDirDefault.
type ConnectOpts struct {
	DatabaseURL string // the owner role (--database-url)
	AppURL      string // the application role (--app-url)
	DataDir     string // the local cluster's folder (--data-dir); DataDirDefault if empty

	// Init creates the local cluster, its roles and its database when they do not exist yet, as
	// `init` does, and then installs or upgrades the catalog and migrations (Client.Init).
	Init bool

	// MaxConns sizes the application role's pool (the owner's gets 2); 10 if 0.
	MaxConns int32

	// WarmPlacements is the client's tenancy.Config.WarmPlacements: schema-tier placements kept
	// made ahead of time, so that creating a tenant claims one.
	WarmPlacements int

	// Stderr receives progress lines (starting the local cluster); discarded if nil.
	Stderr io.Writer
}

// Connection is what Connect opened, for an application that embeds tenancycli and serves with
// the same connection its commands use (for example a `serve` or `demo` command).
type Connection struct {
	Client *tenancy.Client
	Owner  *pgxpool.Pool // the owner role
	App    *pgxpool.Pool // the application role; Client.AppPool()
	Where  string        // for messages: "database tenancy on the local cluster in .tenancy", ...

	// LocalDir is the local cluster's folder when the local cluster is used, else "".
	LocalDir string
	// StartedLocal reports that Connect started the local cluster (it was not running).
	StartedLocal bool
}

// Connect opens the connection the commands of Run would open with the same options, flags and
// environment. Close it when done; StopLocal stops a local cluster that Connect started.
func Connect(ctx context.Context, opts *Options, copts *ConnectOpts) (*Connection, error) {
	if opts == nil {
		opts = &Options{}
	}
	if copts == nil {
		copts = &ConnectOpts{}
	}
	stderr := copts.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	a := &app{opts: *opts, stdout: stderr, stderr: stderr, prog: opts.ProgramName}
	if a.prog == "" {
		a.prog = ProgramNameDefault
	}
	if a.opts.Getenv == nil {
		a.opts.Getenv = os.Getenv
	}
	a.flags.databaseURL, a.flags.appURL, a.flags.dataDir = copts.DatabaseURL, copts.AppURL, copts.DataDir
	if a.flags.dataDir == "" {
		a.flags.dataDir = DataDirDefault
	}

	conn := &Connection{}
	if !a.explicitDatabase() {
		dir, err := a.dataDir()
		if err != nil {
			return nil, err
		}
		_, running, err := pglocal.Status(ctx, dir)
		if err != nil {
			return nil, err
		}
		conn.LocalDir, conn.StartedLocal = dir, !running
	}
	ownerCfg, appCfg, where, err := a.poolConfigs(ctx, copts.Init)
	if err != nil {
		return nil, err
	}
	conn.Where = where
	shared, tenant, err := a.migrations()
	if err != nil {
		return nil, err
	}
	types, custom, err := a.lineMigrations()
	if err != nil {
		return nil, err
	}
	ownerCfg.MaxConns = 2
	appCfg.MaxConns = copts.MaxConns
	if appCfg.MaxConns <= 0 {
		appCfg.MaxConns = 10
	}
	tenancy.ConfigurePool(appCfg, a.opts.SharedSchema)
	if conn.Owner, err = pgxpool.NewWithConfig(ctx, ownerCfg); err != nil {
		return nil, fmt.Errorf("owner connection: %w", err)
	}
	if conn.App, err = pgxpool.NewWithConfig(ctx, appCfg); err != nil {
		conn.Owner.Close()
		return nil, fmt.Errorf("application connection: %w", err)
	}
	fail := func(err error) (*Connection, error) {
		conn.Close()
		return nil, err
	}
	if err := conn.Owner.Ping(ctx); err != nil {
		return fail(fmt.Errorf("connect as the owner role %s: %w", ownerCfg.ConnConfig.User, err))
	}
	if err := conn.App.Ping(ctx); err != nil {
		return fail(fmt.Errorf("connect as the application role %s: %w", appCfg.ConnConfig.User, err))
	}
	conn.Client, err = tenancy.New(&tenancy.Config{
		AppPool:          conn.App,
		OwnerPool:        conn.Owner,
		SharedSchema:     a.opts.SharedSchema,
		SharedMigrations: shared,
		TenantMigrations: tenant,
		WarmPlacements:   copts.WarmPlacements,
		TypeMigrations:   types,
		CustomMigrations: custom,
		Logger:           slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fail(err)
	}
	if copts.Init {
		if err := conn.Client.Init(ctx); err != nil {
			return fail(err)
		}
	}
	return conn, nil
}

// explicitDatabase reports whether flags or environment name a database (else: the local cluster).
func (a *app) explicitDatabase() bool {
	if a.flags.databaseURL != "" || a.opts.Getenv("DATABASE_URL") != "" {
		return true
	}
	for _, k := range pgEnv {
		if a.opts.Getenv(k) != "" {
			return true
		}
	}
	return false
}

// Close closes both pools.
func (c *Connection) Close() {
	if c.Owner != nil {
		c.Owner.Close()
	}
	if c.App != nil {
		c.App.Close()
	}
}

// StopLocal stops the local cluster if Connect started it; otherwise it does nothing.
func (c *Connection) StopLocal(ctx context.Context) error {
	if c.LocalDir == "" || !c.StartedLocal {
		return nil
	}
	return pglocal.Stop(ctx, c.LocalDir)
}
