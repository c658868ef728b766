package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// Session state that a tenant's SQL leaves on a pooled connection must not reach the
// connection's next user (bind.go, resetSQL): session settings, WITH HOLD cursors, session
// advisory locks, LISTEN, temporary tables. In every tier, through Tx (committed and rolled
// back) and one-shot Exec and Query, tenant A leaves each kind behind on a pool of one
// connection; the next user of that connection (tenant B bound, in the database tier A again,
// since its connections serve no one else; and an unbound query) must see none of it.
func TestLeftoverSessionState(t *testing.T) {
	t.Parallel()
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase} {
		t.Run(string(tier), func(t *testing.T) {
			t.Parallel()
			testLeftovers(t, tier)
		})
	}
}

// leftover is one kind of session state and how to look for it.
type leftover struct {
	name  string
	stmts []string // run by tenant A, in order
	fails bool     // the last statement fails after leaving its state
}

func testLeftovers(t *testing.T, tier tenancy.Tier) {
	ctx := context.Background()
	db := newDB(t, 1)
	c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, TenantMigrations: tenantMigrations,
		PlacementPoolConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	create := func(slug string) *tenancy.Tenant {
		tn, err := c.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: tier})
		if err != nil {
			t.Fatalf("create %s: %v", slug, err)
		}
		return tn
	}
	a, b := create("leftover-a"), create("leftover-b")
	addNotes(t, c, a, "a-secret-1", "a-secret-2")
	addNotes(t, c, b, "b-note")
	// The next user of A's connection; the database tier's connections serve A alone.
	next := b
	if tier == tenancy.TierDatabase {
		next = a
	}
	// Another client with pools of its own: it sees a fence held on A's connection.
	ocfg, err := pgxpool.ParseConfig(db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	tenancy.ConfigurePool(ocfg, "")
	opool, err := pgxpool.NewWithConfig(ctx, ocfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(opool.Close)
	other, err := tenancy.New(&tenancy.Config{AppPool: opool, OwnerPool: db.OwnerPool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	// The superuser on A's database, to NOTIFY there.
	aDB := db.Name
	if tier == tenancy.TierDatabase {
		aDB = a.Placement.Database
	}
	super, err := pgxpool.New(ctx, db.Server.URL("", aDB))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(super.Close)

	class, key := tenancy.FenceKey(next.ID)
	lock := fmt.Sprintf(`SELECT pg_advisory_lock(%d, %d)`, class, key)
	kinds := []leftover{
		{name: "settings", stmts: []string{
			`SET search_path TO ` + pgx.Identifier{a.Placement.Schema}.Sanitize() + `, public`,
			`SELECT set_config('tenancy.tenant_id', '` + strconv.FormatInt(a.ID, 10) + `', false), set_config('tenancy.leftover', 'from-a', false)`,
		}},
		{name: "cursor", stmts: []string{`DECLARE leftover CURSOR WITH HOLD FOR SELECT body FROM notes`}},
		{name: "advisory", stmts: []string{lock}},
		// The lock is taken, then the statement fails: its transaction rolls back, the lock stays.
		{name: "advisory-failed", stmts: []string{lock + `::text::int`}, fails: true},
		{name: "listen", stmts: []string{`LISTEN leftover`}},
		{name: "temp", stmts: []string{`CREATE TEMP TABLE leftover AS SELECT body FROM notes`}},
	}
	errRollback := errors.New("roll back")
	vias := []struct {
		name string
		run  func(ctx context.Context, stmts []string) error
	}{
		{"tx", func(ctx context.Context, stmts []string) error {
			return c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				for _, s := range stmts {
					if _, err := tx.Exec(ctx, s); err != nil {
						return err
					}
				}
				return nil
			})
		}},
		{"tx-rollback", func(ctx context.Context, stmts []string) error {
			return c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				for _, s := range stmts {
					if _, err := tx.Exec(ctx, s); err != nil {
						return err
					}
				}
				return errRollback
			})
		}},
		{"exec", func(ctx context.Context, stmts []string) error {
			for _, s := range stmts {
				if _, err := c.Exec(ctx, s); err != nil {
					return err
				}
			}
			return nil
		}},
		{"query", func(ctx context.Context, stmts []string) error {
			for _, s := range stmts {
				rows, err := c.Query(ctx, s)
				if err != nil {
					return err
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	actx := tenancy.WithTenant(ctx, a)
	for _, via := range vias {
		for _, k := range kinds {
			t.Run(via.name+"/"+k.name, func(t *testing.T) {
				err := via.run(actx, k.stmts)
				if k.fails || via.name == "tx-rollback" {
					if err == nil {
						t.Fatalf("A's statements succeeded, want them to fail")
					}
				} else if err != nil {
					t.Fatalf("A's statements: %v", err)
				}
				if k.name == "listen" {
					if _, err := super.Exec(ctx, `SELECT pg_notify('leftover', 'from-a')`); err != nil {
						t.Fatal(err)
					}
				}
				checkNextUser(t, c, db, other, next, a, k.name, tier)
			})
		}
	}
}

// checkNextUser looks, as the next user of A's connection, for the state kind left there.
func checkNextUser(t *testing.T, c *tenancy.Client, db *tenancytest.DB, other *tenancy.Client, next, a *tenancy.Tenant, kind string, tier tenancy.Tier) {
	t.Helper()
	ctx := context.Background()
	nctx := tenancy.WithTenant(ctx, next)
	unbound := tier != tenancy.TierDatabase // the database tier's connections are never used unbound
	switch kind {
	case "settings":
		err := c.Tx(nctx, func(ctx context.Context, tx pgx.Tx) error {
			var v *string
			if err := tx.QueryRow(ctx, `SELECT current_setting('tenancy.leftover', true)`).Scan(&v); err != nil {
				return err
			}
			if v != nil && *v != "" {
				t.Errorf("next bound transaction: tenancy.leftover = %q, set by A", *v)
			}
			if next != a {
				var n int
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM notes WHERE body LIKE 'a-secret%'`).Scan(&n); err != nil {
					return err
				}
				if n != 0 {
					t.Errorf("next bound transaction (%s) reads %d of A's notes", next.Slug, n)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if unbound {
			var n int
			err := db.AppPool.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n)
			if err == nil && n != 0 {
				t.Errorf("unbound read of notes: %d rows, want none (or an error)", n)
			}
			if err := db.AppPool.QueryRow(ctx, `SELECT count(*) FROM `+qualified(a)).Scan(&n); err != nil || n != 0 {
				t.Errorf("unbound read of A's table by its name: %d rows (%v), want none", n, err)
			}
			var sp string
			if err := db.AppPool.QueryRow(ctx, `SELECT current_setting('search_path')`).Scan(&sp); err != nil || sp != db.AppPool.Config().ConnConfig.RuntimeParams["search_path"] {
				t.Errorf("unbound search_path %q (%v), want the pool's own", sp, err)
			}
		}
	case "cursor":
		err := c.Tx(nctx, func(ctx context.Context, tx pgx.Tx) error {
			rows, _ := tx.Query(ctx, `FETCH ALL FROM leftover`)
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err == nil {
				t.Errorf("next bound transaction fetched %q from A's cursor", got)
			}
			return err
		})
		if err != nil && sqlState(err) != "34000" {
			t.Errorf("fetch from A's cursor: %v, want SQLSTATE 34000 (no such cursor)", err)
		}
		if unbound {
			if _, err := db.AppPool.Exec(ctx, `FETCH ALL FROM leftover`); sqlState(err) != "34000" {
				t.Errorf("unbound fetch from A's cursor: %v, want SQLSTATE 34000", err)
			}
		}
	case "advisory", "advisory-failed":
		// Seen from another connection, a session lock on next's fence key reads as a move.
		var n int
		if err := other.QueryRow(nctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			t.Errorf("%s bound on another connection: %v, want no fence", next.Slug, err)
		}
	case "listen":
		err := c.Tx(nctx, func(ctx context.Context, tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_listening_channels()`).Scan(&n); err != nil {
				return err
			}
			if n != 0 {
				t.Errorf("next bound transaction listens on %d channels", n)
			}
			wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			if nt, err := tx.Conn().WaitForNotification(wctx); nt != nil || err == nil {
				t.Errorf("next bound transaction received a notification meant for A: %+v (%v)", nt, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	case "temp":
		err := c.Tx(nctx, func(ctx context.Context, tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()`).Scan(&n); err != nil {
				return err
			}
			if n != 0 {
				t.Errorf("next bound transaction sees %d temporary relations", n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if unbound {
			if _, err := db.AppPool.Exec(ctx, `SELECT count(*) FROM pg_temp.leftover`); sqlState(err) != "42P01" {
				t.Errorf("unbound read of A's temporary table: %v, want SQLSTATE 42P01", err)
			}
		}
	}
}

// The reset runs inside a one-shot call's implicit transaction, before its COMMIT: deferred
// triggers, which run at the COMMIT, must still see the binding (bind.go, rebindSQL).
func TestResetKeepsDeferredTriggersBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 1)
	a := mustCreate(t, db.Client, "deferred")
	s := pgx.Identifier{a.Placement.Schema}.Sanitize()
	_, err := db.OwnerPool.Exec(ctx, `
		CREATE FUNCTION `+s+`.check_bound() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF tenancy.current_tenant_id() IS DISTINCT FROM NEW.tenant_id THEN
				RAISE EXCEPTION 'tenancy.tenant_id at COMMIT: %', current_setting('tenancy.tenant_id', true);
			END IF;
			PERFORM 1 FROM notes; -- through search_path
			RETURN NULL;
		END $$;
		CREATE CONSTRAINT TRIGGER check_bound AFTER INSERT ON `+s+`.notes
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION `+s+`.check_bound()`)
	if err != nil {
		t.Fatal(err)
	}
	actx := tenancy.WithTenant(ctx, a)
	if _, err := db.Client.Exec(actx, `INSERT INTO notes (body) VALUES ('exec')`); err != nil {
		t.Errorf("one-shot insert with a deferred trigger: %v", err)
	}
	var id int64
	if err := db.Client.QueryRow(actx, `INSERT INTO notes (body) VALUES ('queryrow') RETURNING id`).Scan(&id); err != nil {
		t.Errorf("one-shot insert with a deferred trigger: %v", err)
	}
	err = db.Client.Tx(actx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ('tx')`)
		return err
	})
	if err != nil {
		t.Errorf("insert in Tx with a deferred trigger: %v", err)
	}
	if got := bodies(t, db.Client, a); len(got) != 3 {
		t.Errorf("notes %q, want the three inserted", got)
	}
}

// Tx commits with COMMIT and the reset in one message, whose last result is the reset's: a
// transaction that failed inside fn must still report that COMMIT rolled it back.
func TestTxFailedCommitReportsRollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 1)
	a := mustCreate(t, db.Client, "failed-commit")
	actx := tenancy.WithTenant(ctx, a)
	err := db.Client.Tx(actx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ('lost')`); err != nil {
			return err
		}
		_, _ = tx.Exec(ctx, `SELECT 1/0`) // swallowed: the transaction is failed
		return nil
	})
	if !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Errorf("Tx after a swallowed error: %v, want pgx.ErrTxCommitRollback", err)
	}
	if got := bodies(t, db.Client, a); len(got) != 0 {
		t.Errorf("notes %q after the rolled-back transaction, want none", got)
	}
}
