package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy/examples/taskboard/web/board"
)

var boardCSRF = regexp.MustCompile(`data-csrf="([^"]+)"`)

// TestBoardPage: the board page and its bundle are for members only; the page hands the React
// view its session's CSRF token and allows only its own scripts.
func TestBoardPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acme, _ := e.org("acme")
	e.member(acme, "ann@example.com", "Ann")

	anon := e.browser()
	for _, p := range []string{"/board", "/board/board.js"} {
		res, err := anon.Get(e.url("acme", p))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
			t.Errorf("GET %s logged out: %d to %q, want 303 to /login", p, res.StatusCode, res.Header.Get("Location"))
		}
	}

	c := e.browser()
	if res := e.form(c, "acme", "/login", "/login", url.Values{"email": {"ann@example.com"}, "password": {"password123"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("log-in: %d", res.StatusCode)
	}
	res, err := c.Get(e.url("acme", "/board"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !boardCSRF.Match(page) || !strings.Contains(string(page), `<script src="/board/board.js"></script>`) {
		t.Fatalf("GET /board: %d\n%s", res.StatusCode, page)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("board page CSP %q", csp)
	}

	res, err = c.Get(e.url("acme", "/board/board.js"))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") || !bytes.Equal(js, board.JS) || len(js) == 0 {
		t.Fatalf("GET /board/board.js: %d %s, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(js))
	}
	req, _ := http.NewRequest(http.MethodGet, e.url("acme", "/board/board.js"), nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("GET /board/board.js again with its ETag: %d, want 304", res.StatusCode)
	}
}

// TestBoardGraphQLSession: /graphql accepts a member's session, as the board view sends it,
// only with the session's CSRF token in X-CSRF-Token, only on the session's own organisation,
// and acts as that member; API tokens work as before.
func TestBoardGraphQLSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acme, acmeToken := e.org("acme")
	globex, _ := e.org("globex")
	e.member(acme, "ann@example.com", "Ann")

	c := e.browser()
	if res := e.form(c, "acme", "/login", "/login", url.Values{"email": {"ann@example.com"}, "password": {"password123"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("log-in: %d", res.StatusCode)
	}
	page, _ := e.get(c, "acme", "/board")
	m := boardCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the board page:\n%s", page)
	}
	csrf := m[1]
	var session string
	for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: "acme.localhost:" + e.port}) {
		if ck.Name == sessionCookie {
			session = ck.Value
		}
	}
	if session == "" {
		t.Fatal("no session cookie after log-in")
	}

	// gql posts a GraphQL document to slug's /graphql with the session cookie and the given
	// CSRF header (none if ""), as a browser would.
	gql := func(slug, csrf, doc string) apiResp {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"query": doc})
		req, err := http.NewRequest(http.MethodPost, e.url(slug, "/graphql"), bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: session})
		if csrf != "" {
			req.Header.Set(csrfHeader, csrf)
		}
		res, err := e.browser().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		out := apiResp{Status: res.StatusCode, Raw: string(raw)}
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("answer is not JSON (%d): %s", res.StatusCode, raw)
		}
		return out
	}
	const create = `mutation { createProject(name: "Roadmap") { id } }`

	// Refused, and nothing written: no token, a wrong one, the right one on another organisation.
	for _, c := range []struct {
		name, slug, csrf string
		status           int
	}{
		{"no CSRF header", "acme", "", http.StatusForbidden},
		{"wrong CSRF header", "acme", csrf + "x", http.StatusForbidden},
		{"another organisation", "globex", csrf, http.StatusUnauthorized},
	} {
		if r := gql(c.slug, c.csrf, create); r.Status != c.status || r.Body["data"] != nil {
			t.Errorf("%s: %d %s, want %d and no data", c.name, r.Status, r.Raw, c.status)
		}
	}
	if n, g := e.count(acme, "projects"), e.count(globex, "projects"); n != 0 || g != 0 {
		t.Fatalf("refused requests wrote projects: acme %d, globex %d", n, g)
	}

	// Accepted: the member creates a project, a task and a comment, and is its author.
	r := gql("acme", csrf, create)
	id, _ := jsonPath(r.Body, "data", "createProject", "id").(string)
	if r.Status != http.StatusOK || id == "" {
		t.Fatalf("create project as a member: %d %s", r.Status, r.Raw)
	}
	r = gql("acme", csrf, `mutation { createTask(projectId: "`+id+`", title: "Draft it") { id title status } }`)
	taskID, _ := jsonPath(r.Body, "data", "createTask", "id").(string)
	if r.Status != http.StatusOK || taskID == "" || jsonPath(r.Body, "data", "createTask", "status") != "todo" {
		t.Fatalf("create task as a member: %d %s", r.Status, r.Raw)
	}
	r = gql("acme", csrf, `mutation { createComment(taskId: "`+taskID+`", body: "On it") { author { name } } }`)
	if got := jsonPath(r.Body, "data", "createComment", "author", "name"); got != "Ann" {
		t.Errorf("comment through the session: author %v, want Ann (%s)", got, r.Raw)
	}
	if n := e.count(acme, "tasks"); n != 1 {
		t.Errorf("acme has %d tasks, want 1", n)
	}

	// An API token still works, and wins over a session cookie.
	if r := e.api("POST", "acme", "/graphql", acmeToken, `{"query":"{ projects { name } }"}`, "Cookie", sessionCookie+"=nonsense"); r.Status != http.StatusOK ||
		!strings.Contains(r.Raw, "Roadmap") {
		t.Errorf("token with a stale cookie: %d %s", r.Status, r.Raw)
	}
	// Neither token nor session: refused as before.
	if r := e.api("POST", "acme", "/graphql", "", `{"query":"{ projects { name } }"}`); r.Status != http.StatusUnauthorized {
		t.Errorf("no credentials: %d %s", r.Status, r.Raw)
	}
}

// jsonPath walks decoded JSON objects by key; nil where a key is missing.
func jsonPath(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
