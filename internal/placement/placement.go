// Package placement is the home of tenancy's three tiers. A placement is where tenants' rows
// live: a pool schema shared by many tenants, a schema of one tenant's own, or a database of one
// tenant's own. Each tier is a Kind (pool.go, schema.go, database.go): how its placements are
// planned, recorded, made and filled, dropped, and reached. Everything here that reads or
// deletes a tenant's rows as the owner names the tenant (rows.go: TenantRows), because the owner
// may be a superuser or have BYPASSRLS, which even forced row-level security does not stop.
//
// A placement's location is separate from its kind: it lives either in the catalog's own
// database (Local), where its DDL, its migration ledger and the catalog's rows commit in one
// transaction, or elsewhere (a tenant database, another server's home database), where a small
// local catalog keeps the ledger beside the DDL and the catalog's ledger is brought level after
// each commit (remote.go). A server is a location, not a branch of any tier.
//
// The root package orchestrates: it holds tenants' lifecycles (statuses, operation locks, crash
// points) and calls a Kind for every step that differs by tier.
package placement

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/connpool"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// The kinds of placement, as the catalog's placements.kind column and the tier names spell them.
const (
	KindPool     = "pool"
	KindSchema   = "schema"
	KindDatabase = "database"
)

// Errors the root package re-exports under its own names (errors.go).
var (
	ErrNotOwned         = errors.New("tenancy: placement was not created by tenancy")
	ErrReadOnly         = errors.New("tenancy: this client has no OwnerPool")
	ErrTierNotAvailable = errors.New("tenancy: tier not available")
	ErrArchiveTooNew    = errors.New("tenancy: archive is newer than this application's tenant migrations")
	ErrTypeMismatch     = errors.New("tenancy: tenant type mismatch")
)

// Placement is one row of the catalog's placements table.
type Placement struct {
	ID       int64
	Kind     string
	Server   string // "" is the catalog's own server
	Database string // "" is the server's home database (the catalog's, on the catalog's server)
	Schema   string
	// UID is the placement's random id, written in the mark of what tenancy makes for it
	// (marks.go); empty for placements made before marks carried it.
	UID   string
	Owned bool
}

// Local reports whether p lives in the catalog's own database.
func (p Placement) Local() bool { return p.Kind != KindDatabase && p.Server == "" }

// LocalID is p's id in the local catalog of the database it lives in: the catalog's id in the
// catalog's database and in other servers' home databases, TemplateID in a tenant database.
func (p Placement) LocalID() int64 {
	if p.Kind == KindDatabase {
		return TemplateID
	}
	return p.ID
}

// Label names p for people: server:database.schema.
func (p Placement) Label() string {
	s := p.Schema
	if p.Database != "" {
		s = p.Database + "." + s
	}
	return ServerLabel(p.Server) + ":" + s
}

// DefaultServer names the catalog's own server in APIs and on the command line.
const DefaultServer = "default"

// ServerLabel names a server for people ("" is DefaultServer).
func ServerLabel(s string) string {
	if s == "" {
		return DefaultServer
	}
	return s
}

// ServerConf is how to reach one server as the owner and as the application role. Home is the
// database that holds the server's schema-tier placements and its template databases' origin.
type ServerConf struct {
	Owner *pgxpool.Config // nil in a read-only client
	App   *pgxpool.Config
	Home  string
}

// Env is what the tiers need from the client: its pools and roles, its migrations, how to reach
// servers, the catalog's identity, and the crash hook.
type Env struct {
	Owner      *pgxpool.Pool // the owner role on the catalog's database
	AppRole    string        // the application role on the catalog's server
	Shared     string        // the shared schema, unquoted
	TenantMigs []migrate.Migration
	Conns      *connpool.Registry // pools of placements outside the catalog's database

	// Server returns how to reach server name ("" is the catalog's own).
	Server func(ctx context.Context, name string) (*ServerConf, error)
	// CatalogID returns the catalog's random identity; CatalogDB the name of its database.
	CatalogID func(ctx context.Context) (string, error)
	CatalogDB func(ctx context.Context) (string, error)
	// Hook simulates crashes in tests (package crash); nil otherwise.
	Hook crash.Hook
}

func (e *Env) crash(ctx context.Context, step string, tx pgx.Tx) error {
	return crash.At(ctx, e.Hook, step, tx)
}

// searchPath is schema, then the shared schema, quoted, for running tenant migrations.
func (e *Env) searchPath(schema string) string {
	return pgx.Identifier{schema}.Sanitize() + ", " + pgx.Identifier{e.Shared}.Sanitize()
}

// OwnerConn opens one owner connection to db on server ("" db: the server's home database).
func (e *Env) OwnerConn(ctx context.Context, server, db string) (*pgx.Conn, error) {
	sc, err := e.Server(ctx, server)
	if err != nil {
		return nil, err
	}
	if sc.Owner == nil {
		return nil, ErrReadOnly
	}
	cfg := sc.Owner.ConnConfig.Copy()
	if db == "" {
		db = sc.Home
	}
	cfg.Database = db
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s on server %s: %w", db, ServerLabel(server), err)
	}
	return conn, nil
}

// OwnerConnFor returns an owner connection to the database p lives in, and its release.
func (e *Env) OwnerConnFor(ctx context.Context, p Placement) (*pgx.Conn, func(), error) {
	if p.Local() {
		pc, err := e.Owner.Acquire(ctx)
		if err != nil {
			return nil, nil, err
		}
		return pc.Conn(), pc.Release, nil
	}
	conn, err := e.OwnerConn(ctx, p.Server, p.Database)
	if err != nil {
		return nil, nil, err
	}
	return conn, func() { conn.Close(context.WithoutCancel(ctx)) }, nil
}

// CatalogConn runs catalog statements: the owner pool, or the one connection that holds a
// tenant's operation lock, so that the holder never waits for a second connection of a full pool.
type CatalogConn interface {
	catalog.DB
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Steps are the caller's parts of Kind.Fill.
type Steps struct {
	// Begin, if set, runs first in the catalog transaction of a placement in the catalog's
	// database (where the whole fill is one transaction); false stops the fill there, without
	// error (the tenant is no longer waiting for it).
	Begin func(ctx context.Context, tx pgx.Tx) (bool, error)
	// Load, if set, fills schema (the placement at version) in tx, which is bound to the tenant;
	// local says whether tx is on the catalog's database (else on a database with a local catalog).
	Load func(ctx context.Context, tx pgx.Tx, schema string, version int64, local bool) error
	// Lines are the migration lines beside the common one that the placement carries (the
	// tenant's type's, its own), applied after it, to their latest versions, before Load.
	Lines []migrate.Line
	// Finish runs in the catalog once the placement is filled: in the same transaction when the
	// placement is local, else in the catalog transaction that follows the placement's commit.
	Finish func(ctx context.Context, tx pgx.Tx) error
}

func (s Steps) begin(ctx context.Context, tx pgx.Tx) (bool, error) {
	if s.Begin == nil {
		return true, nil
	}
	return s.Begin(ctx, tx)
}

func (s Steps) load(ctx context.Context, tx pgx.Tx, id int64, schema string, version int64, local bool) error {
	if s.Load == nil {
		return nil
	}
	if err := BindOwnerTx(ctx, tx, id); err != nil {
		return err
	}
	return s.Load(ctx, tx, schema, version, local)
}

// Kind is one tier: the steps of a placement's life that differ by tier.
type Kind interface {
	// Name is the tier's name: KindPool, KindSchema or KindDatabase.
	Name() string
	// Plan resolves where a new placement goes, checking first what it needs (a pool made on
	// first use; a database's template). server is a server name, DefaultServer or "" (the
	// placement policy chooses); pool names a pool (pool tier only).
	Plan(ctx context.Context, e *Env, server, pool string) (Placement, error)
	// Record writes p's catalog row for tenant id in tx and sets p.ID (a pool exists already).
	Record(ctx context.Context, e *Env, tx pgx.Tx, id int64, p *Placement) error
	// Fill makes p for tenant id (in a pool: joins it), migrates it to the latest tenant
	// migration, grants the application role, and runs the caller's steps: one way to make a
	// placement, for creating, restoring and moving a tenant alike.
	Fill(ctx context.Context, e *Env, cat CatalogConn, id int64, p Placement, s Steps) error
	// Drop removes what tenant id has in p: its rows in a pool, else the schema or database
	// tenancy made for it, only if it carries the tenant's mark. A mark that does not match is
	// ErrNotOwned when strict, and is left alone otherwise. tx is a catalog transaction (local
	// placements are dropped in it). dropped says whether anything was dropped.
	Drop(ctx context.Context, e *Env, tx pgx.Tx, id int64, p Placement, strict bool) (dropped bool, err error)
}

// For returns the Kind of the tier named name.
func For(name string) (Kind, error) {
	switch name {
	case KindPool:
		return Pool, nil
	case KindSchema:
		return Schema, nil
	case KindDatabase:
		return Database, nil
	}
	return nil, fmt.Errorf("tenancy: no tier %q", name)
}

// chooseServer resolves a Plan's server argument: DefaultServer is the catalog's own (""), ""
// lets the placement policy choose (the server holding the fewest tenants), and any other name
// must be a known server.
func chooseServer(ctx context.Context, e *Env, server string) (string, error) {
	switch server {
	case DefaultServer:
		return "", nil
	case "":
		return catalog.ServerFewestTenants(ctx, e.Owner)
	}
	if _, err := e.Server(ctx, server); err != nil {
		return "", err
	}
	return server, nil
}

// QuoteLiteral quotes s as an SQL string literal (standard_conforming_strings is on since 9.1;
// the E'...' form makes backslashes safe either way).
func QuoteLiteral(s string) string {
	if strings.ContainsRune(s, '\\') {
		return "E'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", "''") + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
