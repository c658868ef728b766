package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy/examples/taskboard/web/board"
)

// TestBoardPage: the board page and its bundle are for members only; the page hands the React
// view no secret (sessions have no CSRF token) and allows only its own scripts.
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
	if res.StatusCode != http.StatusOK || strings.Contains(string(page), "data-csrf") || !strings.Contains(string(page), `<script src="/board/board.js"></script>`) {
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
// only from the organisation's own origin, only with the board's header, only on the session's
// own organisation, and acts as that member; API tokens work as before.
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
	var session string
	for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: "acme.localhost:" + e.port}) {
		if ck.Name == sessionCookie {
			session = ck.Value
		}
	}
	if session == "" {
		t.Fatal("no session cookie after log-in")
	}

	// gql sends a GraphQL document to slug's /graphql with the session cookie and the given
	// headers (name, value pairs), as a browser would.
	board := []string{boardHeader, boardHeaderValue, "Sec-Fetch-Site", "same-origin"}
	gql := func(method, slug, doc string, headers ...string) apiResp {
		t.Helper()
		var req *http.Request
		var err error
		if method == http.MethodGet {
			req, err = http.NewRequest(method, e.url(slug, "/graphql?"+url.Values{"query": {doc}}.Encode()), nil)
		} else {
			body, _ := json.Marshal(map[string]any{"query": doc})
			req, err = http.NewRequest(method, e.url(slug, "/graphql"), bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		if err != nil {
			t.Fatal(err)
		}
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: session})
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
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

	// Refused, and nothing written: from another origin (another organisation's page included),
	// without the board's header (a cross-site form or simple fetch cannot set it), and on another
	// organisation.
	for _, c := range []struct {
		name, method, slug string
		headers            []string
		status             int
	}{
		{"cross-site", "POST", "acme", []string{boardHeader, boardHeaderValue, "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"another organisation's page", "POST", "acme", []string{boardHeader, boardHeaderValue, "Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"other Origin, no Sec-Fetch-Site", "POST", "acme", []string{boardHeader, boardHeaderValue, "Origin", "http://evil.example"}, http.StatusForbidden},
		{"no board header", "POST", "acme", []string{"Sec-Fetch-Site", "same-origin"}, http.StatusForbidden},
		{"wrong board header", "POST", "acme", []string{boardHeader, "x", "Sec-Fetch-Site", "same-origin"}, http.StatusForbidden},
		{"another organisation", "POST", "globex", board, http.StatusUnauthorized},
	} {
		if r := gql(c.method, c.slug, create, c.headers...); r.Status != c.status || r.Body["data"] != nil {
			t.Errorf("%s: %d %s, want %d and no data", c.name, r.Status, r.Raw, c.status)
		}
	}
	// GET is a safe method to CrossOriginProtection: the header alone keeps a cross-site GET
	// (an <img>, a <script>) from reading the member's data.
	if r := gql("GET", "acme", `{ projects { name } }`, "Sec-Fetch-Site", "cross-site"); r.Status != http.StatusForbidden || r.Body["data"] != nil {
		t.Errorf("cross-site GET without the board header: %d %s, want 403", r.Status, r.Raw)
	}
	if n, g := e.count(acme, "projects"), e.count(globex, "projects"); n != 0 || g != 0 {
		t.Fatalf("refused requests wrote projects: acme %d, globex %d", n, g)
	}

	// Accepted: the member creates a project, a task and a comment, and is its author.
	r := gql("POST", "acme", create, board...)
	id, _ := jsonPath(r.Body, "data", "createProject", "id").(string)
	if r.Status != http.StatusOK || id == "" {
		t.Fatalf("create project as a member: %d %s", r.Status, r.Raw)
	}
	r = gql("POST", "acme", `mutation { createTask(projectId: "`+id+`", title: "Draft it") { id title status } }`, board...)
	taskID, _ := jsonPath(r.Body, "data", "createTask", "id").(string)
	if r.Status != http.StatusOK || taskID == "" || jsonPath(r.Body, "data", "createTask", "status") != "todo" {
		t.Fatalf("create task as a member: %d %s", r.Status, r.Raw)
	}
	r = gql("POST", "acme", `mutation { createComment(taskId: "`+taskID+`", body: "On it") { author { name } } }`, board...)
	if got := jsonPath(r.Body, "data", "createComment", "author", "name"); got != "Ann" {
		t.Errorf("comment through the session: author %v, want Ann (%s)", got, r.Raw)
	}
	if r := gql("GET", "acme", `{ projects { name } }`, board...); r.Status != http.StatusOK || !strings.Contains(r.Raw, "Roadmap") {
		t.Errorf("GET as a member: %d %s", r.Status, r.Raw)
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
