package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// Server is a PostgreSQL server that placements can live on besides the catalog's own, which is
// called ServerDefault.
type Server struct {
	Name    string `json:"name"`
	URL     string `json:"url"`     // the owner role's URL, password redacted
	AppURL  string `json:"app_url"` // the application role's URL, password redacted
	Tenants int    `json:"tenants"` // tenants placed there
	// Kind is ServerKindPostgres, or ServerKindCitus for the coordinator of a Citus cluster
	// (docs/citus.md), detected when the server was added.
	Kind string `json:"kind"`
}

// Server kinds (Server.Kind, Client.ServerKind).
const (
	ServerKindPostgres = catalog.ServerKindPostgres
	ServerKindCitus    = catalog.ServerKindCitus
)

// ServerDefault names the catalog's own server in APIs and on the command line.
const ServerDefault = placement.DefaultServer

var serverNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

type serverCache struct {
	mu    sync.Mutex
	confs map[string]*placement.ServerConf
}

// serverConfig returns how to reach server name ("" is the catalog's own).
func (c *Client) serverConfig(ctx context.Context, name string) (*placement.ServerConf, error) {
	if name == "" {
		if c.owner == nil {
			return nil, ErrReadOnly
		}
		home, err := c.catalogDatabase(ctx)
		if err != nil {
			return nil, err
		}
		return &placement.ServerConf{Owner: c.owner.Config(), App: c.app.Config(), Home: home}, nil
	}
	c.servers.mu.Lock()
	sc, ok := c.servers.confs[name]
	c.servers.mu.Unlock()
	if ok {
		return sc, nil
	}
	var ownerURL, appURL string
	var err error
	if c.owner != nil {
		ownerURL, appURL, err = catalog.ServerURLs(ctx, c.owner, name)
	} else {
		appURL, err = catalog.ServerAppURL(ctx, c.app, name)
	}
	if err != nil {
		return nil, notFoundOr(err, ErrServerNotFound, name)
	}
	sc, err = c.parseServer(name, ownerURL, appURL)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", name, err)
	}
	c.servers.mu.Lock()
	if c.servers.confs == nil {
		c.servers.confs = map[string]*placement.ServerConf{}
	}
	c.servers.confs[name] = sc
	c.servers.mu.Unlock()
	return sc, nil
}

// parseServer parses a server's URLs and gives each role its password from Config.ServerPassword
// (by default the environment) when it supplies one. Otherwise pgx's own sources apply: a
// password left in the URL by an older release, PGPASSWORD, the passfile parameter, PGPASSFILE
// or ~/.pgpass.
func (c *Client) parseServer(name, ownerURL, appURL string) (*placement.ServerConf, error) {
	sc := &placement.ServerConf{}
	var err error
	if ownerURL != "" {
		if sc.Owner, err = pgxpool.ParseConfig(ownerURL); err != nil {
			return nil, fmt.Errorf("owner URL: %w", err)
		}
		setPassword(sc.Owner.ConnConfig, c.serverPassword(name, false))
		sc.Home = sc.Owner.ConnConfig.Database
	}
	if sc.App, err = pgxpool.ParseConfig(appURL); err != nil {
		return nil, fmt.Errorf("application URL: %w", err)
	}
	setPassword(sc.App.ConnConfig, c.serverPassword(name, true))
	if sc.Home == "" {
		sc.Home = sc.App.ConnConfig.Database
	}
	if sc.Home == "" {
		return nil, errors.New("the URL must name a database")
	}
	c.carryTracers(sc)
	return sc, nil
}

// ServerAdd records another PostgreSQL server. ownerURL connects as a role that may create
// databases and owns what tenancy creates there; appURL as the application role (no superuser,
// no BYPASSRLS). Both name the server's home database, which receives the small placement
// catalog that schema-tier placements there need. Both connections are tried first.
//
// The URLs are kept in the catalog, so a URL with a password is refused: every process that
// connects to the server finds the passwords through Config.ServerPassword, by default the
// environment variables named by ServerPasswordEnv, or else in a password file (the URL's
// passfile parameter, PGPASSFILE or ~/.pgpass).
func (c *Client) ServerAdd(ctx context.Context, name, ownerURL, appURL string) (*Server, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	if !serverNamePattern.MatchString(name) || name == ServerDefault {
		return nil, fmt.Errorf("%w: %q (want 1-63 of a-z, 0-9, '_' and '-', starting with a letter; not %q)", ErrInvalidServer, truncate(name, 60), ServerDefault)
	}
	for _, u := range []struct{ what, url string }{{"owner", ownerURL}, {"application", appURL}} {
		has, err := hasPassword(u.url)
		if err != nil {
			return nil, fmt.Errorf("%w: the %s URL cannot be parsed", ErrInvalidServer, u.what) // not echoed: it may hold a password
		}
		if has {
			return nil, fmt.Errorf("%w: the %s URL carries a password, which the catalog would keep in plain text: remove it and supply it in %s, in a password file (the URL's passfile parameter, PGPASSFILE or ~/.pgpass) or through Config.ServerPassword",
				ErrInvalidServer, u.what, ServerPasswordEnv(name, u.what == "application"))
		}
	}
	sc, err := c.parseServer(name, ownerURL, appURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidServer, err)
	}
	if sc.Owner == nil {
		return nil, fmt.Errorf("%w: the owner URL is required", ErrInvalidServer)
	}
	if sc.Owner.ConnConfig.Database != sc.App.ConnConfig.Database {
		return nil, fmt.Errorf("%w: both URLs must name the same database", ErrInvalidServer)
	}
	app, err := pgx.ConnectConfig(ctx, sc.App.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("%w: application URL: %v", ErrInvalidServer, err)
	}
	var super, bypass bool
	err = app.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&super, &bypass)
	app.Close(ctx)
	if err != nil {
		return nil, err
	}
	if super || bypass {
		return nil, fmt.Errorf("%w: the application role of %s must not be a superuser nor bypass RLS", ErrInvalidServer, name)
	}
	owner, err := pgx.ConnectConfig(ctx, sc.Owner.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("%w: owner URL: %v", ErrInvalidServer, err)
	}
	defer owner.Close(context.WithoutCancel(ctx))
	if err := c.env.InstallHome(ctx, owner, sc.App.ConnConfig.User); err != nil {
		return nil, fmt.Errorf("server %s: %w", name, err)
	}
	kind, err := catalog.ServerKind(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", name, err)
	}
	err = catalog.ServerInsert(ctx, admin, name, ownerURL, appURL)
	if isUniqueViolation(err) {
		return nil, fmt.Errorf("%w: %s", ErrServerExists, name)
	}
	if err == nil {
		err = catalog.ServerSetKind(ctx, admin, name, kind)
	}
	if err != nil {
		return nil, notFoundOr(err, ErrServerNotFound, name)
	}
	return &Server{Name: name, URL: redact(ownerURL), AppURL: redact(appURL), Kind: kind}, nil
}

// ServerList lists the servers besides the default one, with how many tenants each holds.
func (c *Client) ServerList(ctx context.Context) ([]Server, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	rows, err := catalog.ServerList(ctx, admin)
	if err != nil {
		return nil, notFoundOr(err, ErrServerNotFound, "")
	}
	kinds, err := catalog.ServerKinds(ctx, admin)
	if err != nil {
		return nil, err
	}
	out := make([]Server, len(rows))
	for i, s := range rows {
		out[i] = Server{Name: s.Name, URL: redact(s.URL), AppURL: redact(s.AppURL), Tenants: s.Tenants, Kind: kinds[s.Name]}
	}
	return out, nil
}

// ServerKind reports whether server name (ServerDefault for the catalog's own) is plain
// PostgreSQL (ServerKindPostgres) or the coordinator of a Citus cluster (ServerKindCitus): the
// catalog's own is detected on its database, the others as ServerAdd recorded them.
func (c *Client) ServerKind(ctx context.Context, name string) (string, error) {
	if c.owner == nil {
		return "", ErrReadOnly
	}
	if name == ServerDefault {
		name = ""
	}
	if name != "" {
		if _, err := c.serverConfig(ctx, name); err != nil {
			return "", err
		}
	}
	return c.env.ServerKind(ctx, name)
}

// ServerRemove forgets a server. It is refused while any placement lives there.
func (c *Client) ServerRemove(ctx context.Context, name string) error {
	admin, err := c.ownerPool()
	if err != nil {
		return err
	}
	placements, err := catalog.ServerDelete(ctx, admin, name)
	if err != nil {
		return notFoundOr(err, ErrServerNotFound, name)
	}
	if placements > 0 {
		return fmt.Errorf("%w: %s holds %d placements (move its tenants first)", ErrServerInUse, name, placements)
	}
	c.servers.mu.Lock()
	delete(c.servers.confs, name)
	c.servers.mu.Unlock()
	return nil
}

// ServerPasswordEnv names the environment variable that, by default, holds the password of the
// owner role (app false) or the application role (app true) of server name:
// TENANCY_SERVER_<NAME>_PASSWORD and TENANCY_SERVER_<NAME>_APP_PASSWORD, NAME upper-cased with
// '-' as '_'.
func ServerPasswordEnv(name string, app bool) string {
	v := "TENANCY_SERVER_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if app {
		return v + "_APP_PASSWORD"
	}
	return v + "_PASSWORD"
}

func (c *Client) serverPassword(name string, app bool) string {
	if c.serverPW != nil {
		return c.serverPW(name, app)
	}
	return os.Getenv(ServerPasswordEnv(name, app))
}

func setPassword(cfg *pgx.ConnConfig, pw string) {
	if pw == "" {
		return
	}
	cfg.Password = pw
}

// kvPassword finds password=... in a keyword/value connection string.
var kvPassword = regexp.MustCompile(`(^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S*)`)

func isURL(raw string) bool {
	return strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://")
}

// hasPassword reports whether a connection string carries a password.
func hasPassword(raw string) (bool, error) {
	if !isURL(raw) {
		return kvPassword.MatchString(raw), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return false, err
	}
	_, has := u.User.Password()
	return has || u.Query().Has("password"), nil
}

// redact hides the password of a connection string (a server recorded by an older release may
// have one): in a URL's user or query, or a keyword/value password=.
func redact(raw string) string {
	if !isURL(raw) {
		return kvPassword.ReplaceAllString(raw, "${1}password=xxxxx")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that cannot be parsed)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
