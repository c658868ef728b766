package tenancy_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// distribute makes table a distributed table sharded by tenant_id, as a superuser, unless it
// already is one (once the pool tier distributes its tables itself). Before any row is written:
// the copy of existing rows would run under the table's forced RLS.
func distribute(t testing.TB, db *tenancytest.DB, table string) {
	t.Helper()
	ctx := context.Background()
	super, err := pgx.Connect(ctx, tenancytest.CitusCluster(t).SuperURL(db.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	if _, err := super.Exec(ctx, `SELECT create_distributed_table($1, 'tenant_id')
		WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = $1::regclass)`, table); err != nil {
		t.Fatalf("distribute %s: %v", table, err)
	}
	var workers int
	if err := super.QueryRow(ctx, `SELECT count(DISTINCT p.nodeport) FROM pg_dist_shard s JOIN pg_dist_shard_placement p USING (shardid)
		WHERE s.logicalrelid = $1::regclass`, table).Scan(&workers); err != nil {
		t.Fatal(err)
	}
	if workers < 2 {
		t.Fatalf("%s has shards on %d workers, want 2", table, workers)
	}
}

// onWorkers returns "tenant_id:body" of every row of table as the workers hold them, read on
// each shard directly (run_command_on_shards), as a superuser.
func onWorkers(t *testing.T, db *tenancytest.DB, table string) []string {
	t.Helper()
	ctx := context.Background()
	super, err := pgx.Connect(ctx, tenancytest.CitusCluster(t).SuperURL(db.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	rows, err := super.Query(ctx, `SELECT result FROM run_command_on_shards($1,
		$$SELECT coalesce(string_agg(tenant_id || ':' || body, ','), '') FROM %s$$) WHERE success`, table)
	if err != nil {
		t.Fatal(err)
	}
	shards, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range shards {
		if s != "" {
			out = append(out, strings.Split(s, ",")...)
		}
	}
	slices.Sort(out)
	return out
}

// TestCitusBind: the binding reaches the workers. Pool tenants' notes are distributed by
// tenant_id over two workers; as the application role, every entry point sees only its tenant's
// rows (also with no tenant_id in the SQL, RLS alone), writes land on the workers under the
// right tenant, the fence stops a statement before it runs, and limits still apply. Without the
// Citus binding the workers see no tenant. One Citus database for all: they cost seconds each.
func TestCitusBind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.NewCitus(t, &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations}, nil)
	c := db.Client
	a, err := c.TenantCreate(ctx, "citus-a", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.TenantCreate(ctx, "citus-b", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.TenantCreate(ctx, "citus-s", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	table := pgx.Identifier{a.Placement.Schema, "notes"}.Sanitize()
	distribute(t, db, table)
	addNotes(t, c, a, "a1", "a2")
	addNotes(t, c, b, "b1")
	addNotes(t, c, s, "s1")
	want := map[*tenancy.Tenant]string{a: "a1,a2", b: "b1", s: "s1"}
	ida, idb := strconv.FormatInt(a.ID, 10), strconv.FormatInt(b.ID, 10)

	t.Run("writes land on the workers", func(t *testing.T) {
		got := onWorkers(t, db, table)
		if w := []string{ida + ":a1", ida + ":a2", idb + ":b1"}; !slices.Equal(got, w) {
			t.Fatalf("the workers hold %v, want %v", got, w)
		}
	})

	// Every entry point that binds, reading with no tenant_id in the SQL: RLS alone on the workers.
	const read = `SELECT body FROM notes ORDER BY body`
	collect := func(rows pgx.Rows, err error) (string, error) {
		if err != nil {
			return "", err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		return strings.Join(got, ","), err
	}
	entries := []struct {
		name string
		read func(ctx context.Context, tn *tenancy.Tenant) (string, error)
	}{
		{"Query", func(ctx context.Context, _ *tenancy.Tenant) (string, error) { return collect(c.Query(ctx, read)) }},
		{"QueryRow", func(ctx context.Context, _ *tenancy.Tenant) (string, error) {
			var got string
			err := c.QueryRow(ctx, `SELECT coalesce(string_agg(body, ',' ORDER BY body), '') FROM notes`).Scan(&got)
			return got, err
		}},
		{"Exec", func(ctx context.Context, _ *tenancy.Tenant) (string, error) {
			// An UPDATE that names no tenant touches the bound tenant's rows only.
			tag, err := c.Exec(ctx, `UPDATE notes SET body = body`)
			return strconv.FormatInt(tag.RowsAffected(), 10), err
		}},
		{"Tx", func(ctx context.Context, _ *tenancy.Tenant) (got string, err error) {
			err = c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				got, err = collect(tx.Query(ctx, read))
				return err
			})
			return got, err
		}},
		{"TxFor", func(ctx context.Context, tn *tenancy.Tenant) (got string, err error) {
			err = c.TxFor(context.Background(), tn, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
				got, err = collect(tx.Query(ctx, read))
				return err
			})
			return got, err
		}},
		{"BeginTx", func(ctx context.Context, _ *tenancy.Tenant) (string, error) {
			tx, err := c.BeginTx(ctx, pgx.TxOptions{})
			if err != nil {
				return "", err
			}
			defer func() { _ = tx.Rollback(ctx) }()
			got, err := collect(tx.Query(ctx, read))
			if err != nil {
				return "", err
			}
			return got, tx.Commit(ctx)
		}},
		{"BeginTxFor", func(ctx context.Context, tn *tenancy.Tenant) (string, error) {
			tx, err := c.BeginTxFor(context.Background(), tn, pgx.TxOptions{})
			if err != nil {
				return "", err
			}
			got, err := collect(tx.Query(ctx, read))
			if rerr := tx.Rollback(ctx); err == nil {
				err = rerr
			}
			return got, err
		}},
	}
	t.Run("ExecTenants", func(t *testing.T) {
		got := map[string]string{}
		res, err := c.ExecTenants(ctx, `SELECT coalesce(string_agg(body, ',' ORDER BY body), '') FROM notes`, &tenancy.ExecTenantsOpts{
			Tenants: []string{a.Slug, b.Slug, s.Slug},
			OnResult: func(r *tenancy.TenantRows) {
				if r.Err == nil && len(r.Rows) == 1 {
					got[r.Tenant], _ = r.Rows[0][0].(string)
				}
			},
		})
		if err != nil || res.Succeeded != 3 {
			t.Fatalf("ExecTenants: %+v, %v", res, err)
		}
		for tn, w := range want {
			if got[tn.Slug] != w {
				t.Errorf("ExecTenants as %s: %q, want %q", tn.Slug, got[tn.Slug], w)
			}
		}
	})

	t.Run("every entry point sees its own rows", func(t *testing.T) {
		for _, e := range entries {
			for tn, w := range want {
				got, err := e.read(tenancy.WithTenant(ctx, tn), tn)
				if e.name == "Exec" {
					w = strconv.Itoa(strings.Count(w, ",") + 1)
				}
				if err != nil || got != w {
					t.Errorf("%s as %s: %q, %v; want %q", e.name, tn.Slug, got, err, w)
				}
			}
		}
	})

	t.Run("exec modes", func(t *testing.T) {
		// The batch in every pgx mode: simple protocol (as behind PgBouncer) sends it as one
		// message, where Citus would propagate any SET with the whole message's text.
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeCacheDescribe} {
			cfg, err := pgxpool.ParseConfig(db.AppURL)
			if err != nil {
				t.Fatal(err)
			}
			tenancy.ConfigurePool(cfg, "")
			cfg.ConnConfig.DefaultQueryExecMode = mode
			cfg.MaxConns = 1
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			mc, err := tenancy.New(&tenancy.Config{AppPool: pool, OwnerPool: db.OwnerPool})
			if err != nil {
				pool.Close()
				t.Fatal(err)
			}
			for tn, w := range want {
				got, err := collect(mc.Query(tenancy.WithTenant(ctx, tn), read))
				if err != nil || got != w {
					t.Errorf("%v, Query as %s: %q, %v; want %q", mode, tn.Slug, got, err, w)
				}
				err = mc.Tx(tenancy.WithTenant(ctx, tn), func(ctx context.Context, tx pgx.Tx) error {
					got, err = collect(tx.Query(ctx, read))
					return err
				})
				if err != nil || got != w {
					t.Errorf("%v, Tx as %s: %q, %v; want %q", mode, tn.Slug, got, err, w)
				}
			}
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != 0 {
				t.Errorf("%v: an unbound read after bound ones: %d rows, %v; want 0", mode, n, err)
			}
			mc.Close()
			pool.Close()
		}
	})

	t.Run("a bound insert lands under its tenant", func(t *testing.T) {
		if _, err := c.Exec(tenancy.WithTenant(ctx, b), `INSERT INTO notes (body) VALUES ('b-exec')`); err != nil {
			t.Fatal(err)
		}
		err := c.Tx(tenancy.WithTenant(ctx, a), func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ('a-tx')`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		// A row for another tenant is refused by the policy on the worker.
		_, err = c.Exec(tenancy.WithTenant(ctx, b), `INSERT INTO notes (tenant_id, body) VALUES ($1, 'forged')`, a.ID)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Fatalf("insert for another tenant: %v, want an RLS violation (42501)", err)
		}
		got := onWorkers(t, db, table)
		if w := []string{ida + ":a-tx", ida + ":a1", ida + ":a2", idb + ":b-exec", idb + ":b1"}; !slices.Equal(got, w) {
			t.Fatalf("the workers hold %v, want %v", got, w)
		}
		if _, err := c.Exec(tenancy.WithTenant(ctx, b), `DELETE FROM notes WHERE body = 'b-exec'`); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(tenancy.WithTenant(ctx, a), `DELETE FROM notes WHERE body = 'a-tx'`); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("routed by tenant_id", func(t *testing.T) {
		// Naming the tenant routes the statement to one shard; RLS still guards it.
		for _, q := range []struct {
			tn   *tenancy.Tenant
			id   int64
			want string
		}{{a, a.ID, "a1,a2"}, {b, b.ID, "b1"}, {b, a.ID, ""}} {
			got, err := collect(c.Query(tenancy.WithTenant(ctx, q.tn), `SELECT body FROM notes WHERE tenant_id = $1 ORDER BY body`, q.id))
			if err != nil || got != q.want {
				t.Errorf("%s reading tenant %d: %q, %v; want %q", q.tn.Slug, q.id, got, err, q.want)
			}
		}
	})

	t.Run("without the Citus binding the workers see no tenant", func(t *testing.T) {
		plain := tenancy.WithoutCitusBinding(c)
		ctxA := tenancy.WithTenant(ctx, a)
		var n int
		if err := plain.QueryRow(ctxA, `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("set_config binding on Citus: %d rows, %v; want 0 (the workers see no tenant)", n, err)
		}
		_, err := plain.Exec(ctxA, `INSERT INTO notes (body) VALUES ('unseen')`)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Fatalf("set_config binding on Citus, insert: %v, want an RLS violation on the worker", err)
		}
		// The schema tier's rows are on a worker too, in the tenant's distributed schema.
		if err := plain.QueryRow(tenancy.WithTenant(ctx, s), `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("set_config binding, schema tier: %d rows, %v; want 0 (the worker sees no tenant)", n, err)
		}
	})

	t.Run("fenced", func(t *testing.T) {
		mover, err := pgx.Connect(ctx, db.AdminURL)
		if err != nil {
			t.Fatal(err)
		}
		defer mover.Close(ctx)
		class, key := tenancy.FenceKey(a.ID)
		if _, err := mover.Exec(ctx, `SELECT pg_advisory_lock($1::int4, $2::int4)`, class, key); err != nil {
			t.Fatal(err)
		}
		ctxA := tenancy.WithTenant(ctx, a)
		// Schema-qualified, naming its tenant: bound or not, it would write; the fence stops it.
		insert := `INSERT INTO ` + table + ` (tenant_id, body) VALUES (` + ida + `, 'during the move')`
		if _, err := c.Exec(ctxA, insert); !errors.Is(err, tenancy.ErrTenantMoving) {
			t.Errorf("Exec while fenced: %v, want ErrTenantMoving", err)
		}
		var n int
		if err := c.QueryRow(ctxA, `SELECT count(*) FROM notes`).Scan(&n); !errors.Is(err, tenancy.ErrTenantMoving) {
			t.Errorf("QueryRow while fenced: %v, want ErrTenantMoving", err)
		}
		ran := false
		if err := c.Tx(ctxA, func(context.Context, pgx.Tx) error { ran = true; return nil }); !errors.Is(err, tenancy.ErrTenantMoving) || ran {
			t.Errorf("Tx while fenced: %v (ran %v), want ErrTenantMoving", err, ran)
		}
		if _, err := c.BeginTx(ctxA, pgx.TxOptions{}); !errors.Is(err, tenancy.ErrTenantMoving) {
			t.Errorf("BeginTx while fenced: %v, want ErrTenantMoving", err)
		}
		// Another tenant is not held up, on the same connections.
		if err := c.QueryRow(tenancy.WithTenant(ctx, b), `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 1 {
			t.Errorf("other tenant while one is fenced: %d, %v", n, err)
		}
		if _, err := mover.Exec(ctx, `SELECT pg_advisory_unlock($1::int4, $2::int4)`, class, key); err != nil {
			t.Fatal(err)
		}
		if got := onWorkers(t, db, table); slices.Contains(got, ida+":during the move") {
			t.Fatalf("the fenced statement ran: %v", got)
		}
		// A pool tenant that the catalog places elsewhere (a process holding a stale copy after a
		// move out of the pool) is refused the same way.
		stale := *a
		stale.Placement.ID = a.Placement.ID + 1000
		if _, err := c.Exec(tenancy.WithTenant(ctx, &stale), insert); !errors.Is(err, tenancy.ErrTenantMoving) {
			t.Errorf("Exec with a stale pool placement: %v, want ErrTenantMoving", err)
		}
		if got := onWorkers(t, db, table); slices.Contains(got, ida+":during the move") {
			t.Fatalf("the stale tenant's statement ran: %v", got)
		}
		if err := c.QueryRow(ctxA, `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("after the fence: %d, %v; want 2", n, err)
		}
	})

	t.Run("statement timeout", func(t *testing.T) {
		limited, err := c.TenantSetLimits(ctx, a.Slug, &tenancy.Limits{StatementTimeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := c.TenantSetLimits(ctx, a.Slug, nil); err != nil {
				t.Fatal(err)
			}
		}()
		// pg_sleep runs on the workers, in the shard queries; the coordinator's timeout ends them.
		_, err = c.Exec(tenancy.WithTenant(ctx, limited), `SELECT pg_sleep(5), body FROM notes`)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
			t.Fatalf("a statement past the tenant's timeout: %v, want 57014", err)
		}
		err = c.Tx(tenancy.WithTenant(ctx, limited), func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `SELECT pg_sleep(5), body FROM notes`)
			return err
		})
		if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
			t.Fatalf("a Tx statement past the tenant's timeout: %v, want 57014", err)
		}
		// The next use of the connections is unlimited and bound to its own tenant.
		var timeout string
		if err := c.QueryRow(tenancy.WithTenant(ctx, b), `SELECT current_setting('statement_timeout')`).Scan(&timeout); err != nil || timeout != "0" {
			t.Fatalf("after the timeout, b's statement_timeout: %q, %v; want 0", timeout, err)
		}
	})

	t.Run("leftover session state", func(t *testing.T) {
		testCitusLeftovers(t, db, a, b)
	})
}

// testCitusLeftovers: session state that tenant a's SQL leaves, on the coordinator and on the
// worker connections that Citus keeps for the coordinator backend, reaches neither tenant b nor
// an unbound query on the same backend (a pool of one connection).
func testCitusLeftovers(t *testing.T, db *tenancytest.DB, a, b *tenancy.Tenant) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	tenancy.ConfigurePool(cfg, "")
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c, err := tenancy.New(&tenancy.Config{AppPool: pool, OwnerPool: db.OwnerPool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ida := strconv.FormatInt(a.ID, 10)
	table := pgx.Identifier{a.Placement.Schema, "notes"}.Sanitize()
	// Naming a's tenant_id routes to its shard: the worker connection that ran the leftover is the
	// one Citus keeps, and the one the unbound read below uses.
	onWorker := `SELECT count(set_config('tenancy.tenant_id', '` + ida + `', false)) FROM notes WHERE tenant_id = ` + ida
	kinds := []struct {
		name  string
		stmts []string
	}{
		{"session SET", []string{`SET tenancy.tenant_id TO '` + ida + `'`, `SET search_path TO ` + pgx.Identifier{a.Placement.Schema}.Sanitize()}},
		{"set_config on the coordinator", []string{`SELECT set_config('tenancy.tenant_id', '` + ida + `', false)`}},
		{"set_config on a worker", []string{onWorker}},
		{"SET LOCAL", []string{`SET LOCAL tenancy.tenant_id TO '` + ida + `'`, `SELECT count(*) FROM notes WHERE tenant_id = ` + ida}},
	}
	vias := []struct {
		name string
		run  func(ctx context.Context, c *tenancy.Client, stmts []string) error
	}{
		{"tx", func(ctx context.Context, c *tenancy.Client, stmts []string) error {
			return c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				for _, s := range stmts {
					if _, err := tx.Exec(ctx, s); err != nil {
						return err
					}
				}
				return nil
			})
		}},
		{"exec", func(ctx context.Context, c *tenancy.Client, stmts []string) error {
			for _, s := range stmts {
				if _, err := c.Exec(ctx, s); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	// unboundReads is what an unbound query on the backend sees of a's rows, on its shard.
	unboundReads := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE tenant_id = `+ida).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	check := func(t *testing.T, c *tenancy.Client) {
		t.Helper()
		var got string
		if err := c.QueryRow(tenancy.WithTenant(ctx, b), `SELECT coalesce(string_agg(body, ','), '') FROM notes`).Scan(&got); err != nil || got != "b1" {
			t.Errorf("b after a's leftover: %q, %v; want b1", got, err)
		}
		if n := unboundReads(); n != 0 {
			t.Errorf("an unbound query after a's leftover reads %d of a's rows on the worker, want 0", n)
		}
		var setting string
		if err := pool.QueryRow(ctx, `SELECT coalesce(current_setting('tenancy.tenant_id', true), '')`).Scan(&setting); err != nil || setting != "" {
			t.Errorf("the coordinator's tenancy.tenant_id after a's leftover: %q, %v; want empty", setting, err)
		}
	}
	// Every tenant's binding is the same statement: pgx prepares bind_citus once per connection,
	// not once per tenant (SET would need the tenant in its text).
	for _, tn := range []*tenancy.Tenant{a, b, a, b} {
		if _, err := c.Exec(tenancy.WithTenant(ctx, tn), `SELECT count(*) FROM notes`); err != nil {
			t.Fatal(err)
		}
		if err := c.Tx(tenancy.WithTenant(ctx, tn), func(context.Context, pgx.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	var binds, unbinds int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE statement LIKE 'SELECT tenancy.bind_citus(%'),
		count(*) FILTER (WHERE statement LIKE 'SELECT tenancy.unbind_citus(%') FROM pg_prepared_statements`).Scan(&binds, &unbinds); err != nil || binds != 1 || unbinds != 1 {
		t.Fatalf("the connection has %d prepared statements that bind and %d that unbind, %v; want 1 each for every tenant", binds, unbinds, err)
	}
	for _, via := range vias {
		for _, k := range kinds {
			t.Run(via.name+"/"+k.name, func(t *testing.T) {
				if err := via.run(tenancy.WithTenant(ctx, a), c, k.stmts); err != nil {
					t.Fatal(err)
				}
				check(t, c)
			})
		}
	}
	// The check can fail: without unbind_citus (the coordinator's reset alone), the worker setting
	// left by a's query is what an unbound read on the same backend sees.
	for name, leaky := range map[string]*tenancy.Client{"no unbind": tenancy.WithoutCitusUnbind(c), "no reset": tenancy.WithoutSessionReset(c)} {
		t.Run("control: "+name, func(t *testing.T) {
			if _, err := leaky.Exec(tenancy.WithTenant(ctx, a), onWorker); err != nil {
				t.Fatal(err)
			}
			n := unboundReads()
			// Clean the connection for the others.
			if _, err := c.Exec(tenancy.WithTenant(ctx, a), `SELECT count(*) FROM notes WHERE tenant_id = `+ida); err != nil {
				t.Fatal(err)
			}
			if n != 2 {
				t.Fatalf("an unbound read saw %d of a's rows; want 2 (the leftover this test looks for)", n)
			}
			if n := unboundReads(); n != 0 {
				t.Fatalf("after a bound use, an unbound read sees %d rows, want 0", n)
			}
		})
	}
}
