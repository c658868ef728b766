package tenancycli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/internal/pglocal"
	"github.com/tenancy-go/tenancy/internal/pgrole"
)

// Names on the local cluster.
const (
	LocalOwnerRole = "tenancy_owner"
	LocalAppRole   = "tenancy_app"
	LocalDatabase  = "tenancy"
	rolesFile      = "roles.json"
)

// connection is what a command talks to: the owner and application pools and a client over them.
type connection struct {
	owner  *pgxpool.Pool
	app    *pgxpool.Pool
	client *tenancy.Client
	where  string // for messages: "database tenancy on the local cluster in .tenancy", ...
}

// localRoles is roles.json: the credentials `init` gave the two roles of the local cluster.
type localRoles struct {
	Database string     `json:"database"`
	Owner    roleSecret `json:"owner"`
	App      roleSecret `json:"app"`
}

type roleSecret struct {
	Role     string `json:"role"`
	Password string `json:"password"`
}

var errNoAppURL = errors.New("no application role: with --database-url, DATABASE_URL or PG* set, also pass --app-url or set TENANCY_APP_DATABASE_URL (the non-owner role the application connects as; tenancy grants it access to every tenant schema it creates)")

// pgEnv are the libpq variables that name a server; any of them set means "use the PG* variables".
var pgEnv = []string{"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"}

// client opens (once) the connection described by the flags and environment and returns a client.
// forInit creates the local cluster, its roles and its database when they do not exist yet.
func (a *app) client(ctx context.Context, forInit bool) (*tenancy.Client, error) {
	if a.conn != nil {
		return a.conn.client, nil
	}
	ownerCfg, appCfg, where, err := a.poolConfigs(ctx, forInit)
	if err != nil {
		return nil, err
	}
	shared, tenant, err := a.migrations()
	if err != nil {
		return nil, err
	}
	types, custom, err := a.lineMigrations()
	if err != nil {
		return nil, err
	}
	ownerCfg.MaxConns = 2
	appCfg.MaxConns = 2
	tenancy.ConfigurePool(appCfg, a.opts.SharedSchema)
	c := &connection{where: where}
	if c.owner, err = pgxpool.NewWithConfig(ctx, ownerCfg); err != nil {
		return nil, fmt.Errorf("owner connection: %w", err)
	}
	if c.app, err = pgxpool.NewWithConfig(ctx, appCfg); err != nil {
		c.owner.Close()
		return nil, fmt.Errorf("application connection: %w", err)
	}
	fail := func(err error) (*tenancy.Client, error) {
		c.owner.Close()
		c.app.Close()
		return nil, err
	}
	// Connect now, so that a wrong URL or password is reported as such and not as a failed query.
	if err := c.owner.Ping(ctx); err != nil {
		return fail(fmt.Errorf("connect as the owner role %s: %w", ownerCfg.ConnConfig.User, err))
	}
	if err := c.app.Ping(ctx); err != nil {
		return fail(fmt.Errorf("connect as the application role %s: %w", appCfg.ConnConfig.User, err))
	}
	cfg := &tenancy.Config{
		AppPool:          c.app,
		OwnerPool:        c.owner,
		SharedSchema:     a.opts.SharedSchema,
		SharedMigrations: shared,
		TenantMigrations: tenant,
		TypeMigrations:   types,
		CustomMigrations: custom,
		BaseDomains:      a.hostList(a.opts.BaseDomains, a.flags.baseDomains, "TENANCY_BASE_DOMAINS"),
		PublicHosts:      a.hostList(a.opts.PublicHosts, a.flags.publicHosts, "TENANCY_PUBLIC_HOSTS"),
		ServerPassword: func(server string, app bool) string {
			return a.opts.Getenv(tenancy.ServerPasswordEnv(server, app))
		},
		Logger: slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if a.opts.ClientConfig != nil {
		a.opts.ClientConfig(cfg)
	}
	c.client, err = tenancy.New(cfg)
	if err != nil {
		return fail(err)
	}
	a.conn = c // closed when the command returns
	return c.client, nil
}

// hostList joins the hosts of Options, the flag and the comma-separated environment variable.
func (a *app) hostList(opts, flag []string, env string) []string {
	out := append(append([]string(nil), opts...), flag...)
	for _, h := range strings.Split(a.opts.Getenv(env), ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

func (a *app) close() {
	if a.conn != nil {
		a.conn.owner.Close()
		a.conn.app.Close()
		a.conn = nil // a tree run again connects again
	}
}

// poolConfigs resolves the owner and application connections: --database-url, DATABASE_URL, the
// PG* variables, else the local cluster.
func (a *app) poolConfigs(ctx context.Context, forInit bool) (owner, app *pgxpool.Config, where string, err error) {
	getenv := a.opts.Getenv
	ownerURL, source := a.flags.databaseURL, "--database-url"
	if ownerURL == "" {
		ownerURL, source = getenv("DATABASE_URL"), "DATABASE_URL"
	}
	explicit := ownerURL != ""
	if !explicit {
		for _, k := range pgEnv {
			if getenv(k) != "" {
				explicit, source = true, "the PG* variables"
				break
			}
		}
	}
	if !explicit {
		if a.flags.appURL != "" {
			return nil, nil, "", errors.New("--app-url needs --database-url (or DATABASE_URL, or PG*) for the owner role")
		}
		return a.localConfigs(ctx, forInit)
	}
	// An empty string makes pgx read the PG* variables, as libpq would.
	if owner, err = pgxpool.ParseConfig(ownerURL); err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", source, err)
	}
	appURL, appSource := a.flags.appURL, "--app-url"
	if appURL == "" {
		appURL, appSource = getenv("TENANCY_APP_DATABASE_URL"), "TENANCY_APP_DATABASE_URL"
	}
	if appURL == "" {
		return nil, nil, "", errNoAppURL
	}
	if app, err = pgxpool.ParseConfig(appURL); err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", appSource, err)
	}
	where = fmt.Sprintf("database %s on %s:%d", owner.ConnConfig.Database, owner.ConnConfig.Host, owner.ConnConfig.Port)
	return owner, app, where, nil
}

// localConfigs starts the local cluster if needed and returns its two roles' configurations.
// Only init creates a cluster, roles or a database; other commands ask for init first.
func (a *app) localConfigs(ctx context.Context, forInit bool) (owner, app *pgxpool.Config, where string, err error) {
	dir, err := a.dataDir()
	if err != nil {
		return nil, nil, "", err
	}
	roles, err := readRoles(dir)
	if err != nil {
		return nil, nil, "", err
	}
	if roles == nil && !forInit {
		return nil, nil, "", fmt.Errorf("no database named and no local cluster initialised in %s: run `%s init` (or set DATABASE_URL)", a.flags.dataDir, a.prog)
	}
	cl, err := pglocal.Start(ctx, dir, &pglocal.Options{Log: func(format string, args ...any) {
		a.progressf("local PostgreSQL: "+format, args...)
	}})
	if err != nil {
		return nil, nil, "", err
	}
	if cl.Started {
		a.progressf("local PostgreSQL running on 127.0.0.1:%d (data in %s; stop it with `%s local stop`)", cl.Port, a.flags.dataDir, a.prog)
	}
	if forInit {
		if roles, err = a.setUpLocal(ctx, cl, roles); err != nil {
			return nil, nil, "", err
		}
	}
	if owner, err = pgxpool.ParseConfig(cl.URLFor(roles.Owner.Role, roles.Owner.Password, roles.Database)); err != nil {
		return nil, nil, "", err
	}
	if app, err = pgxpool.ParseConfig(cl.URLFor(roles.App.Role, roles.App.Password, roles.Database)); err != nil {
		return nil, nil, "", err
	}
	return owner, app, fmt.Sprintf("database %s on the local cluster in %s", roles.Database, a.flags.dataDir), nil
}

// setUpLocal creates the owner and application roles and the database on the local cluster, or
// brings existing ones in line with roles.json. The passwords are written before the roles are
// created, so that a crash in between leaves nothing a rerun cannot log in with.
func (a *app) setUpLocal(ctx context.Context, cl *pglocal.Cluster, roles *localRoles) (*localRoles, error) {
	if roles == nil {
		roles = &localRoles{
			Database: LocalDatabase,
			Owner:    roleSecret{Role: LocalOwnerRole, Password: randomHex(16)},
			App:      roleSecret{Role: LocalAppRole, Password: randomHex(16)},
		}
		if err := writeRoles(cl.Dir, roles); err != nil {
			return nil, err
		}
	}
	su, err := pgx.Connect(ctx, cl.URL("postgres"))
	if err != nil {
		return nil, fmt.Errorf("local PostgreSQL: %w", err)
	}
	defer su.Close(context.WithoutCancel(ctx))
	for _, r := range []struct {
		secret roleSecret
		attrs  string
	}{
		{roles.Owner, "LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS NOCREATEROLE"},
		{roles.App, "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"},
	} {
		created, err := pgrole.Ensure(ctx, su, r.secret.Role, r.attrs, r.secret.Password)
		if err != nil {
			return nil, err
		}
		if created {
			a.printf("created role %s", r.secret.Role)
		}
	}
	// The owner may end the application's sessions on a database it drops (a database-tier
	// tenant deleted or moved): DROP DATABASE ... WITH (FORCE) needs that.
	if _, err := su.Exec(ctx, fmt.Sprintf(`GRANT %s TO %s`, pgx.Identifier{roles.App.Role}.Sanitize(), pgx.Identifier{roles.Owner.Role}.Sanitize())); err != nil {
		return nil, fmt.Errorf("role %s: %w", roles.Owner.Role, err)
	}
	var dbExists bool
	if err := su.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, roles.Database).Scan(&dbExists); err != nil {
		return nil, err
	}
	if !dbExists {
		if _, err := su.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s OWNER %s`,
			pgx.Identifier{roles.Database}.Sanitize(), pgx.Identifier{roles.Owner.Role}.Sanitize())); err != nil {
			return nil, fmt.Errorf("create database %s: %w", roles.Database, err)
		}
		a.printf("created database %s owned by %s", roles.Database, roles.Owner.Role)
	}
	return roles, nil
}

// dataDir is --data-dir made absolute: pg_ctl may run as another user from another folder.
func (a *app) dataDir() (string, error) {
	return filepath.Abs(a.flags.dataDir)
}

func readRoles(dir string) (*localRoles, error) {
	data, err := os.ReadFile(filepath.Join(dir, rolesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r localRoles
	if err := json.Unmarshal(data, &r); err != nil || r.Database == "" || r.Owner.Role == "" || r.App.Role == "" {
		return nil, fmt.Errorf("%s is damaged (remove it and run init again): %v", filepath.Join(dir, rolesFile), err)
	}
	return &r, nil
}

func writeRoles(dir string, r *localRoles) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(r, "", "  ")
	tmp := filepath.Join(dir, rolesFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, rolesFile))
}

// migrations returns the application's migration lines: --migrations or TENANCY_MIGRATIONS if
// set, else those compiled in through Options.
func (a *app) migrations() (shared, tenant fs.FS, err error) {
	dir := a.flags.migrations
	if dir == "" {
		dir = a.opts.Getenv("TENANCY_MIGRATIONS")
	}
	if dir == "" {
		return a.opts.SharedMigrations, a.opts.TenantMigrations, nil
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, nil, fmt.Errorf("migrations folder %s: not a folder", dir)
	}
	sub := func(name string) fs.FS {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.IsDir() {
			return os.DirFS(filepath.Join(dir, name))
		}
		return nil
	}
	shared, tenant = sub("shared"), sub("tenant")
	if shared == nil && tenant == nil {
		return nil, nil, fmt.Errorf("migrations folder %s has neither shared/ nor tenant/", dir)
	}
	return shared, tenant, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// lineMigrations returns the tenant types' lines and the tenants' own: DIR/types/<type>/ and
// DIR/custom/ of --migrations or TENANCY_MIGRATIONS if set, else those compiled in.
func (a *app) lineMigrations() (types map[string]fs.FS, custom fs.FS, err error) {
	dir := a.flags.migrations
	if dir == "" {
		dir = a.opts.Getenv("TENANCY_MIGRATIONS")
	}
	if dir == "" {
		return a.opts.TypeMigrations, a.opts.CustomMigrations, nil
	}
	entries, err := os.ReadDir(filepath.Join(dir, "types"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("migrations folder %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			if types == nil {
				types = map[string]fs.FS{}
			}
			types[e.Name()] = os.DirFS(filepath.Join(dir, "types", e.Name()))
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "custom")); err == nil && fi.IsDir() {
		custom = os.DirFS(filepath.Join(dir, "custom"))
	}
	return types, custom, nil
}
