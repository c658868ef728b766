package placement_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/connpool"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/migrate"
	"github.com/tenancy-go/tenancy/internal/placement"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestExercise runs the conformance suite against every Kind, on the catalog's server and on a
// second one, as river's riverdrivertest.Exercise runs against every driver.
func TestExercise(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		kind   placement.Kind
		server string
		owner  tenancytest.Owner
	}{
		{"pool", placement.Pool, placement.DefaultServer, tenancytest.OwnerPlain},
		// RLS does not hold back an owner that bypasses it: the pool's deletes must name the tenant.
		{"pool-owner-bypassrls", placement.Pool, placement.DefaultServer, tenancytest.OwnerBypassRLS},
		{"schema", placement.Schema, placement.DefaultServer, tenancytest.OwnerPlain},
		{"schema-second-server", placement.Schema, "second", tenancytest.OwnerPlain},
		{"database", placement.Database, placement.DefaultServer, tenancytest.OwnerPlain},
		{"database-second-server", placement.Database, "second", tenancytest.OwnerPlain},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			exercise(t, c.kind, c.server, c.owner)
		})
	}
}

// exercise drives kind directly, as the root package does, on server (DefaultServer or
// "second") with an owner role of kind owner, and reads the tenants' rows back as the
// application role.
func exercise(t *testing.T, kind placement.Kind, server string, owner tenancytest.Owner) {
	f := newFixture(t, server != placement.DefaultServer, owner)
	ctx := context.Background()
	pooled := kind.Name() == placement.KindPool

	a, pa := f.provision(t, kind, server, "alpha", "a1", "a2")
	b, pb := f.provision(t, kind, server, "beta", "b1")

	t.Run("filled", func(t *testing.T) {
		if got := f.notes(t, "alpha"); fmt.Sprint(got) != "[a1 a2]" {
			t.Errorf("alpha reads %v, want [a1 a2]", got)
		}
		if got := f.notes(t, "beta"); fmt.Sprint(got) != "[b1]" {
			t.Errorf("beta, in the same %s, reads %v, want [b1]", kind.Name(), got)
		}
		if pooled != (pa.ID == pb.ID) {
			t.Errorf("placements %d and %d: shared %v, want %v", pa.ID, pb.ID, pa.ID == pb.ID, pooled)
		}
		if (pa.Server == "second") != (server == "second") {
			t.Errorf("placed on server %q, want %q", pa.Server, server)
		}
	})

	t.Run("drop", func(t *testing.T) {
		dropped, err := f.drop(ctx, kind, a, pa, true)
		if err != nil {
			t.Fatalf("Drop: %v", err)
		}
		exists, rows := f.state(t, a, pa)
		if rows != 0 || exists != pooled || (!pooled && !dropped) {
			t.Fatalf("after Drop (dropped %v): placement exists %v with %d rows of the tenant", dropped, exists, rows)
		}
		if _, rows := f.state(t, b, pb); rows != 1 {
			t.Fatalf("the other tenant has %d rows after the drop, want 1", rows)
		}
		if got := f.notes(t, "beta"); fmt.Sprint(got) != "[b1]" {
			t.Fatalf("beta reads %v after alpha's drop, want [b1]", got)
		}
	})

	t.Run("not-owned", func(t *testing.T) {
		if pooled {
			t.Skip("a pool is shared: Drop deletes a tenant's rows, never the pool it marks")
		}
		id, p := f.provision(t, kind, server, "gamma", "g1")
		f.remark(t, p, "someone else's")
		if _, err := f.drop(ctx, kind, id, p, true); !errors.Is(err, placement.ErrNotOwned) {
			t.Fatalf("strict Drop of a placement with another mark: %v, want ErrNotOwned", err)
		}
		if exists, rows := f.state(t, id, p); !exists || rows != 1 {
			t.Fatalf("after a refused Drop: exists %v with %d rows, want it untouched", exists, rows)
		}
		dropped, err := f.drop(ctx, kind, id, p, false)
		if err != nil || dropped {
			t.Fatalf("lenient Drop of a placement with another mark = %v, %v; want false, nil", dropped, err)
		}
		if exists, rows := f.state(t, id, p); !exists || rows != 1 {
			t.Fatalf("after a lenient Drop: exists %v with %d rows, want it untouched", exists, rows)
		}
	})

	t.Run("crash", func(t *testing.T) {
		f.crashAt = crash.FillLoaded
		defer func() { f.crashAt = "" }()
		id, p, err := f.tryProvision(ctx, kind, server, "delta", "d1", "d2")
		if !errors.Is(err, crash.ErrSimulated) {
			t.Fatalf("Fill = %v, want the simulated crash", err)
		}
		exists, rows := f.state(t, id, p)
		// A database is made before its transaction (crash.FillDatabase), a pool before the tenant.
		if rows != 0 || exists != (kind.Name() != placement.KindSchema) {
			t.Fatalf("after a crash at %s: placement exists %v with %d rows of the tenant", crash.FillLoaded, exists, rows)
		}
		var status string
		if err := f.db.OwnerPool.QueryRow(ctx, `SELECT status FROM tenancy.tenants WHERE id = $1`, id).Scan(&status); err != nil || status != "provisioning" {
			t.Fatalf("tenant status %q, %v; want provisioning", status, err)
		}
	})
}

// fixture is a test database with a catalog, and the Env that its tiers run in.
type fixture struct {
	db      *tenancytest.DB
	env     *placement.Env
	crashAt string // the crash point where Env.Hook stops an operation
}

func newFixture(t *testing.T, second bool, owner tenancytest.Owner) *fixture {
	t.Helper()
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: os.DirFS("../../testdata/migrations/shared"),
		TenantMigrations: os.DirFS("../../testdata/migrations/tenant"),
		AppMaxConns:      2,
		Owner:            owner,
	})
	ctx := context.Background()
	migs, err := migrate.Load(os.DirFS("../../testdata/migrations/tenant"))
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]*placement.ServerConf{
		"": {Owner: db.OwnerPool.Config(), App: db.AppPool.Config(), Home: db.Name},
	}
	if second {
		ownerURL, appURL := db.SecondServer(t)
		// The client reads the tenants back through the server, so it must know it too.
		if _, err := db.Client.ServerAdd(ctx, "second", ownerURL, appURL); err != nil {
			t.Fatal(err)
		}
		sc := &placement.ServerConf{}
		if sc.Owner, err = pgxpool.ParseConfig(ownerURL); err != nil {
			t.Fatal(err)
		}
		if sc.App, err = pgxpool.ParseConfig(appURL); err != nil {
			t.Fatal(err)
		}
		sc.Home = sc.Owner.ConnConfig.Database
		servers["second"] = sc
	}
	catalogID := sync.OnceValues(func() (string, error) {
		// A connection of its own, as the client's: callers may hold the pool's connections.
		conn, err := pgx.Connect(ctx, db.AdminURL)
		if err != nil {
			return "", err
		}
		defer conn.Close(ctx)
		return catalog.Identity(ctx, conn)
	})
	f := &fixture{db: db}
	f.env = &placement.Env{
		Owner:      db.OwnerPool,
		AppRole:    tenancytest.AppRole,
		Shared:     tenancy.SharedSchemaDefault,
		TenantMigs: migs,
		Server: func(_ context.Context, name string) (*placement.ServerConf, error) {
			if sc, ok := servers[name]; ok {
				return sc, nil
			}
			return nil, fmt.Errorf("no server %q", name)
		},
		CatalogID: func(context.Context) (string, error) { return catalogID() },
		CatalogDB: func(context.Context) (string, error) { return db.Name, nil },
		Hook: func(_ context.Context, step string, _ pgx.Tx) error {
			if step == f.crashAt {
				return errors.New("crash at " + step)
			}
			return nil
		},
	}
	f.env.Conns = connpool.NewRegistry(f.env.OpenConfig, connpool.Limits{})
	t.Cleanup(f.env.Conns.Close)
	return f
}

// provision makes tenant slug in kind on server, as TenantCreate does, with rows bodies.
func (f *fixture) provision(t *testing.T, kind placement.Kind, server, slug string, bodies ...string) (int64, placement.Placement) {
	t.Helper()
	id, p, err := f.tryProvision(context.Background(), kind, server, slug, bodies...)
	if err != nil {
		t.Fatalf("provision %s: %v", slug, err)
	}
	return id, p
}

// tryProvision plans a placement, records it with the tenant's row in "provisioning" in one
// catalog transaction, then fills it with bodies and activates the tenant.
func (f *fixture) tryProvision(ctx context.Context, kind placement.Kind, server, slug string, bodies ...string) (int64, placement.Placement, error) {
	p, err := kind.Plan(ctx, f.env, server, "")
	if err != nil {
		return 0, p, err
	}
	var id int64
	err = pgx.BeginFunc(ctx, f.db.OwnerPool, func(tx pgx.Tx) error {
		var err error
		if id, _, err = catalog.TenantInsert(ctx, tx, slug, slug, "provisioning", kind.Name(), []byte("{}"), 0); err != nil {
			return err
		}
		if err := kind.Record(ctx, f.env, tx, id, &p); err != nil {
			return err
		}
		return catalog.TenantAttach(ctx, tx, id, p.ID)
	})
	if err != nil {
		return id, p, err
	}
	return id, p, kind.Fill(ctx, f.env, f.db.OwnerPool, id, p, placement.Steps{
		Load: func(ctx context.Context, tx pgx.Tx, schema string, _ int64, _ bool) error {
			// tenant_id is left to its default: the tenant the transaction is bound to.
			for _, body := range bodies {
				if _, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, "notes"}.Sanitize()+` (body) VALUES ($1)`, body); err != nil {
					return err
				}
			}
			return nil
		},
		Finish: func(ctx context.Context, tx pgx.Tx) error { return catalog.TenantActivate(ctx, tx, id) },
	})
}

// drop runs kind.Drop in a catalog transaction, as a hard delete does.
func (f *fixture) drop(ctx context.Context, kind placement.Kind, id int64, p placement.Placement, strict bool) (dropped bool, err error) {
	err = pgx.BeginFunc(ctx, f.db.OwnerPool, func(tx pgx.Tx) error {
		dropped, err = kind.Drop(ctx, f.env, tx, id, p, strict)
		return err
	})
	return dropped, err
}

// notes reads tenant slug's notes as the application role, in a transaction bound to it.
func (f *fixture) notes(t *testing.T, slug string) []string {
	t.Helper()
	ctx := context.Background()
	tn, err := f.db.Client.TenantGet(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	err = f.db.Client.TxFor(ctx, tn, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT body FROM notes ORDER BY body`)
		if err != nil {
			return err
		}
		bodies, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatalf("read %s: %v", slug, err)
	}
	return bodies
}

// state looks at p as the owner: whether its schema (and database) exists, and how many notes
// rows of tenant id it holds.
func (f *fixture) state(t *testing.T, id int64, p placement.Placement) (exists bool, rows int) {
	t.Helper()
	ctx := context.Background()
	if p.Kind == placement.KindDatabase {
		home, err := f.env.OwnerConn(ctx, p.Server, "")
		if err != nil {
			t.Fatal(err)
		}
		defer home.Close(ctx)
		if err := home.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, p.Database).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if !exists {
			return false, 0
		}
	}
	conn, release, err := f.env.OwnerConnFor(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, p.Schema).Scan(&exists); err != nil || !exists {
			return err
		}
		// Bound as well as named: a plain owner is subject to the forced policies.
		if err := placement.BindOwnerTx(ctx, tx, id); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{p.Schema, "notes"}.Sanitize()+` WHERE tenant_id = $1`, id).Scan(&rows)
	})
	if err != nil {
		t.Fatal(err)
	}
	return exists, rows
}

// remark replaces the mark on p's schema (its database, in the database tier) with comment, as
// if someone else had made it.
func (f *fixture) remark(t *testing.T, p placement.Placement, comment string) {
	t.Helper()
	ctx := context.Background()
	stmt := `COMMENT ON SCHEMA ` + pgx.Identifier{p.Schema}.Sanitize()
	if p.Kind == placement.KindDatabase {
		stmt = `COMMENT ON DATABASE ` + pgx.Identifier{p.Database}.Sanitize()
	}
	conn, release, err := f.env.OwnerConnFor(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := conn.Exec(ctx, stmt+` IS `+placement.QuoteLiteral(comment)); err != nil {
		t.Fatal(err)
	}
}
