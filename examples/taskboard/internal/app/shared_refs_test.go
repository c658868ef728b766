package app

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
)

// TestForeignUserIDsShowNoName: tenant rows hold shared users' ids without a foreign key, and a
// restored archive (or any write that skipped the application's checks) can hold the id of a
// user of another organisation. That id must never become a name or an email: not in REST, not
// in GraphQL, not in the pages. The organisation's own members still show by name.
func TestForeignUserIDsShowNoName(t *testing.T) {
	t.Parallel()
	eachTier(t, func(t *testing.T, tier tenancy.Tier) {
		e := newEnv(t)
		acme, tok := e.orgIn("acme", tier)
		globex, _ := e.orgIn("globex", tier)
		e.member(acme, "ann@acme.example", "Ann Member")
		gary := e.member(globex, "gary@globex.example", "Gary Globex")

		r := e.api("POST", "acme", "/api/v1/projects", tok, `{"name":"Launch"}`)
		if r.Status != 201 {
			t.Fatalf("create project: %d %s", r.Status, r.Raw)
		}
		pid := int64(r.Body["id"].(float64))
		// What a forged archive restores: rows of acme naming Globex's user.
		ctx := tenancy.WithTenant(context.Background(), acme)
		var tid int64
		err := e.db.Client.QueryRow(ctx, `INSERT INTO tasks (project_id, title, assignee_id) VALUES ($1, 'Restored', $2) RETURNING id`, pid, gary).Scan(&tid)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.Client.Exec(ctx, `INSERT INTO comments (task_id, author_id, body) VALUES ($1, $2, 'restored comment')`, tid, gary); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.Client.Exec(ctx, `INSERT INTO activity (user_id, verb, subject) VALUES ($1, 'restored', 'a task')`, gary); err != nil {
			t.Fatal(err)
		}
		ann := e.browser()
		if res := e.form(ann, "acme", "/login", "/login", url.Values{"email": {"ann@acme.example"}, "password": {"password123"}}); res.StatusCode != 303 {
			t.Fatalf("Ann logging in: %d", res.StatusCode)
		}
		// Ann's own comment, so that a member's name is seen to show.
		if res := e.form(ann, "acme", fmt.Sprintf("/tasks/%d", tid), fmt.Sprintf("/tasks/%d/comments", tid), url.Values{"body": {"mine"}}); res.StatusCode != 303 {
			t.Fatalf("Ann's comment: %d", res.StatusCode)
		}

		answers := map[string]string{}
		answers["REST tasks"] = e.api("GET", "acme", "/api/v1/tasks", tok, "").Raw
		answers["REST task"] = e.api("GET", "acme", fmt.Sprintf("/api/v1/tasks/%d", tid), tok, "").Raw
		answers["REST comments"] = e.api("GET", "acme", fmt.Sprintf("/api/v1/tasks/%d/comments", tid), tok, "").Raw
		answers["GraphQL"] = e.api("POST", "acme", "/graphql", tok, `{"query":"{ tasks { assignee { id name } comments { author { id name } } } }"}`).Raw
		answers["GraphQL by id"] = e.api("POST", "acme", "/graphql", tok, fmt.Sprintf(`{"query":"{ task(id: \"%d\") { assignee { name } comments { author { name } } } }"}`, tid)).Raw
		answers["project page"], _ = e.get(ann, "acme", fmt.Sprintf("/projects/%d", pid))
		answers["task page"], _ = e.get(ann, "acme", fmt.Sprintf("/tasks/%d", tid))
		answers["dashboard"], _ = e.get(ann, "acme", "/")
		for what, body := range answers {
			if i := strings.Index(body, "Gary"); i >= 0 || strings.Contains(body, "globex.example") {
				t.Fatalf("%s shows Globex's user: ...%s...", what, body[max(i-80, 0):min(max(i, 0)+80, len(body))])
			}
		}
		for _, what := range []string{"REST comments", "GraphQL", "task page"} {
			if !strings.Contains(answers[what], "Ann Member") {
				t.Fatalf("%s does not show the member's own name", what)
			}
		}
	})
}
