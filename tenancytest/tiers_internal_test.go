package tenancytest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
)

// A tenant-bound statement that joins a shared table works in the pool and schema tiers and
// fails in the database tier; EachTier's subtest names the table and the statement there, on
// both paths of the Client (one-shot calls are batches, Tx statements queries), even when the
// application swallows the error, and alongside a tracer of the application's own.
func TestEachTierFlagsSharedTables(t *testing.T) {
	t.Parallel()
	const join = `SELECT n.body, u.email FROM notes n JOIN users u ON u.id = n.author_id`
	for _, tier := range Tiers {
		t.Run(string(tier), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var reported []string
			errorf := func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				reported = append(reported, fmt.Sprintf(format, args...))
			}
			own := &countTracer{}
			opts := &Options{
				SharedMigrations: os.DirFS("../testdata/migrations/shared"),
				TenantMigrations: os.DirFS("../testdata/migrations/tenant"),
				AppPoolConfig:    func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = own },
			}
			var oneShot, inTx error
			runTier(t, tier, opts, errorf, func(t *testing.T, d *TierDB) {
				ctx := d.Context(context.Background())
				rows, err := d.Client.Query(ctx, join)
				if err == nil {
					rows.Close()
					err = rows.Err()
				}
				oneShot = err
				inTx = d.Client.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, join)
					return err
				})
				// Swallowed by the application: still reported.
				_, _ = d.Client.Exec(ctx, `UPDATE notes SET body = u.email FROM users u WHERE u.id = notes.author_id`)
			})
			if own.n.Load() == 0 {
				t.Errorf("the application's own tracer saw no statement")
			}
			if tier != tenancy.TierDatabase {
				if oneShot != nil || inTx != nil || len(reported) != 0 {
					t.Fatalf("%s tier: %v, %v, reported %q", tier, oneShot, inTx, reported)
				}
				return
			}
			if oneShot == nil || inTx == nil {
				t.Fatalf("database tier: the join worked (%v, %v)", oneShot, inTx)
			}
			if len(reported) != 3 {
				t.Fatalf("database tier: reported %d statements, want 3: %q", len(reported), reported)
			}
			for _, r := range reported {
				if !strings.Contains(r, `the table "users" of the shared schema "public"`) || !strings.Contains(r, "docs/tiers.md") || !strings.Contains(r, "JOIN users u") && !strings.Contains(r, "FROM users u") {
					t.Errorf("report: %s", r)
				}
			}
		})
	}
}

// A missing tenant table, or an error of another kind, is not reported as a shared table.
func TestSharedWatchIgnoresOthers(t *testing.T) {
	t.Parallel()
	w := &sharedWatch{schema: "public", relations: map[string]bool{"users": true}, functions: map[string]bool{"user_name": true}}
	for _, c := range []struct {
		code, msg string
		want      bool
	}{
		{"42P01", `relation "users" does not exist`, true},
		{"42P01", `relation "public.users" does not exist`, true},
		{"42P01", `relation "notes" does not exist`, false},
		{"42883", `function user_name(bigint) does not exist`, true},
		{"42883", `function public.user_name(bigint) does not exist`, true},
		{"42883", `function note_title(bigint) does not exist`, false},
		{"3F000", `schema "public" does not exist`, true},
		{"3F000", `schema "other" does not exist`, false},
		{"23505", `duplicate key value violates unique constraint "users_pkey"`, false},
	} {
		w.refs = nil
		w.check("SELECT 1", &pgconn.PgError{Code: c.code, Message: c.msg})
		if got := len(w.refs) == 1; got != c.want {
			t.Errorf("%s %s: reported %v, want %v", c.code, c.msg, got, c.want)
		}
	}
}

// countTracer stands for an application's own tracer: it counts the statements it sees.
type countTracer struct{ n atomic.Int64 }

func (c *countTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *countTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
