package tenancytest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
)

// Tiers are the tiers EachTier runs in, in its order.
var Tiers = []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase}

// TierSlug is the slug of the tenant EachTier creates.
const TierSlug = "acme"

// TierDB is one tier's run of EachTier: a test database and a tenant created in that tier.
type TierDB struct {
	*DB
	Tier   tenancy.Tier
	Tenant *tenancy.Tenant
}

// Context returns ctx carrying the tenant, as tenancyhttp's middleware would.
func (d *TierDB) Context(ctx context.Context) context.Context {
	return tenancy.WithTenant(ctx, d.Tenant)
}

// EachTier runs f once per tier (Tiers), in parallel subtests named after the tiers, each with a
// database of its own (New with opts) and the tenant TierSlug created in that tier. An
// application's tests written this way run its tenant code against every tier, so code that
// cannot work in the database tier fails in the test suite rather than in production; the usual
// culprit is a tenant-bound statement that reads a shared table (docs/tiers.md).
//
// Such a statement fails in the database subtest with "relation ... does not exist". EachTier
// watches the application pool's statements (a pgx tracer, added to any opts.AppPoolConfig sets)
// and fails the subtest naming the shared table and the statement, also when the application
// turned the error into something else.
func EachTier(t *testing.T, opts *Options, f func(t *testing.T, d *TierDB)) {
	t.Helper()
	for _, tier := range Tiers {
		t.Run(string(tier), func(t *testing.T) {
			t.Parallel()
			runTier(t, tier, opts, t.Errorf, f)
		})
	}
}

// runTier is one subtest of EachTier; errorf reports the shared objects its statements used.
func runTier(t *testing.T, tier tenancy.Tier, opts *Options, errorf func(string, ...any), f func(t *testing.T, d *TierDB)) {
	t.Helper()
	o := Options{}
	if opts != nil {
		o = *opts
	}
	watch := &sharedWatch{}
	appPoolConfig := o.AppPoolConfig
	o.AppPoolConfig = func(cfg *pgxpool.Config) {
		if appPoolConfig != nil {
			appPoolConfig(cfg)
		}
		// Database-tier placement pools copy this configuration, tracer included.
		if cfg.ConnConfig.Tracer != nil {
			cfg.ConnConfig.Tracer = multitracer.New(cfg.ConnConfig.Tracer, watch)
		} else {
			cfg.ConnConfig.Tracer = watch
		}
	}
	db := New(t, &o)
	ctx := context.Background()
	shared := o.SharedSchema
	if shared == "" {
		shared = tenancy.SharedSchemaDefault
	}
	if err := watch.load(ctx, db.AppPool, shared); err != nil {
		t.Fatalf("tenancytest: list the shared schema: %v", err)
	}
	tenant, err := db.Client.TenantCreate(ctx, TierSlug, &tenancy.TenantCreateOpts{Tier: tier})
	if err != nil {
		t.Fatalf("tenancytest: create the %s tenant: %v", tier, err)
	}
	defer func() {
		for _, r := range watch.found() {
			errorf("tenancytest: a statement used %s of the shared schema %q, which a %s-tier tenant's database does not have "+
				"(read shared rows in a statement of their own, see docs/tiers.md): %s", r.what, shared, tier, oneLineSQL(r.sql))
		}
	}()
	f(t, &TierDB{DB: db, Tier: tier, Tenant: tenant})
}

// sharedWatch is a pgx tracer that keeps the statements that failed because a table or function
// of the shared schema does not exist where they ran: in a database-tier tenant's database.
type sharedWatch struct {
	mu        sync.Mutex
	schema    string
	relations map[string]bool
	functions map[string]bool
	refs      []sharedRef
}

type sharedRef struct{ what, sql string }

// load reads the names of the shared schema's tables, views, sequences and functions.
func (w *sharedWatch) load(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	rows, err := pool.Query(ctx, `
		SELECT c.relname, false FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
		UNION ALL
		SELECT p.proname, true FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = $1`, schema)
	if err != nil {
		return err
	}
	rels, funcs := map[string]bool{}, map[string]bool{}
	var name string
	var fn bool
	if _, err := pgx.ForEachRow(rows, []any{&name, &fn}, func() error {
		if fn {
			funcs[name] = true
		} else {
			rels[name] = true
		}
		return nil
	}); err != nil {
		return err
	}
	w.mu.Lock()
	w.schema, w.relations, w.functions = schema, rels, funcs
	w.mu.Unlock()
	return nil
}

var (
	missingRelation = regexp.MustCompile(`^relation "(?:[^"]+\.)?([^".]+)" does not exist`)
	missingFunction = regexp.MustCompile(`^function (?:[^ (]+\.)?([^ (.]+)\(`)
	missingSchema   = regexp.MustCompile(`^schema "([^"]+)" does not exist`)
)

// check records sql if err says that a shared object is missing, and says whether it did.
func (w *sharedWatch) check(sql string, err error) bool {
	what, _ := w.missing(err)
	if what == "" {
		return false
	}
	w.mu.Lock()
	w.refs = append(w.refs, sharedRef{what, sql})
	w.mu.Unlock()
	return true
}

// missing describes the shared object err says is missing, and gives its name; "" if none.
func (w *sharedWatch) missing(err error) (what, name string) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return "", ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch pe.Code {
	case "42P01": // undefined_table
		if s := missingRelation.FindStringSubmatch(pe.Message); s != nil && w.relations[s[1]] {
			return fmt.Sprintf("the table %q", s[1]), s[1]
		}
	case "42883": // undefined_function
		if s := missingFunction.FindStringSubmatch(pe.Message); s != nil && w.functions[s[1]] {
			return fmt.Sprintf("the function %q", s[1]), s[1]
		}
	case "3F000": // invalid_schema_name
		if s := missingSchema.FindStringSubmatch(pe.Message); s != nil && s[1] == w.schema {
			return "a name", s[1]
		}
	}
	return "", ""
}

func (w *sharedWatch) found() []sharedRef {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]sharedRef(nil), w.refs...)
}

type sqlKey struct{}

func (w *sharedWatch) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, sqlKey{}, data.SQL)
}

func (w *sharedWatch) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if data.Err != nil {
		sql, _ := ctx.Value(sqlKey{}).(string)
		w.check(sql, data.Err)
	}
}

// batchKey holds the batch under way and whether its error was reported.
type batchKey struct{}

type batchState struct {
	sql      []string
	reported bool
}

func (w *sharedWatch) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	st := &batchState{}
	if data.Batch != nil {
		for _, q := range data.Batch.QueuedQueries {
			st.sql = append(st.sql, q.SQL)
		}
	}
	return context.WithValue(ctx, batchKey{}, st)
}

func (w *sharedWatch) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if data.Err != nil && w.check(data.SQL, data.Err) {
		if st, ok := ctx.Value(batchKey{}).(*batchState); ok {
			st.reported = true
		}
	}
}

// TraceBatchEnd reports an error that no statement of the batch did: the statement cache
// prepares the statements before sending the batch, and a failure there ends it (more than
// once), naming no statement: the one that names the missing object is taken.
func (w *sharedWatch) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	st, ok := ctx.Value(batchKey{}).(*batchState)
	if !ok || st.reported || data.Err == nil {
		return
	}
	what, name := w.missing(data.Err)
	if what == "" {
		return
	}
	sql := strings.Join(st.sql, "; ")
	for _, q := range st.sql {
		if mentions(q, name) {
			sql = q
			break
		}
	}
	st.reported = w.check(sql, data.Err)
}

// mentions says whether sql has name as a word.
func mentions(sql, name string) bool {
	return regexp.MustCompile(`(?i)(^|[^a-z0-9_$])` + regexp.QuoteMeta(name) + `($|[^a-z0-9_$])`).MatchString(sql)
}

// The statement cache prepares a batch's statements first: an error there ends the batch
// before any TraceBatchQuery.
func (w *sharedWatch) TracePrepareStart(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	return context.WithValue(ctx, sqlKey{}, data.SQL)
}

func (w *sharedWatch) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareEndData) {
	if data.Err != nil {
		sql, _ := ctx.Value(sqlKey{}).(string)
		w.check(sql, data.Err)
	}
}

// oneLineSQL shortens a statement for a test message.
func oneLineSQL(sql string) string {
	s := strings.Join(strings.Fields(sql), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
