// Package tenancytest gives each test a database of its own on a real PostgreSQL, migrated and
// ready, in milliseconds: one cluster per test run, one template database per set of migrations,
// and CREATE DATABASE ... TEMPLATE for each test. Tests run with t.Parallel() and never see each
// other. A failed test's database is kept and its name printed.
//
// The cluster is TEST_DATABASE_URL when set (a role that may create roles and databases; a
// superuser for the BYPASSRLS and superuser owners), or a
// local cluster that tenancytest starts from the installed PostgreSQL binaries in
// $TMPDIR/tenancy-test-<uid> and leaves running for the next run.
//
// Every test database has two roles, as production should: an owner role that owns the catalog
// and the tenant schemas and runs DDL (DB.OwnerPool), and an application role that is not a
// superuser, has no BYPASSRLS and owns nothing (DB.AppPool, and the Client's binding). Isolation
// tests must use the application role: RLS tests run as an owner or superuser prove nothing.
//
// The owner role is a plain one unless Options.Owner asks for a BYPASSRLS or a superuser owner,
// as many installations configure (DATABASE_URL=postgres://postgres@...): the tests of
// administrative paths run under all of Owners. The roles are tenancytest's own (tenancytest_...),
// so a shared TEST_DATABASE_URL server's tenancy_owner and tenancy_app are never touched.
//
// EachTier runs a test once per tier, each run with a tenant of that tier, so that an
// application's code meets the database tier in its own tests.
//
// NewCitus gives a test a database on a Citus cluster (a coordinator and two workers, started
// from the installed binaries in $TMPDIR/tenancy-citus-<uid>); such a test skips when Citus is
// not installed, or fails if TENANCY_REQUIRE_CITUS=1 (docs/citus.md).
package tenancytest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/lockkey"
	"github.com/tenancy-go/tenancy/internal/pglocal"
	"github.com/tenancy-go/tenancy/internal/pgrole"
)

// Role names created on the test cluster.
const (
	OwnerRole       = "tenancytest_owner"           // the plain owner (OwnerPlain)
	BypassOwnerRole = "tenancytest_owner_bypassrls" // OwnerBypassRLS
	SuperOwnerRole  = "tenancytest_owner_super"     // OwnerSuperuser
	AppRole         = "tenancytest_app"
)

// Owner is the kind of role that owns a test database and runs the Client's administrative work.
type Owner int

const (
	// OwnerPlain owns the database: no SUPERUSER, no BYPASSRLS, so forced RLS applies to it.
	OwnerPlain Owner = iota
	// OwnerBypassRLS owns the database and has BYPASSRLS: RLS policies never apply to it.
	OwnerBypassRLS
	// OwnerSuperuser is a superuser, as postgres is: RLS never applies to it.
	OwnerSuperuser
)

// Owners are the three owner setups, for tests that loop over them.
var Owners = []Owner{OwnerPlain, OwnerBypassRLS, OwnerSuperuser}

func (o Owner) String() string {
	switch o {
	case OwnerBypassRLS:
		return "bypassrls"
	case OwnerSuperuser:
		return "superuser"
	}
	return "plain"
}

// Role is the name of o's role on the test cluster.
func (o Owner) Role() string {
	switch o {
	case OwnerBypassRLS:
		return BypassOwnerRole
	case OwnerSuperuser:
		return SuperOwnerRole
	}
	return OwnerRole
}

func (o Owner) attrs() string {
	switch o {
	case OwnerBypassRLS:
		return "LOGIN CREATEDB NOSUPERUSER BYPASSRLS"
	case OwnerSuperuser:
		return "LOGIN SUPERUSER"
	}
	return "LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS"
}

// Options describe the database a test wants.
type Options struct {
	SharedMigrations fs.FS
	TenantMigrations fs.FS
	SharedSchema     string // tenancy.SharedSchemaDefault if empty
	// AppMaxConns caps the application role's pool; 4 if 0. Use 1 or 2 to make every
	// transaction reuse the same connections.
	AppMaxConns int32
	// AppPoolConfig, if set, may adjust the application pool's configuration (exec mode, hooks).
	AppPoolConfig func(*pgxpool.Config)
	// OwnerPoolConfig, if set, may adjust the owner pool's configuration (a tracer, ...).
	OwnerPoolConfig func(*pgxpool.Config)
	// ClientConfig, if set, may adjust the Client's configuration (an Observer, ...) before
	// tenancy.New.
	ClientConfig func(*tenancy.Config)
	// Owner is the owner role's kind; OwnerPlain if zero.
	Owner Owner
}

// DB is one test's database.
type DB struct {
	Name      string
	Server    *Server
	AdminURL  string // the owner role
	OwnerRole string // the owner role's name (Options.Owner's Role)
	AppURL    string // the application role
	OwnerPool *pgxpool.Pool
	AppPool   *pgxpool.Pool
	// AdminPool is OwnerPool under its former name.
	//
	// Deprecated: use OwnerPool.
	AdminPool *pgxpool.Pool
	Client    *tenancy.Client

	owner  Owner
	others []*Server // other clusters this test placed tenants on
}

// Server is the PostgreSQL cluster that test databases live on.
type Server struct {
	superURL string // a role that can create roles and databases, on the maintenance database
	admin    *pgxpool.Pool

	workers []*Server // a Citus cluster's workers: the roles are made there too

	mu        sync.Mutex
	templates map[string]bool
	owners    map[Owner]error // owner roles made (nil) or refused
}

var (
	serverOnce sync.Once
	server     *Server
	serverErr  error
)

// Cluster returns the test run's cluster, starting it the first time.
func Cluster(tb testing.TB) *Server {
	tb.Helper()
	serverOnce.Do(func() { server, serverErr = startServer(context.Background()) })
	if serverErr != nil {
		tb.Fatalf("tenancytest: %v", serverErr)
	}
	return server
}

// LocalClusterDir is where the test run's local cluster lives.
func LocalClusterDir() string {
	return filepath.Join(os.TempDir(), "tenancy-test-"+strconv.Itoa(os.Getuid()))
}

func startServer(ctx context.Context) (*Server, error) {
	superURL := os.Getenv("TEST_DATABASE_URL")
	if superURL == "" {
		c, err := pglocal.Start(ctx, LocalClusterDir(), &pglocal.Options{Fast: true})
		if err != nil {
			return nil, err
		}
		superURL = c.URL("postgres")
	}
	return newServer(ctx, superURL)
}

// newServer prepares a cluster reached through superURL: the owner and application roles.
func newServer(ctx context.Context, superURL string) (*Server, error) {
	return newServerWith(ctx, superURL, nil)
}

// newServerWith is newServer for a Citus coordinator whose workers get the same roles.
func newServerWith(ctx context.Context, superURL string, workers []*Server) (*Server, error) {
	s := &Server{
		superURL:  superURL,
		workers:   workers,
		templates: map[string]bool{},
		owners:    map[Owner]error{},
	}
	cfg, err := pgxpool.ParseConfig(superURL)
	if err != nil {
		return nil, fmt.Errorf("TEST_DATABASE_URL: %w", err)
	}
	cfg.MaxConns = 4
	if s.admin, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, err
	}
	if err := s.ensureOwner(ctx, OwnerPlain); err != nil {
		return nil, err
	}
	return s, nil
}

// password is role's password on this cluster: derived, so that every test binary agrees.
func (s *Server) password(role string) string {
	sum := sha256.Sum256([]byte("tenancytest:" + s.superURL + ":" + role))
	return hex.EncodeToString(sum[:12])
}

// ensureOwner creates (once per process) the application role and o's owner role. The
// BYPASSRLS and superuser owners need TEST_DATABASE_URL to be a superuser's.
func (s *Server) ensureOwner(ctx context.Context, o Owner) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err, done := s.owners[o]; done {
		return err
	}
	err := s.ensureRolesOn(ctx, s, o)
	for _, w := range s.workers {
		if err == nil {
			err = s.ensureRolesOn(ctx, w, o)
		}
	}
	s.owners[o] = err
	return err
}

// ensureRolesOn creates o's owner role and the application role on node (s itself or one of
// its Citus workers), with s's passwords.
func (s *Server) ensureRolesOn(ctx context.Context, node *Server, o Owner) error {
	// Roles are global to the cluster and other test binaries run at the same time: serialise.
	err := pgx.BeginFunc(ctx, node.admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockkey.TestRoles); err != nil {
			return err
		}
		if _, err := pgrole.Ensure(ctx, tx, o.Role(), o.attrs(), s.password(o.Role())); err != nil {
			return err
		}
		if _, err := pgrole.Ensure(ctx, tx, AppRole, "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE", s.password(AppRole)); err != nil {
			return err
		}
		// The owner may end the application's sessions on a database it drops (docs/rls.md).
		_, err := tx.Exec(ctx, "GRANT "+AppRole+" TO "+o.Role())
		return err
	})
	if err != nil {
		err = fmt.Errorf("create test roles (%s owner): %w", o, err)
	}
	return err
}

// URL returns a connection string for role (OwnerRole, BypassOwnerRole, SuperOwnerRole, AppRole,
// or "" for the superuser) to db.
func (s *Server) URL(role, db string) string {
	u, _ := url.Parse(s.superURL)
	if role != "" {
		u.User = url.UserPassword(role, s.password(role))
	}
	u.Path = "/" + db
	return u.String()
}

// SuperPool is a superuser pool on the maintenance database (for pg_terminate_backend and the like).
func (s *Server) SuperPool() *pgxpool.Pool { return s.admin }

// New returns a fresh database for the test, cloned from a template that has the catalog and the
// given migrations installed, with a Client ready to use. It is dropped when the test ends, or
// kept (and named in the log) if the test failed.
func New(tb testing.TB, opts *Options) *DB {
	tb.Helper()
	if opts == nil {
		opts = &Options{}
	}
	s := Cluster(tb)
	db, err := s.newDB(context.Background(), opts)
	if err != nil {
		tb.Fatalf("tenancytest: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			db.OwnerPool.Close()
			db.AppPool.Close()
			tb.Logf("tenancytest: kept database %s for inspection: psql %q", db.Name, db.AdminURL)
			return
		}
		db.close()
	})
	return db
}

// newDB makes a test database from opts' template, owned by opts' owner, and opens it.
func (s *Server) newDB(ctx context.Context, opts *Options) (*DB, error) {
	if err := s.ensureOwner(ctx, opts.Owner); err != nil {
		return nil, err
	}
	tpl, err := s.template(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	name := "test_" + randomHex(6)
	if _, err := s.admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s OWNER %s`, name, tpl, opts.Owner.Role())); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	db, err := s.open(ctx, name, opts)
	if err != nil {
		_, _ = s.admin.Exec(context.WithoutCancel(ctx), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
		return nil, err
	}
	return db, nil
}

// close closes the database's pools, the client's placement pools included, and drops it and
// every database its catalog made (database-tier tenants, their template), on every server.
func (db *DB) close() {
	db.Client.Close()
	db.OwnerPool.Close()
	db.AppPool.Close()
	for _, srv := range append([]*Server{db.Server}, db.others...) {
		srv.dropDatabases(db.Name)
	}
}

func (s *Server) open(ctx context.Context, name string, opts *Options) (*DB, error) {
	role := opts.Owner.Role()
	db := &DB{Name: name, Server: s, AdminURL: s.URL(role, name), AppURL: s.URL(AppRole, name), OwnerRole: role, owner: opts.Owner}
	acfg, err := pgxpool.ParseConfig(db.AdminURL)
	if err != nil {
		return nil, err
	}
	acfg.MaxConns = 4
	if opts.OwnerPoolConfig != nil {
		opts.OwnerPoolConfig(acfg)
	}
	if db.OwnerPool, err = pgxpool.NewWithConfig(ctx, acfg); err != nil {
		return nil, err
	}
	db.AdminPool = db.OwnerPool
	pcfg, err := pgxpool.ParseConfig(db.AppURL)
	if err != nil {
		return nil, err
	}
	tenancy.ConfigurePool(pcfg, opts.SharedSchema)
	pcfg.MaxConns = 4
	if opts.AppMaxConns > 0 {
		pcfg.MaxConns = opts.AppMaxConns
	}
	if opts.AppPoolConfig != nil {
		opts.AppPoolConfig(pcfg)
	}
	if db.AppPool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		db.OwnerPool.Close()
		return nil, err
	}
	cfg := &tenancy.Config{
		AppPool:          db.AppPool,
		OwnerPool:        db.OwnerPool,
		SharedSchema:     opts.SharedSchema,
		SharedMigrations: opts.SharedMigrations,
		TenantMigrations: opts.TenantMigrations,
	}
	if opts.ClientConfig != nil {
		opts.ClientConfig(cfg)
	}
	db.Client, err = tenancy.New(cfg)
	if err == nil && len(cfg.TypeMigrations) > 0 {
		// The template carries the common lines only (see template): bring the shape schema to
		// the type lines ClientConfig added, so that the database is ready as promised.
		err = db.Client.Init(ctx)
	}
	if err != nil {
		db.OwnerPool.Close()
		db.AppPool.Close()
		return nil, err
	}
	return db, nil
}

// template returns the name of a template database with the catalog and opts' migrations
// installed, creating it once per distinct set of migrations (across processes too).
func (s *Server) template(ctx context.Context, opts *Options) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "tenancytest v3\nshared schema %s\n", opts.SharedSchema)
	if opts.Owner != OwnerPlain {
		// The template's objects belong to the owner: one template per owner.
		fmt.Fprintf(h, "owner %s\n", opts.Owner)
	}
	for _, part := range []struct {
		name string
		fsys fs.FS
	}{{"shared", opts.SharedMigrations}, {"tenant", opts.TenantMigrations}, {"catalog", catalog.Files()}} {
		if err := hashFS(h, part.name, part.fsys); err != nil {
			return "", err
		}
	}
	name := "tpl_" + hex.EncodeToString(h.Sum(nil))[:16]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.templates[name] {
		return name, nil
	}
	conn, err := s.admin.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Release()
	// A session lock: CREATE DATABASE cannot run inside a transaction.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockkey.TestTemplate); err != nil {
		return "", err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockkey.TestTemplate)
	var ready *string
	err = conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, name).Scan(&ready)
	if err == nil && ready != nil && *ready == "tenancytest:ready" {
		s.templates[name] = true
		return name, nil
	}
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, name, opts.Owner.Role())); err != nil {
		return "", err
	}
	// The template is made from opts' hashed parts only: ClientConfig may add migration lines
	// (tenant types) that the hash does not cover, and must not leave them in a shared template.
	plain := *opts
	plain.ClientConfig = nil
	db, err := s.open(ctx, name, &plain)
	if err != nil {
		return "", err
	}
	initErr := db.Client.Init(ctx)
	db.OwnerPool.Close()
	db.AppPool.Close()
	if initErr != nil {
		return "", fmt.Errorf("install catalog and migrations: %w", initErr)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`COMMENT ON DATABASE %s IS 'tenancytest:ready'`, name)); err != nil {
		return "", err
	}
	s.templates[name] = true
	return name, nil
}

func hashFS(h interface{ Write([]byte) (int, error) }, label string, fsys fs.FS) error {
	if fsys == nil {
		return nil
	}
	var files []string
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s/%s %d\n", label, f, len(data))
		_, _ = h.Write(data) // a hash's Write never fails
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b) + strconv.FormatInt(time.Now().UnixNano()%1000, 36)
}

// dropDatabases drops the test database name and every database the test's catalog made from it
// (database-tier tenants and their template are named name_...).
func (s *Server) dropDatabases(name string) {
	ctx := context.Background()
	rows, err := s.admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $1 || '\_%'`, name)
	if err != nil {
		return
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, n := range names {
		_, _ = s.admin.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{n}.Sanitize()+` WITH (FORCE)`)
	}
}
