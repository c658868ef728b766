package gqlapi

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The GraphQL API's limits, each tried against the real handler on a real database: a query that
// could return too much is refused before any SQL runs, one that returns too much is stopped, a
// request has a time budget, nested lists load in batches, and introspection is a setting.

// sqlLog records every statement the application pool sends (queries and batched queries).
type sqlLog struct {
	mu    sync.Mutex
	stmts []string
}

func (l *sqlLog) add(sql string) {
	l.mu.Lock()
	l.stmts = append(l.stmts, sql)
	l.mu.Unlock()
}

func (l *sqlLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.add(d.SQL)
	return ctx
}
func (l *sqlLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (l *sqlLog) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (l *sqlLog) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	l.add(d.SQL)
}
func (l *sqlLog) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

var tenantTableSQL = regexp.MustCompile(`\b(projects|tasks|comments)\b`)

// tenantReads counts the statements so far that name a projects, tasks or comments table.
func (l *sqlLog) tenantReads() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.stmts {
		if tenantTableSQL.MatchString(s) {
			n++
		}
	}
	return n
}

// newGQLEnv is an env whose application pool's statements are recorded, with the configuration
// changed by change.
func newGQLEnv(t *testing.T, change func(*Config)) (*env, *sqlLog) {
	t.Helper()
	log := &sqlLog{}
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(),
		AppPoolConfig: func(c *pgxpool.Config) { c.ConnConfig.Tracer = log },
	})
	return newEnv(t, db, change), log
}

// seedTasks makes one project with n tasks, each with one comment.
func (e *env) seedTasks(org *tenancy.Tenant, n int) {
	e.t.Helper()
	err := e.db.Client.Tx(tenancy.WithTenant(context.Background(), org), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			WITH p AS (INSERT INTO projects (name) VALUES ('P') RETURNING id),
			     t AS (INSERT INTO tasks (project_id, title) SELECT p.id, 'task ' || g FROM p, generate_series(1, $1) g RETURNING id)
			INSERT INTO comments (task_id, body) SELECT id, 'note' FROM t`, n)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// gql posts a query and returns the answer, which must be 200 with a JSON body.
func (e *env) gql(org *tenancy.Tenant, query string) apiResp {
	e.t.Helper()
	body := fmt.Sprintf(`{"query":%q}`, query)
	r := e.post(org, body)
	if r.Status != 200 {
		e.t.Fatalf("%s: %d %s", query, r.Status, r.Raw)
	}
	return r
}

// refusedGQL is the first error's message and code of a refused answer (no data), or fails.
func refusedGQL(t *testing.T, r apiResp) (msg, code string) {
	t.Helper()
	errs, _ := r.Body["errors"].([]any)
	if len(errs) == 0 || r.Body["data"] != nil {
		t.Fatalf("want a refusal with no data, got %s", r.Raw)
	}
	first := errs[0].(map[string]any)
	ext, _ := first["extensions"].(map[string]any)
	code, _ = ext["code"].(string)
	return first["message"].(string), code
}

// nestedQuery is lists of tasks nested levels deep, 20 at each level: tasks, each task's project,
// its tasks, and so on (4 levels: depth 8, the most the schema allows, and 176,840 objects).
func nestedQuery(levels int) string {
	q := "tasks(first: 20) { id }"
	for range levels - 1 {
		q = "tasks(first: 20) { id project { " + q + " } }"
	}
	return "{ " + q + " }"
}

func TestGraphQLCostRefusedBeforeSQL(t *testing.T) {
	t.Parallel()
	e, log := newGQLEnv(t, nil)
	acme := e.org("acme")
	e.seedTasks(acme, 3)

	before := log.tenantReads()
	r := e.gql(acme, nestedQuery(4))
	msg, code := refusedGQL(t, r)
	if code != "QUERY_TOO_COSTLY" || !strings.Contains(msg, "20000") {
		t.Fatalf("nested query: %s", r.Raw)
	}
	if n := log.tenantReads() - before; n != 0 {
		t.Fatalf("the refused query ran %d statements on tenant tables", n)
	}

	// Aliases and fragments count too: the same cost spelt differently is refused the same way.
	spread := `query { ...F } fragment F on Query { a: tasks(first: 100) { ...T } b: tasks(first: 100) { ...T } }
		fragment T on Task { project { tasks(first: 100) { comments(first: 100) { id } } } }`
	if _, code := refusedGQL(t, e.gql(acme, spread)); code != "QUERY_TOO_COSTLY" {
		t.Fatalf("fragments and aliases: code %q", code)
	}
	// A variable's value is what counts.
	r = e.post(acme, `{"query":"query($n: Int) { tasks(first: $n) { comments(first: $n) { project: taskId } project { tasks(first: $n) { id } } } }","variables":{"n":100}}`)
	if _, code := refusedGQL(t, r); code != "QUERY_TOO_COSTLY" {
		t.Fatalf("variables: %s", r.Raw)
	}
	if n := log.tenantReads() - before; n != 0 {
		t.Fatalf("the refused queries ran %d statements on tenant tables", n)
	}

	// The same shape, two levels deep, is fine.
	r = e.gql(acme, nestedQuery(2))
	if r.Body["errors"] != nil || len(r.Body["data"].(map[string]any)["tasks"].([]any)) != 3 {
		t.Fatalf("two levels: %s", r.Raw)
	}
}

func TestGraphQLObjectCap(t *testing.T) {
	t.Parallel()
	e, _ := newGQLEnv(t, func(c *Config) { c.MaxObjects = 10 })
	acme := e.org("acme")
	e.seedTasks(acme, 6)

	// 6 tasks: under the cap. 6 tasks and their 6 comments: over it.
	if r := e.gql(acme, `{ tasks { id } }`); r.Body["errors"] != nil {
		t.Fatalf("6 objects: %s", r.Raw)
	}
	r := e.gql(acme, `{ tasks { id comments { id } } }`)
	if msg, code := refusedGQL(t, r); code != "TOO_MANY_OBJECTS" || !strings.Contains(msg, "10") {
		t.Fatalf("12 objects: %s", r.Raw)
	}
}

func TestGraphQLTimeBudget(t *testing.T) {
	t.Parallel()
	e, _ := newGQLEnv(t, func(c *Config) { c.Timeout = time.Nanosecond })
	acme := e.org("acme")
	e.seedTasks(acme, 2)
	r := e.gql(acme, `{ tasks { id project { name } } }`)
	if msg, code := refusedGQL(t, r); code != "TIME_BUDGET_EXCEEDED" || !strings.Contains(msg, "1ns") {
		t.Fatalf("a query over its budget: %s", r.Raw)
	}
}

// TestGraphQLBatchedLoading: tasks with their projects and comments cost the same number of
// statements for 5 tasks as for 50.
func TestGraphQLBatchedLoading(t *testing.T) {
	t.Parallel()
	e, log := newGQLEnv(t, nil)
	const query = `{ tasks(first: 60) { id project { name tasks(first: 2) { id comments(first: 5) { body } } } comments(first: 5) { body author { name } } } }`
	reads := map[int]int{}
	for i, n := range []int{5, 50} {
		slug := []string{"small", "large"}[i]
		org := e.org(slug)
		e.seedTasks(org, n)
		before := log.tenantReads()
		r := e.gql(org, query)
		data, _ := r.Body["data"].(map[string]any)
		tasks, _ := data["tasks"].([]any)
		if r.Body["errors"] != nil || len(tasks) != n {
			t.Fatalf("%d tasks: %s", n, r.Raw)
		}
		if c := tasks[n-1].(map[string]any)["comments"].([]any); len(c) != 1 || c[0].(map[string]any)["body"] != "note" {
			t.Fatalf("%d tasks: last task's comments %v", n, c)
		}
		reads[n] = log.tenantReads() - before
	}
	if reads[5] != reads[50] || reads[5] > 6 {
		t.Fatalf("statements on tenant tables: %d for 5 tasks, %d for 50; want the same few", reads[5], reads[50])
	}
}

func TestGraphQLIntrospectionSetting(t *testing.T) {
	t.Parallel()
	const query = `{ __schema { queryType { name } } }`
	off, _ := newGQLEnv(t, nil)
	acme := off.org("acme")
	if _, code := refusedGQL(t, off.gql(acme, query)); code != "INTROSPECTION_DISABLED" {
		t.Fatalf("introspection off: code %q", code)
	}
	if r := off.gql(acme, `{ projects { __typename } }`); r.Body["errors"] != nil {
		t.Fatalf("__typename with introspection off: %s", r.Raw)
	}

	on, _ := newGQLEnv(t, func(c *Config) { c.Introspection = true })
	acme = on.org("acme")
	if r := on.gql(acme, query); !strings.Contains(r.Raw, `"queryType":{"name":"Query"}`) {
		t.Fatalf("introspection on: %s", r.Raw)
	}
	// A schema browser's question (every type, field and argument) is within the cost limit.
	if r := on.gql(acme, `{ __schema { types { name kind fields { name args { name type { name } } type { name kind ofType { name } } } } } }`); r.Body["errors"] != nil {
		t.Fatalf("types and fields: %.300s", r.Raw)
	}
}
