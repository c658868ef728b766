package app

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
)

// The API tests run once per tier: the same requests must give the same answers whether the
// organisation lives in a schema, in the shared pool or in a database of its own.

func TestRESTCreateListGetUpdateDelete(t *testing.T) {
	t.Parallel()
	eachTier(t, testREST)
}

func testREST(t *testing.T, tier tenancy.Tier) {
	e := newEnv(t)
	acme, tok := e.orgIn("acme", tier)
	ann := e.member(acme, "ann@example.com", "Ann Assignee")
	outsider := e.member(nil, "out@example.com", "Olly Outsider")

	r := e.api("POST", "acme", "/api/v1/projects", tok, `{"name":"Launch"}`)
	if r.Status != http.StatusCreated || r.Body["name"] != "Launch" || r.Body["id"] == nil {
		t.Fatalf("create project: %d %s", r.Status, r.Raw)
	}
	pid := int(r.Body["id"].(float64))
	for _, n := range []string{"Two", "Three"} {
		if r := e.api("POST", "acme", "/api/v1/projects", tok, `{"name":"`+n+`","description":"d"}`); r.Status != 201 {
			t.Fatalf("create %s: %d %s", n, r.Status, r.Raw)
		}
	}

	// Pagination: two pages of two and one.
	p1 := e.api("GET", "acme", "/api/v1/projects?limit=2", tok, "")
	items := p1.Body["items"].([]any)
	if p1.Status != 200 || len(items) != 2 || p1.Body["next_cursor"] == nil {
		t.Fatalf("page 1: %d %s", p1.Status, p1.Raw)
	}
	p2 := e.api("GET", "acme", "/api/v1/projects?limit=2&cursor="+p1.Body["next_cursor"].(string), tok, "")
	if items := p2.Body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["name"] != "Three" || p2.Body["next_cursor"] != nil {
		t.Fatalf("page 2: %s", p2.Raw)
	}
	if r := e.api("GET", "acme", "/api/v1/projects?limit=500", tok, ""); r.Status != 400 {
		t.Fatalf("limit=500: %d", r.Status)
	}

	proj := fmt.Sprintf("/api/v1/projects/%d", pid)
	if r := e.api("PATCH", "acme", proj, tok, `{"name":"Launch v2"}`); r.Status != 200 || r.Body["name"] != "Launch v2" || r.Body["description"] != "" {
		t.Fatalf("update project: %d %s", r.Status, r.Raw)
	}
	if r := e.api("GET", "acme", proj, tok, ""); r.Status != 200 || r.Body["name"] != "Launch v2" {
		t.Fatalf("get project: %d %s", r.Status, r.Raw)
	}

	// Tasks and comments.
	r = e.api("POST", "acme", proj+"/tasks", tok, `{"title":"Write docs","status":"doing","due_date":"2030-01-31"}`)
	if r.Status != 201 || r.Body["title"] != "Write docs" || r.Body["status"] != "doing" || r.Body["due_date"] != "2030-01-31" {
		t.Fatalf("create task: %d %s", r.Status, r.Raw)
	}
	task := fmt.Sprintf("/api/v1/tasks/%d", int(r.Body["id"].(float64)))

	// Assignees are shared users, checked against the organisation's members and named from the
	// shared tables (no join: in the database tier they live in another database).
	if r := e.api("PATCH", "acme", task, tok, fmt.Sprintf(`{"assignee_id":%d}`, ann)); r.Status != 200 || r.Body["assignee_name"] != "Ann Assignee" {
		t.Fatalf("assign a member: %d %s", r.Status, r.Raw)
	}
	if r := e.api("PATCH", "acme", task, tok, fmt.Sprintf(`{"assignee_id":%d}`, outsider)); r.Status != 422 || !strings.Contains(r.Raw, "not a member") {
		t.Fatalf("assign a non-member: %d %s", r.Status, r.Raw)
	}
	if r := e.api("GET", "acme", proj+"/tasks", tok, ""); len(r.Body["items"].([]any)) != 1 || r.Body["items"].([]any)[0].(map[string]any)["assignee_name"] != "Ann Assignee" {
		t.Fatalf("list tasks with assignee: %s", r.Raw)
	}
	if r := e.api("PATCH", "acme", task, tok, `{"assignee_id":0}`); r.Status != 200 || r.Body["assignee_id"] != nil || r.Body["assignee_name"] != nil {
		t.Fatalf("unassign: %d %s", r.Status, r.Raw)
	}
	if r := e.api("PATCH", "acme", task, tok, `{"status":"done","due_date":""}`); r.Status != 200 || r.Body["status"] != "done" || r.Body["due_date"] != nil {
		t.Fatalf("update task: %d %s", r.Status, r.Raw)
	}
	if r := e.api("PATCH", "acme", task, tok, `{"status":"later"}`); r.Status != 422 || r.Body["error"] == nil {
		t.Fatalf("bad status: %d %s", r.Status, r.Raw)
	}
	if r := e.api("GET", "acme", "/api/v1/tasks?status=done", tok, ""); r.Status != 200 || len(r.Body["items"].([]any)) != 1 {
		t.Fatalf("list done tasks: %d %s", r.Status, r.Raw)
	}
	r = e.api("POST", "acme", task+"/comments", tok, `{"body":"Looks good"}`)
	if r.Status != 201 || r.Body["body"] != "Looks good" {
		t.Fatalf("create comment: %d %s", r.Status, r.Raw)
	}
	comment := fmt.Sprintf("/api/v1/comments/%d", int(r.Body["id"].(float64)))
	if r := e.api("PATCH", "acme", comment, tok, `{"body":"Looks great"}`); r.Status != 200 || r.Body["body"] != "Looks great" {
		t.Fatalf("update comment: %d %s", r.Status, r.Raw)
	}
	if r := e.api("GET", "acme", task+"/comments", tok, ""); len(r.Body["items"].([]any)) != 1 {
		t.Fatalf("list comments: %s", r.Raw)
	}
	if r := e.api("DELETE", "acme", comment, tok, ""); r.Status != 204 {
		t.Fatalf("delete comment: %d %s", r.Status, r.Raw)
	}
	if r := e.api("GET", "acme", comment, tok, ""); r.Status != 404 || r.Body["error"].(map[string]any)["code"] != "not_found" {
		t.Fatalf("deleted comment: %d %s", r.Status, r.Raw)
	}

	// Deleting the project takes its tasks with it.
	if r := e.api("DELETE", "acme", proj, tok, ""); r.Status != 204 {
		t.Fatalf("delete project: %d %s", r.Status, r.Raw)
	}
	if r := e.api("GET", "acme", task, tok, ""); r.Status != 404 {
		t.Fatalf("task of deleted project: %d %s", r.Status, r.Raw)
	}
	if n := e.count(acme, "projects"); n != 2 {
		t.Fatalf("projects left: %d, want 2", n)
	}
	if r := e.api("PUT", "acme", "/api/v1/tasks", tok, `{}`); r.Status != 405 || r.Body["error"] == nil {
		t.Fatalf("PUT on a list: %d %s", r.Status, r.Raw)
	}
	if r := e.api("GET", "acme", "/api/v1/nothing", tok, ""); r.Status != 404 || r.Body["error"] == nil {
		t.Fatalf("unknown endpoint: %d %s", r.Status, r.Raw)
	}
}

func TestTokensAreRefusedOnOtherOrganisations(t *testing.T) {
	t.Parallel()
	eachTier(t, testTokensRefused)
}

// testTokensRefused puts acme in tier and globex in the next tier, so that every pair of tiers
// is crossed once.
func testTokensRefused(t *testing.T, tier tenancy.Tier) {
	e := newEnv(t)
	acme, acmeTok := e.orgIn("acme", tier)
	globex, globexTok := e.orgIn("globex", nextTier(tier))
	if r := e.api("POST", "acme", "/api/v1/projects", acmeTok, `{"name":"Secret plan"}`); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}

	for _, c := range []struct{ name, method, slug, path, token, body string }{
		{"acme token lists globex", "GET", "globex", "/api/v1/projects", acmeTok, ""},
		{"acme token writes globex", "POST", "globex", "/api/v1/projects", acmeTok, `{"name":"intruder"}`},
		{"acme token reads globex project 1", "GET", "globex", "/api/v1/projects/1", acmeTok, ""},
		{"globex token reads acme", "GET", "acme", "/api/v1/projects/1", globexTok, ""},
		{"acme token on globex graphql", "POST", "globex", "/graphql", acmeTok, `{"query":"mutation { createProject(name: \"intruder\") { id } }"}`},
		{"no token", "GET", "acme", "/api/v1/projects", "", ""},
		{"made-up token", "GET", "acme", "/api/v1/projects", "tb_made_up", ""},
	} {
		r := e.api(c.method, c.slug, c.path, c.token, c.body)
		if r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 401 or 403", c.name, r.Status, r.Raw)
			continue
		}
		if r.Body["error"] == nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: not a JSON error: %s", c.name, r.Raw)
		}
	}
	if n := e.count(globex, "projects"); n != 0 {
		t.Fatalf("globex has %d projects, want 0", n)
	}
	if n := e.count(acme, "projects"); n != 1 {
		t.Fatalf("acme has %d projects, want 1", n)
	}
	// Unknown organisation: 404 before any token is looked at.
	if r := e.api("GET", "nosuch", "/api/v1/projects", acmeTok, ""); r.Status != 404 || r.Body["error"] == nil {
		t.Fatalf("unknown organisation: %d %s", r.Status, r.Raw)
	}
}

func nextTier(tier tenancy.Tier) tenancy.Tier {
	for i, x := range tiers {
		if x == tier {
			return tiers[(i+1)%len(tiers)]
		}
	}
	return tier
}

func TestBadInputIsRefusedAndWritesNothing(t *testing.T) {
	t.Parallel()
	eachTier(t, testBadInput)
}

func testBadInput(t *testing.T, tier tenancy.Tier) {
	e := newEnv(t)
	acme, tok := e.orgIn("acme", tier)
	r := e.api("POST", "acme", "/api/v1/projects", tok, `{"name":"Existing"}`)
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	proj := fmt.Sprintf("/api/v1/projects/%d", int(r.Body["id"].(float64)))
	huge := `{"name":"` + strings.Repeat("x", MaxBodyBytesDefault+10) + `"}`

	for _, c := range []struct {
		name, method, path, body string
		header                   []string
		status                   int
		code                     string
	}{
		{"malformed", "POST", "/api/v1/projects", `{"name":`, nil, 400, "malformed_json"},
		{"not an object", "POST", "/api/v1/projects", `["a"]`, nil, 400, "malformed_json"},
		{"wrong type", "POST", "/api/v1/projects", `{"name":5}`, nil, 400, "malformed_json"},
		{"unknown field", "POST", "/api/v1/projects", `{"name":"x","owner_id":1}`, nil, 400, "unknown_field"},
		{"two values", "POST", "/api/v1/projects", `{"name":"a"}{"name":"b"}`, nil, 400, "malformed_json"},
		{"too large", "POST", "/api/v1/projects", huge, nil, 413, "body_too_large"},
		{"missing name", "POST", "/api/v1/projects", `{}`, nil, 422, "invalid"},
		{"blank name", "POST", "/api/v1/projects", `{"name":"   "}`, nil, 422, "invalid"},
		{"form content type", "POST", "/api/v1/projects", `name=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"update unknown field", "PATCH", proj, `{"name":"Renamed","color":"red"}`, nil, 400, "unknown_field"},
		{"update too large", "PATCH", proj, huge, nil, 413, "body_too_large"},
		{"task malformed", "POST", proj + "/tasks", `{"title":"t",}`, nil, 400, "malformed_json"},
		{"task bad date", "POST", proj + "/tasks", `{"title":"t","due_date":"tomorrow"}`, nil, 422, "invalid"},
		{"task foreign assignee", "POST", proj + "/tasks", `{"title":"t","assignee_id":999}`, nil, 422, "invalid"},
		{"graphql malformed", "POST", "/graphql", `{"query":`, nil, 400, "malformed_json"},
		{"graphql too large", "POST", "/graphql", `{"query":"` + strings.Repeat(" ", MaxBodyBytesDefault) + `{ projects { id } }"}`, nil, 413, "body_too_large"},
		{"graphql unknown field", "POST", "/graphql", `{"query":"{ projects { id } }","foo":1}`, nil, 400, "unknown_field"},
		{"graphql mutation by GET", "GET", "/graphql?query=" + url.QueryEscape(`mutation { createProject(name: "x") { id } }`), "", nil, 405, "method_not_allowed"},
		{"graphql GET bad variables", "GET", "/graphql?query=" + url.QueryEscape(`{ projects { id } }`) + "&variables=%7B", "", nil, 400, "malformed_json"},
		{"graphql GET without query", "GET", "/graphql", "", nil, 400, "bad_request"},
	} {
		r := e.api(c.method, "acme", c.path, tok, c.body, c.header...)
		if r.Status != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.name, r.Status, c.status, r.Raw)
			continue
		}
		errObj, _ := r.Body["error"].(map[string]any)
		if errObj == nil || errObj["code"] != c.code || errObj["message"] == "" {
			t.Errorf("%s: error body %s, want code %s", c.name, r.Raw, c.code)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
	}
	if n := e.count(acme, "projects"); n != 1 {
		t.Errorf("projects: %d, want 1", n)
	}
	if n := e.count(acme, "tasks"); n != 0 {
		t.Errorf("tasks: %d, want 0", n)
	}
	if r := e.api("GET", "acme", proj, tok, ""); r.Body["name"] != "Existing" {
		t.Errorf("project changed: %s", r.Raw)
	}
}

func TestGraphQL(t *testing.T) {
	t.Parallel()
	eachTier(t, testGraphQL)
}

func testGraphQL(t *testing.T, tier tenancy.Tier) {
	e := newEnv(t)
	acme, tok := e.orgIn("acme", tier)
	_, globexTok := e.orgIn("globex", tier)
	ann := e.member(acme, "ann@example.com", "Ann Assignee")

	r := e.api("POST", "acme", "/graphql", tok, `{"query":"{ projects { id name } }"}`)
	if r.Status != 200 || r.Raw != `{"data":{"projects":[]}}`+"\n" {
		t.Fatalf("empty projects: %d %s", r.Status, r.Raw)
	}
	r = e.api("POST", "acme", "/graphql", tok, `{"query":"mutation($n: String!) { createProject(name: $n) { id name } }","variables":{"n":"Roadmap"}}`)
	p, _ := r.Body["data"].(map[string]any)["createProject"].(map[string]any)
	if r.Status != 200 || p == nil || p["name"] != "Roadmap" || p["id"] != "1" {
		t.Fatalf("createProject: %d %s", r.Status, r.Raw)
	}
	r = e.api("POST", "acme", "/graphql", tok, `{"query":"mutation { createTask(projectId: \"1\", title: \"Ship\", status: doing) { id status project { name } } }"}`)
	if !strings.Contains(r.Raw, `"status":"doing"`) || !strings.Contains(r.Raw, `"name":"Roadmap"`) {
		t.Fatalf("createTask: %s", r.Raw)
	}
	r = e.api("POST", "acme", "/graphql", tok, fmt.Sprintf(`{"query":"mutation { updateTask(id: \"1\", assigneeId: \"%d\") { assignee { name } } }"}`, ann))
	if r.Raw != `{"data":{"updateTask":{"assignee":{"name":"Ann Assignee"}}}}`+"\n" {
		t.Fatalf("updateTask assignee: %s", r.Raw)
	}
	const projects = `{"data":{"projects":[{"id":"1","name":"Roadmap","taskCount":1,"tasks":[{"title":"Ship","status":"doing","assignee":{"name":"Ann Assignee"}}]}]}}` + "\n"
	r = e.api("POST", "acme", "/graphql", tok, `{"query":"{ projects { id name taskCount tasks { title status assignee { name } } } }"}`)
	if r.Raw != projects {
		t.Fatalf("projects: %s", r.Raw)
	}
	// Queries may also be sent by GET (query, operationName and variables in the URL).
	q := url.Values{"query": {`query P($first: Int) { projects(first: $first) { id name taskCount tasks { title status assignee { name } } } }`},
		"variables": {`{"first": 5}`}, "operationName": {"P"}}
	if r := e.api("GET", "acme", "/graphql?"+q.Encode(), tok, ""); r.Status != 200 || r.Raw != projects {
		t.Fatalf("GET query: %d %s", r.Status, r.Raw)
	}

	// A refused mutation answers errors and writes nothing.
	r = e.api("POST", "acme", "/graphql", tok, `{"query":"mutation { createProject(name: \"  \") { id } }"}`)
	if r.Status != 200 || r.Body["errors"] == nil || !strings.Contains(r.Raw, "name is required") {
		t.Fatalf("blank name: %d %s", r.Status, r.Raw)
	}
	r = e.api("POST", "acme", "/graphql", tok, `{"query":"{ projects { nosuchfield } }"}`)
	if r.Body["errors"] == nil {
		t.Fatalf("unknown field: %s", r.Raw)
	}
	if n := e.count(acme, "projects"); n != 1 {
		t.Fatalf("projects: %d, want 1", n)
	}
	// The other organisation's token is refused; its own token sees none of acme's data.
	if r := e.api("POST", "acme", "/graphql", globexTok, `{"query":"{ projects { id } }"}`); r.Status != 401 {
		t.Fatalf("globex token on acme: %d %s", r.Status, r.Raw)
	}
	if r := e.api("POST", "globex", "/graphql", globexTok, `{"query":"{ projects { id } task(id: \"1\") { id } }"}`); r.Raw != `{"data":{"projects":[],"task":null}}`+"\n" {
		t.Fatalf("globex sees: %s", r.Raw)
	}
	// Mutations are POST only, however they are dressed up; nothing is written.
	for _, m := range []string{
		`mutation { createProject(name: "by GET") { id } }`,
		`# a comment first
		  mutation M { createProject(name: "by GET") { id } }`,
		`query Q { projects { id } } mutation M { createProject(name: "by GET") { id } }`,
	} {
		q := url.Values{"query": {m}}
		if strings.Contains(m, "mutation M") {
			q.Set("operationName", "M")
		}
		r := e.api("GET", "acme", "/graphql?"+q.Encode(), tok, "")
		if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" || r.Body["error"] == nil {
			t.Fatalf("mutation by GET %q: %d %s", m, r.Status, r.Raw)
		}
	}
	if n := e.count(acme, "projects"); n != 1 {
		t.Fatalf("projects after mutations by GET: %d, want 1", n)
	}
}
