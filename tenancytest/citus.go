package tenancytest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/pglocal"
)

// RequireCitusEnv, set to 1, turns the skip of a Citus test on a machine without Citus into a
// failure: CI sets it, so that CI never skips the Citus tests.
const RequireCitusEnv = "TENANCY_REQUIRE_CITUS"

// citusSettings are what every node of the test Citus cluster needs (docs/citus.md). wal_level
// logical lets Citus move shards and schemas without blocking writes.
var citusSettings = map[string]string{
	"shared_preload_libraries": "'citus'",
	"citus.node_conninfo":      "'sslmode=disable'",
	"wal_level":                "logical",
	// Each test database holds a Citus maintenance daemon (a background worker) on every node,
	// and each logical-replication shard move an apply worker on its target: the default 8
	// runs out with a few databases kept for inspection, and a move then waits forever.
	"max_worker_processes": "64",
}

// Citus is the test run's Citus cluster: a coordinator (the Server that test databases are made
// on, as with Cluster) and its workers, each a local PostgreSQL cluster in CitusClusterDir.
type Citus struct {
	*Server
	Workers []*CitusNode

	mu    sync.Mutex
	spare *CitusNode // a worker that no database has by default: for tests that add a node
}

// CitusOptions describe how a Citus test database is set up, beyond Options.
type CitusOptions struct {
	// SchemaSharding turns citus.enable_schema_based_sharding on for the database (ALTER
	// DATABASE ... SET) before the catalog is installed, as an operator who wants distributed
	// schemas would.
	SchemaSharding bool
}

// CitusNode is one worker of the Citus cluster.
type CitusNode struct {
	Port   int
	server *Server // superuser pool on the node's maintenance database
}

var (
	citusOnce sync.Once
	citus     *Citus
	citusErr  error
	citusSkip string
)

// CitusClusterDir is where the test run's Citus cluster lives: node0 (the coordinator), node1,
// node2 (the workers) and node3 (a spare worker, started on demand).
func CitusClusterDir() string {
	return filepath.Join(os.TempDir(), "tenancy-citus-"+strconv.Itoa(os.Getuid()))
}

// CitusInstalled reports whether the Citus extension is installed beside the PostgreSQL server
// binaries that the harness uses, and if not, why.
func CitusInstalled() (bool, string) {
	bin, err := pglocal.FindBinaries()
	if err != nil {
		return false, err.Error()
	}
	// The binaries may be links (/usr/local/bin/postgres -> /usr/lib/postgresql/15/bin/postgres).
	if real, err := filepath.EvalSymlinks(filepath.Join(bin, "postgres")); err == nil {
		bin = filepath.Dir(real)
	}
	lib := filepath.Join(filepath.Dir(bin), "lib", "citus.so")
	if _, err := os.Stat(lib); err != nil {
		return false, fmt.Sprintf("Citus is not installed (no %s): run /work/shared/citus/build.sh or see docs/citus.md", lib)
	}
	return true, ""
}

// CitusCluster returns the test run's Citus cluster, starting it the first time. The test is
// skipped when Citus is not installed, or fails if TENANCY_REQUIRE_CITUS=1.
func CitusCluster(tb testing.TB) *Citus {
	tb.Helper()
	citusOnce.Do(func() {
		if ok, why := CitusInstalled(); !ok {
			citusSkip = why
			return
		}
		citus, citusErr = startCitus(context.Background())
	})
	if citusSkip != "" {
		if os.Getenv(RequireCitusEnv) == "1" {
			tb.Fatalf("tenancytest: %s=1 but %s", RequireCitusEnv, citusSkip)
		}
		tb.Skipf("tenancytest: %s", citusSkip)
	}
	if citusErr != nil {
		tb.Fatalf("tenancytest: citus cluster: %v", citusErr)
	}
	return citus
}

func startNode(ctx context.Context, i int) (*pglocal.Cluster, error) {
	return pglocal.Start(ctx, filepath.Join(CitusClusterDir(), "node"+strconv.Itoa(i)), &pglocal.Options{Fast: true, Settings: citusSettings})
}

func startCitus(ctx context.Context) (*Citus, error) {
	coord, err := startNode(ctx, 0)
	if err != nil {
		return nil, err
	}
	c := &Citus{}
	for i := 1; i <= 2; i++ {
		n, err := startWorker(ctx, i, coord.Password)
		if err != nil {
			return nil, err
		}
		c.Workers = append(c.Workers, n)
	}
	if c.Server, err = newServerWith(ctx, coord.URL("postgres"), c.nodes()); err != nil {
		return nil, err
	}
	return c, nil
}

// startWorker starts worker i and gives its postgres the coordinator's password: Citus copies
// the coordinator's roles, passwords included, to the workers it adds, so they end up with it
// anyway after the first test database.
func startWorker(ctx context.Context, i int, password string) (*CitusNode, error) {
	w, err := startNode(ctx, i)
	if err != nil {
		return nil, fmt.Errorf("citus worker %d: %w", i, err)
	}
	superURL := w.URLFor("postgres", password, "postgres")
	if conn, err := pgx.Connect(ctx, w.URL("postgres")); err == nil {
		_, err = conn.Exec(ctx, `ALTER ROLE postgres PASSWORD '`+strings.ReplaceAll(password, "'", "''")+`'`)
		conn.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("citus worker %d: %w", i, err)
		}
	}
	cfg, err := pgxpool.ParseConfig(superURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &CitusNode{Port: w.Port, server: &Server{superURL: superURL, admin: pool, templates: map[string]bool{}}}, nil
}

func (c *Citus) nodes() []*Server {
	var out []*Server
	for _, w := range c.Workers {
		out = append(out, w.server)
	}
	return out
}

// NewCitus returns a fresh database for the test on the Citus cluster: the same database on
// the coordinator and every worker, with the citus extension, the workers added, and the
// catalog and opts' migrations installed by the Client. No template is used (a copied
// database would carry the Citus metadata of another). It is dropped on every node when the
// test ends, or kept if the test failed.
func NewCitus(tb testing.TB, opts *Options, copts *CitusOptions) *DB {
	tb.Helper()
	if opts == nil {
		opts = &Options{}
	}
	if copts == nil {
		copts = &CitusOptions{}
	}
	c := CitusCluster(tb)
	ctx := context.Background()
	db, err := c.newDB(ctx, opts, copts)
	for try := 0; err != nil && try < 3 && metadataRace(err); try++ {
		// Test databases made at once (parallel tests, other test processes) add the same
		// workers, whose roles are shared by every database there: citus_add_node then fails
		// with "tuple concurrently updated". newDB dropped what it made; a fresh try succeeds.
		db, err = c.newDB(ctx, opts, copts)
	}
	if err != nil {
		tb.Fatalf("tenancytest: citus: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			db.OwnerPool.Close()
			db.AppPool.Close()
			tb.Logf("tenancytest: kept database %s on the citus cluster for inspection: psql %q", db.Name, db.AdminURL)
			return
		}
		db.close()
	})
	if err := db.Client.Init(ctx); err != nil {
		tb.Fatalf("tenancytest: citus: install catalog and migrations: %v", err)
	}
	return db
}

func (c *Citus) newDB(ctx context.Context, opts *Options, copts *CitusOptions) (*DB, error) {
	if err := c.ensureOwner(ctx, opts.Owner); err != nil {
		return nil, err
	}
	name := "test_" + randomHex(6)
	all := append([]*Server{c.Server}, c.nodes()...)
	db := &DB{Name: name}
	for _, s := range all {
		if err := s.createCitusDatabase(ctx, name, opts.Owner.Role()); err != nil {
			for _, s := range all {
				s.dropDatabases(name)
			}
			return nil, err
		}
	}
	fail := func(err error) (*DB, error) {
		for _, s := range all {
			s.dropDatabases(name)
		}
		return nil, err
	}
	// The coordinator's metadata: how it logs in to the nodes, itself, the workers.
	err := c.asSuper(ctx, name, func(conn *pgx.Conn) error {
		for _, role := range []string{"postgres", OwnerRole, BypassOwnerRole, SuperOwnerRole, AppRole} {
			if _, err := conn.Exec(ctx, `INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo)
				SELECT 0, $1, $2 WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role, "password="+c.rolePassword(role)); err != nil {
				return err
			}
		}
		if _, err := conn.Exec(ctx, `SELECT citus_set_coordinator_host('127.0.0.1', $1)`, c.port()); err != nil {
			return err
		}
		for _, w := range c.Workers {
			if _, err := conn.Exec(ctx, `SELECT citus_add_node('127.0.0.1', $1)`, w.Port); err != nil {
				return err
			}
		}
		if copts.SchemaSharding {
			if _, err := conn.Exec(ctx, `ALTER DATABASE `+name+` SET citus.enable_schema_based_sharding TO on`); err != nil {
				return err
			}
		}
		return distributeRoles(ctx, conn, opts.Owner.Role())
	})
	if err != nil {
		return fail(fmt.Errorf("citus metadata: %w", err))
	}
	if err := c.copyAuthinfo(ctx, name, c.nodes()); err != nil {
		return fail(err)
	}
	opened, err := c.open(ctx, name, opts)
	if err != nil {
		return fail(err)
	}
	*db = *opened
	db.others = c.nodes()
	return db, nil
}

// metadataRace reports an error of citus_add_node racing another database's on the same workers.
func metadataRace(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "citus metadata") &&
		(strings.Contains(msg, "concurrently updated") || strings.Contains(msg, "marked as essential"))
}

// AddWorker starts (once) a third worker and adds it to db's cluster metadata, as an operator
// adding a machine would. Other tests' databases do not see it.
func (c *Citus) AddWorker(tb testing.TB, db *DB) *CitusNode {
	tb.Helper()
	ctx := context.Background()
	c.mu.Lock()
	if c.spare == nil {
		cfg, _ := pgx.ParseConfig(c.superURL)
		n, err := startWorker(ctx, 3, cfg.Password)
		if err != nil {
			c.mu.Unlock()
			tb.Fatalf("tenancytest: %v", err)
		}
		c.spare = n
	}
	n := c.spare
	c.mu.Unlock()
	if err := c.ensureRolesOn(ctx, n.server, db.owner); err != nil {
		tb.Fatalf("tenancytest: %v", err)
	}
	if err := n.server.createCitusDatabase(ctx, db.Name, db.OwnerRole); err != nil {
		tb.Fatalf("tenancytest: %v", err)
	}
	db.others = append(db.others, n.server)
	err := c.asSuper(ctx, db.Name, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `SELECT citus_add_node('127.0.0.1', $1)`, n.Port)
		return err
	})
	if err != nil {
		tb.Fatalf("tenancytest: add worker: %v", err)
	}
	// After citus_add_node, which copies the roles there.
	if err := c.copyAuthinfo(ctx, db.Name, []*Server{n.server}); err != nil {
		tb.Fatalf("tenancytest: %v", err)
	}
	return n
}

// distributeRoles has Citus record the owner role, and the application role it is granted, as
// objects that exist on every node. Citus propagates a role whenever an object that depends on
// it (a function it owns, ...) goes to the workers, with ALTER ROLE ... NOSUPERUSER, which only a
// superuser may run: so a superuser does it once, as an operator would (docs/citus.md), by
// propagating a throwaway function that the owner owns.
func distributeRoles(ctx context.Context, conn *pgx.Conn, owner string) error {
	_, err := conn.Exec(ctx, `
		CREATE FUNCTION public.tenancytest_roles() RETURNS int LANGUAGE sql AS 'SELECT 1';
		ALTER FUNCTION public.tenancytest_roles() OWNER TO `+pgx.Identifier{owner}.Sanitize()+`;
		DROP FUNCTION public.tenancytest_roles()`)
	return err
}

// SuperURL is a superuser's URL (postgres, with the same password on every node) for db's
// database on the coordinator (the Citus functions that move shards and rebalance want a superuser).
func (c *Citus) SuperURL(db string) string {
	return c.URL("", db)
}

// rolePassword is role's password on every node.
func (c *Citus) rolePassword(role string) string {
	if role == "postgres" {
		cfg, _ := pgx.ParseConfig(c.superURL)
		return cfg.Password
	}
	return c.password(role)
}

func (c *Citus) port() int {
	u, _ := pgx.ParseConfig(c.superURL)
	return int(u.Port)
}

// asSuper runs f on a superuser connection to database name on the coordinator.
func (c *Citus) asSuper(ctx context.Context, name string, f func(*pgx.Conn) error) error {
	conn, err := pgx.Connect(ctx, c.SuperURL(name))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return f(conn)
}

// inDatabase runs f on a superuser connection to database name on s.
func (s *Server) inDatabase(ctx context.Context, name string, f func(*pgx.Conn) error) error {
	conn, err := pgx.Connect(ctx, s.URL("", name))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return f(conn)
}

// createCitusDatabase creates database name owned by owner, with the citus extension.
func (s *Server) createCitusDatabase(ctx context.Context, name, owner string) error {
	if _, err := s.admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, name, owner)); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	return s.inDatabase(ctx, name, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `CREATE EXTENSION citus`)
		if err != nil && strings.Contains(err.Error(), "shared_preload_libraries") {
			err = fmt.Errorf("%w (the node was started without Citus: stop it, pg_ctl -D %s stop, and rerun)", err, CitusClusterDir())
		}
		return err
	})
}
