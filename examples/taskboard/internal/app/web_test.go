package app

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tenancy-go/tenancy"
)

func TestSignUpHandsOffToTheOrganisationAndOthersAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anna := e.browser()
	res := e.form(anna, "", "/", "/signup", url.Values{"name": {"Anna"}, "email": {"anna@example.com"},
		"password": {"correct horse"}, "org": {"Alpha Ltd"}, "slug": {"alpha"}})
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, e.url("alpha", "/auth/handoff?token=")) {
		t.Fatalf("sign-up: %d to %q", res.StatusCode, loc)
	}
	res, err := anna.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("hand-off: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// The login token works once.
	if res, _ := anna.Get(loc); res.StatusCode != http.StatusForbidden {
		t.Fatalf("second use of the login token: %d", res.StatusCode)
	}
	if body, status := e.get(anna, "alpha", "/"); status != 200 || !strings.Contains(body, "Alpha Ltd") || !strings.Contains(body, "No projects yet") {
		t.Fatalf("dashboard: %d", status)
	}
	res = e.form(anna, "alpha", "/", "/projects", url.Values{"name": {"Alpha secret"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create project: %d", res.StatusCode)
	}

	// Ben signs up with his own organisation: he cannot open Alpha, and sees nothing of it.
	ben := e.browser()
	res = e.form(ben, "", "/", "/signup", url.Values{"name": {"Ben"}, "email": {"ben@example.com"},
		"password": {"battery staple"}, "org": {"Beta"}, "slug": {"beta"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-up: %d", res.StatusCode)
	}
	if _, err := ben.Get(res.Header.Get("Location")); err != nil {
		t.Fatal(err)
	}
	if body, _ := e.get(ben, "beta", "/"); strings.Contains(body, "Alpha secret") || !strings.Contains(body, "Beta") {
		t.Fatal("Beta's dashboard shows Alpha's project, or is not Beta's")
	}
	if body, status := e.get(ben, "beta", "/projects/1"); status != 404 || strings.Contains(body, "Alpha secret") {
		t.Fatalf("Beta's /projects/1: %d", status)
	}
	if _, status := e.get(ben, "alpha", "/"); status != http.StatusSeeOther {
		t.Fatalf("Ben on Alpha without a session: %d, want a redirect to log in", status)
	}
	res = e.form(ben, "alpha", "/login", "/login", url.Values{"email": {"ben@example.com"}, "password": {"battery staple"}})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("Ben logging in to Alpha: %d, want 403", res.StatusCode)
	}
	// Ben's login token for Beta does not open Alpha.
	res = e.form(ben, "", "/orgs", "/orgs/beta/open", url.Values{})
	stolen := strings.Replace(res.Header.Get("Location"), "beta.localhost", "alpha.localhost", 1)
	if res, _ := ben.Get(stolen); res.StatusCode != http.StatusForbidden {
		t.Fatalf("Beta's login token on Alpha: %d", res.StatusCode)
	}
	if _, status := e.get(ben, "alpha", "/"); status == 200 {
		t.Fatal("Ben reached Alpha's dashboard")
	}

	// A form without the CSRF token is refused and writes nothing.
	res, err = anna.PostForm(e.url("alpha", "/projects"), url.Values{"name": {"forged"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("post without CSRF token: %d", res.StatusCode)
	}
	alpha, err := e.db.Client.TenantGet(t.Context(), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.count(alpha, "projects"); n != 1 {
		t.Fatalf("Alpha has %d projects, want 1", n)
	}

	// Taken addresses and emails are refused and leave nothing behind.
	res = e.form(e.browser(), "", "/", "/signup", url.Values{"name": {"Cat"}, "email": {"cat@example.com"},
		"password": {"12345678"}, "org": {"Alpha again"}, "slug": {"alpha"}})
	if res.StatusCode != http.StatusConflict {
		t.Fatalf("taken address: %d", res.StatusCode)
	}
	res = e.form(e.browser(), "", "/", "/signup", url.Values{"name": {"Cat"}, "email": {"cat@example.com"},
		"password": {"12345678"}, "org": {"Admin"}, "slug": {"admin"}})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("reserved address: %d", res.StatusCode)
	}
	var users int
	if err := e.db.AppPool.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE email = 'cat@example.com'`).Scan(&users); err != nil || users != 0 {
		t.Fatalf("refused sign-ups left %d users (%v)", users, err)
	}
}

func TestConsoleSuspendsAndResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.org("acme")
	op := e.browser()
	if res := e.form(op, "", "/admin/login", "/admin/login", url.Values{"password": {"wrong"}}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	if res := e.form(op, "", "/admin/login", "/admin/login", url.Values{"password": {testOperatorPassword}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("operator log-in: %d", res.StatusCode)
	}
	body, status := e.get(op, "", "/admin")
	if status != 200 || !strings.Contains(body, "<b>acme</b>") || !strings.Contains(body, "schema") {
		t.Fatalf("console: %d", status)
	}
	if res := e.form(op, "", "/admin", "/admin/tenants", url.Values{"slug": {"newco"}, "name": {"NewCo"}, "tier": {"schema"}, "plan": {"team"}}); res.StatusCode != 200 {
		t.Fatalf("console create: %d", res.StatusCode)
	}
	if _, err := e.db.Client.TenantGet(t.Context(), "newco"); err != nil {
		t.Fatalf("console create: %v", err)
	}
	if res := e.form(op, "", "/admin", "/admin/tenants/acme/suspend", url.Values{}); res.StatusCode != 200 {
		t.Fatalf("suspend: %d", res.StatusCode)
	}
	// The cache hears the catalog's notification: the suspension applies at once.
	waitStatus(t, e, tok, http.StatusForbidden)
	if res := e.form(op, "", "/admin", "/admin/tenants/acme/resume", url.Values{}); res.StatusCode != 200 {
		t.Fatalf("resume: %d", res.StatusCode)
	}
	waitStatus(t, e, tok, http.StatusOK)
	// Without a session the console is closed.
	if _, status := e.get(e.browser(), "", "/admin"); status != http.StatusSeeOther {
		t.Fatalf("console without a session: %d", status)
	}
}

func waitStatus(t *testing.T, e *env, tok string, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := e.api("GET", "acme", "/api/v1/projects", tok, "")
		if r.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("acme answers %d, want %d", r.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDemoInEveryTier seeds the demo (one organisation per tier) and walks each organisation's
// pages as a member: names of shared users appear beside tenant rows in every tier, the
// database tier included, where the tenant's tables live in a database without the shared ones.
func TestDemoInEveryTier(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, err := SeedDemo(t.Context(), e.db.Client, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		tier            tenancy.Tier
		project, member string // a project, and a member assigned to one of its tasks
		task, commenter string // a task with a comment, and its author
	}{
		"acme":    {tenancy.TierSchema, "Website relaunch", "Alice Martin", "Design the new homepage", "Alice Martin"},
		"globex":  {tenancy.TierPool, "Customer onboarding", "Carol Okafor", "Interview five new customers", "Dana Demo"},
		"initech": {tenancy.TierDatabase, "TPS reports", "Carol Okafor", "Add the new cover sheet", "Dana Demo"},
	}
	if len(res.Orgs) != len(want) {
		t.Fatalf("demo organisations: %+v", res.Orgs)
	}
	link := regexp.MustCompile(`href="(/(?:projects|tasks)/\d+)">(?:<b>)?([^<]+)<`)
	for _, o := range res.Orgs {
		w := want[o.Slug]
		if o.Tier != w.tier {
			t.Errorf("%s: tier %s, want %s", o.Slug, o.Tier, w.tier)
			continue
		}
		c := e.browser()
		if res := e.form(c, o.Slug, "/login", "/login", url.Values{"email": {res.Email}, "password": {DemoPassword}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: log-in: %d", o.Slug, res.StatusCode)
		}
		find := func(body, text string) string {
			for _, m := range link.FindAllStringSubmatch(body, -1) {
				if m[2] == text {
					return m[1]
				}
			}
			t.Fatalf("%s: no link to %q", o.Slug, text)
			return ""
		}
		dash, status := e.get(c, o.Slug, "/")
		if status != 200 || !strings.Contains(dash, "<b>Dana Demo</b> created project") {
			t.Fatalf("%s dashboard (%d): no project or no activity by name", o.Slug, status)
		}
		page, status := e.get(c, o.Slug, find(dash, w.project))
		if status != 200 || !strings.Contains(page, "<td>"+w.member+"</td>") {
			t.Fatalf("%s project page (%d): no task assigned to %s", o.Slug, status, w.member)
		}
		page, status = e.get(c, o.Slug, find(page, w.task))
		if status != 200 || !strings.Contains(page, `<div class="comment"><b>`+w.commenter+`</b>`) {
			t.Fatalf("%s task page (%d): no comment by %s", o.Slug, status, w.commenter)
		}
	}
}
