package gqlapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
	"github.com/tenancy-go/tenancy/tenancytest"
)

func TestGQLOperationKind(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ doc, op, want string }{
		{`{ projects { id } }`, "", "query"},
		{`query { projects { id } }`, "", "query"},
		{`query P($n: Int = 3) @dir { projects(first: $n) { id } }`, "", "query"},
		{`mutation { createProject(name: "x") { id } }`, "", "mutation"},
		{"# mutation\n{ projects { id } }", "", "query"},
		{`{ a: project(id: "}mutation{") { id } } `, "", "query"},
		{`{ a: project(id: """ } mutation \""" {""") { id } }`, "", "query"},
		{`query Q { projects { id } } mutation M { deleteProject(id: "1") }`, "M", "mutation"},
		{`query Q { projects { id } } mutation M { deleteProject(id: "1") }`, "Q", "query"},
		{`query Q { projects { id } } mutation M { deleteProject(id: "1") }`, "", ""},
		{`fragment F on Project { id } mutation { createProject(name: "x") { ...F } }`, "", "mutation"},
		{`query($v: In = {a: {b: 1}}) { projects { id } }`, "", "query"},
		{`subscription S { x }`, "S", "subscription"},
		{`query mutation { projects { id } }`, "mutation", "query"},
	} {
		if got := gqlOperationKind(c.doc, c.op); got != c.want {
			t.Errorf("gqlOperationKind(%q, %q) = %q, want %q", c.doc, c.op, got, c.want)
		}
	}
}

func TestGQLCost(t *testing.T) {
	t.Parallel()
	s, err := newGQLSchema(&API{}, &Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		doc  string
		vars map[string]any
		want int64
	}{
		{`{ projects { id } }`, nil, 20},
		{nestedQuery(4), nil, 176840}, // 20 + 20 + 400 + 400 + 8,000 + 8,000 + 160,000
		{`{ a: tasks(first: 3) { id } b: tasks(first: 4) { comments(first: 2) { author { name } } } }`, nil, 3 + 4*(1+2*2)},
		{`query($n: Int = 7) { tasks(first: $n) { id } }`, nil, 7},
		{`query($n: Int = 7) { tasks(first: $n) { id } }`, map[string]any{"n": float64(9)}, 9},
		{`{ ...F } fragment F on Query { tasks { ... on Task { project { name } } } }`, nil, 20 * 2},
		{`mutation { createProject(name: "x") { tasks(first: 5) { id } } }`, nil, 1 + 5},
		{`{ task(id: "1") { __typename title } }`, nil, 1},
	} {
		got, err := gqlCost(s.all.AST(), c.doc, "", c.vars, false)
		if err != nil || got != c.want {
			t.Errorf("gqlCost(%s) = %d, %v; want %d", c.doc, got, err, c.want)
		}
	}
}

// TestGetRunsQueriesOnly: GET runs a query, and refuses a mutation (405) before anything runs.
func TestGetRunsQueriesOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, tenancytest.New(t, &tenancytest.Options{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(), ClientConfig: store.ConfigureClient}), nil)
	acme := e.org("acme")
	get := func(doc string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(tenancy.WithTenant(context.Background(), acme), "GET", "/graphql?"+url.Values{"query": {doc}}.Encode(), nil)
		rec := httptest.NewRecorder()
		e.api.Get(rec, req)
		return rec
	}
	if rec := get(`mutation { createProject(name: "x") { id } }`); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST" {
		t.Fatalf("mutation by GET: %d %s", rec.Code, rec.Body)
	}
	if rec := get(`{ projects { name } }`); rec.Code != http.StatusOK || rec.Body.String() != `{"data":{"projects":[]}}`+"\n" {
		t.Fatalf("query by GET: %d %s", rec.Code, rec.Body)
	}
	// The refused mutation made nothing.
	if r := e.post(acme, `{"query":"mutation { createProject(name: \"y\") { name } }"}`); r.Status != http.StatusOK || r.Raw != `{"data":{"createProject":{"name":"y"}}}`+"\n" {
		t.Fatalf("mutation by POST: %d %s", r.Status, r.Raw)
	}
	if rec := get(`{ projects { name } }`); rec.Body.String() != `{"data":{"projects":[{"name":"y"}]}}`+"\n" {
		t.Fatalf("projects after: %s", rec.Body)
	}
}
