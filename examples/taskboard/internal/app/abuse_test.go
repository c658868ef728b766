package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tenancy-go/tenancy"
)

// Abuse cases of issue 12: each test failed on the code before its fix.

// login logs c in on the public host.
func (e *env) login(c *http.Client, email string) {
	e.t.Helper()
	if res := e.form(c, "", "/login", "/login", url.Values{"email": {email}, "password": {"password123"}}); res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("log-in of %s: %d", email, res.StatusCode)
	}
}

// handoffLink follows the redirects from res, in c, up to the organisation's hand-off link, and
// returns that link without opening it.
func (e *env) handoffLink(c *http.Client, res *http.Response) string {
	e.t.Helper()
	for range 5 {
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusSeeOther || loc == "" {
			e.t.Fatalf("on the way to the hand-off: %d to %q", res.StatusCode, loc)
		}
		if strings.Contains(loc, "/auth/handoff?token=") {
			return loc
		}
		var err error
		if res, err = c.Get(loc); err != nil {
			e.t.Fatal(err)
		}
		res.Body.Close()
	}
	e.t.Fatal("no hand-off link after 5 redirects")
	return ""
}

func (e *env) roleOf(uid int64, slug string) string {
	e.t.Helper()
	tn, err := e.db.Client.TenantGet(context.Background(), slug)
	if err != nil {
		e.t.Fatal(err)
	}
	role, err := e.srv.roleIn(context.Background(), uid, tn.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return role
}

// TestMembersAreInvitedNotAdded: a member cannot add a registered person by their address (nor
// learn whether it is registered); they make an invitation link, which the invited person
// accepts while logged in, once.
func TestMembersAreInvitedNotAdded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acme, _ := e.org("acme")
	e.member(acme, "anna@example.com", "Anna")
	ben := e.member(nil, "ben@example.com", "Ben")

	anna := e.browser()
	if res := e.form(anna, "acme", "/login", "/login", url.Values{"email": {"anna@example.com"}, "password": {"password123"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("Anna's log-in: %d", res.StatusCode)
	}
	stReg, bodyReg := e.formBody(anna, "acme", "/members", "/members", url.Values{"email": {"ben@example.com"}})
	stNew, bodyNew := e.formBody(anna, "acme", "/members", "/members", url.Values{"email": {"nobody@example.com"}})
	if e.roleOf(ben, "acme") != "" {
		t.Fatal("Anna added Ben by his address, without his agreement")
	}
	if stReg != stNew || strings.Contains(bodyReg, "ben@example.com") || strings.Contains(bodyReg, "Ben") != strings.Contains(bodyNew, "Ben") {
		t.Fatalf("a registered and an unregistered address are answered differently: %d and %d", stReg, stNew)
	}

	st, body := e.formBody(anna, "acme", "/members", "/members/invitations", url.Values{})
	m := regexp.MustCompile(`(http://localhost:\d+/invitations\?token=[A-Za-z0-9_-]+)`).FindStringSubmatch(body)
	if st != http.StatusOK || m == nil {
		t.Fatalf("invitation: %d, link %v", st, m)
	}
	link := strings.ReplaceAll(m[1], "&amp;", "&")

	// Not logged in, the link asks to log in first and changes nothing.
	if body, st := e.getURL(e.browser(), link); st != http.StatusOK || !strings.Contains(body, "Log in") {
		t.Fatalf("invitation without a session: %d", st)
	}
	bc := e.browser()
	e.login(bc, "ben@example.com")
	page, st := e.getURL(bc, link)
	tok := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(page)
	if st != http.StatusOK || !strings.Contains(page, "Acme") || tok == nil {
		t.Fatalf("invitation page: %d", st)
	}
	res := e.form(bc, "", "/orgs", "/invitations", url.Values{"token": {tok[1]}})
	if loc := e.handoffLink(bc, res); !strings.HasPrefix(loc, e.url("acme", "/auth/handoff")) {
		t.Fatalf("accepted invitation goes to %q", loc)
	}
	if e.roleOf(ben, "acme") != "member" {
		t.Fatal("Ben accepted the invitation but is not a member")
	}
	// An invitation works once.
	cat := e.member(nil, "cat@example.com", "Cat")
	cc := e.browser()
	e.login(cc, "cat@example.com")
	if res := e.form(cc, "", "/orgs", "/invitations", url.Values{"token": {tok[1]}}); res.StatusCode != http.StatusNotFound {
		t.Fatalf("second use of an invitation: %d", res.StatusCode)
	}
	if e.roleOf(cat, "acme") != "" {
		t.Fatal("an invitation admitted two people")
	}
}

// TestSignUpDoesNotRevealRegisteredAddresses: a sign-up with someone's registered address and
// one with a new address get the same answer (status, redirect, page, cookies and headers,
// once the address and organisation typed in are masked), and neither makes anything before
// the address's owner follows the mailed link.
func TestSignUpDoesNotRevealRegisteredAddresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.member(nil, "ben@example.com", "Ben")
	answer := func(email, slug string) string {
		c := e.browser()
		e.open(c, "", "/")
		res, err := c.PostForm(e.url("", "/signup"), url.Values{"name": {"Mallory"}, "email": {email},
			"password": {"not bens password"}, "org": {"Probe"}, "slug": {slug}})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		var cookies, headers []string
		for _, ck := range res.Cookies() {
			cookies = append(cookies, ck.Name)
		}
		for h := range res.Header {
			if h != "Date" && h != "Content-Length" {
				headers = append(headers, h)
			}
		}
		slices.Sort(headers)
		mask := strings.NewReplacer(email, "EMAIL", slug, "SLUG")
		return fmt.Sprintf("%d location %q cookies %v headers %v\n%s", res.StatusCode,
			mask.Replace(res.Header.Get("Location")), cookies, headers, mask.Replace(string(body)))
	}
	fresh := answer("nobody@example.com", "probe-new")
	registered := answer("ben@example.com", "probe-ben")
	if fresh != registered {
		t.Fatalf("sign-up answers differently for a new address:\n%s\n\nand for a registered one:\n%s", fresh, registered)
	}
	for _, slug := range []string{"probe-new", "probe-ben"} {
		if _, err := e.db.Client.TenantGet(t.Context(), slug); err == nil {
			t.Fatalf("sign-up made %s before the address was confirmed", slug)
		}
	}
	var users int
	if err := e.db.AppPool.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE email = 'nobody@example.com'`).Scan(&users); err != nil || users != 0 {
		t.Fatalf("sign-up made %d accounts before the address was confirmed (%v)", users, err)
	}
}

// TestSignUpWithOwnAccountAddsAnOrganisation: the owner of a registered address, logged in,
// gets the new organisation on that account by following the mailed link.
func TestSignUpWithOwnAccountAddsAnOrganisation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ben := e.member(nil, "ben@example.com", "Ben")
	c := e.browser()
	e.login(c, "ben@example.com")
	e.signUp(c, url.Values{"name": {"Ben"}, "email": {"ben@example.com"}, "password": {"password123"}, "org": {"Beta"}, "slug": {"beta"}})
	e.handoffLink(c, e.confirm(c, "ben@example.com", ""))
	if e.roleOf(ben, "beta") != "owner" {
		t.Fatal("Ben does not own the organisation he signed up for")
	}
}

// TestConsoleGuessesAreThrottled: parallel guesses of the operator password are refused with
// 429 and Retry-After beyond a handful.
func TestConsoleGuessesAreThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.browser()
	e.open(c, "", "/admin/login")
	const n = 40
	statuses := make([]int, n)
	retry := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := c.PostForm(e.url("", "/admin/login"), url.Values{"password": {fmt.Sprint("guess", i)}})
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses[i], retry[i] = res.StatusCode, res.Header.Get("Retry-After")
		})
	}
	wg.Wait()
	limited := 0
	for i, st := range statuses {
		if st == http.StatusTooManyRequests {
			limited++
			if retry[i] == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	if limited < n/2 {
		t.Fatalf("%d of %d parallel guesses refused with 429: %v", limited, n, statuses)
	}
}

// TestSignUpsAreThrottledPerClient: one client cannot make organisations without end.
func TestSignUpsAreThrottledPerClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.browser()
	for i := range 15 {
		res := e.form(c, "", "/", "/signup", url.Values{"name": {"Spam"}, "email": {fmt.Sprintf("spam%d@example.com", i)},
			"password": {"password123"}, "org": {"Spam"}, "slug": {fmt.Sprintf("spam%d", i)}})
		if res.StatusCode == http.StatusTooManyRequests {
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			return
		}
	}
	t.Fatal("15 sign-ups from one client in a row, none refused")
}

// TestLogInsAreThrottledPerAccount: wrong passwords for one account are refused with 429 after
// a few, the right one too until the wait is over.
func TestLogInsAreThrottledPerAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.member(nil, "ben@example.com", "Ben")
	c := e.browser()
	for range 30 {
		res := e.form(c, "", "/login", "/login", url.Values{"email": {"ben@example.com"}, "password": {"wrong-password"}})
		if res.StatusCode == http.StatusTooManyRequests {
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			return
		}
	}
	t.Fatal("30 wrong passwords for one account, none refused")
}

// TestTokenCreationIsThrottled: a member cannot mint API tokens without end.
func TestTokenCreationIsThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acme, _ := e.org("acme")
	e.member(acme, "anna@example.com", "Anna")
	c := e.browser()
	e.form(c, "acme", "/login", "/login", url.Values{"email": {"anna@example.com"}, "password": {"password123"}})
	for i := range 40 {
		if res := e.form(c, "acme", "/settings/tokens", "/settings/tokens", url.Values{"name": {fmt.Sprint("t", i)}}); res.StatusCode == http.StatusTooManyRequests {
			return
		}
	}
	t.Fatal("40 tokens in a row, none refused")
}

// TestBadBytesAre400: NUL bytes and invalid UTF-8 in a form field or JSON string, and a due
// date PostgreSQL cannot store, are bad requests, not server errors.
func TestBadBytesAre400(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acme, tok := e.org("acme")
	for _, bad := range []string{"a\x00b", "a\xffb"} {
		for _, path := range []string{"/login", "/signup"} {
			res := e.form(e.browser(), "", "/login", path, url.Values{"email": {bad}, "name": {bad}, "password": {"password123"},
				"org": {"X"}, "slug": {"xyz"}})
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("POST %s with %q: %d, want 400", path, bad, res.StatusCode)
			}
		}
	}
	if r := e.api("POST", "acme", "/api/v1/projects", tok, `{"name":"a\u0000b"}`); r.Status != http.StatusBadRequest || r.Body["error"] == nil {
		t.Errorf("JSON with a NUL: %d %s", r.Status, r.Raw)
	}
	if r := e.api("POST", "acme", "/api/v1/projects", tok, "{\"name\":\"a\xffb\"}"); r.Status != http.StatusBadRequest || r.Body["error"] == nil {
		t.Errorf("JSON with invalid UTF-8: %d %s", r.Status, r.Raw)
	}
	// Through GraphQL variables, bad bytes reach the data layer, which refuses them too.
	if r := e.api("POST", "acme", "/graphql", tok, `{"query":"mutation($d: String!) { createProject(name: \"P\", description: $d) { id } }","variables":{"d":"a\u0000b"}}`); r.Status == 500 || !strings.Contains(r.Raw, "not text") {
		t.Errorf("GraphQL with a NUL: %d %s", r.Status, r.Raw)
	}
	r := e.api("POST", "acme", "/api/v1/projects", tok, `{"name":"P"}`)
	proj := fmt.Sprintf("/api/v1/projects/%v/tasks", r.Body["id"])
	if r := e.api("POST", "acme", proj, tok, `{"title":"t","due_date":"0000-01-01"}`); r.Status != http.StatusUnprocessableEntity || r.Body["error"] == nil {
		t.Errorf("due date 0000-01-01: %d %s", r.Status, r.Raw)
	}
	if n := e.count(acme, "tasks"); n != 0 {
		t.Errorf("%d tasks written", n)
	}
}

// TestPlanLimitHoldsUnderConcurrency: parallel creates never pass the free plan's 3 projects,
// in any tier.
func TestPlanLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	eachTier(t, func(t *testing.T, tier tenancy.Tier) {
		slug := "org-" + string(tier)
		org, tok := e.orgIn(slug, tier)
		var start, done sync.WaitGroup
		start.Add(1)
		for i := range 12 {
			done.Go(func() {
				start.Wait()
				e.api("POST", slug, "/api/v1/projects", tok, fmt.Sprintf(`{"name":"p%d"}`, i))
			})
		}
		start.Done()
		done.Wait()
		if n := e.count(org, "projects"); n != 3 {
			t.Errorf("%d projects on the free plan, want 3", n)
		}
	})
}

// TestHandOffIsBoundToTheBrowser: a member who opens another member's hand-off link does not
// get logged in as them.
func TestHandOffIsBoundToTheBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acme, _ := e.org("acme")
	e.member(acme, "anna@example.com", "Anna")
	e.member(acme, "mallory@example.com", "Mallory")
	mallory := e.browser()
	e.login(mallory, "mallory@example.com")
	link := e.handoffLink(mallory, e.form(mallory, "", "/orgs", "/orgs/acme/open", url.Values{}))

	anna := e.browser()
	res, err := anna.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("Anna opening Mallory's hand-off link: %d, want 403", res.StatusCode)
	}
	if body, _ := e.get(anna, "acme", "/members"); strings.Contains(body, "Mallory") {
		t.Fatal("Anna's browser is logged in to Acme as Mallory")
	}
	// Mallory's own browser still gets in with it.
	res, err = mallory.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("Mallory's own hand-off: %d", res.StatusCode)
	}
}

// TestJSONFieldNamesMatchExactly: a field named in another case is an unknown field.
func TestJSONFieldNamesMatchExactly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acme, tok := e.org("acme")
	if r := e.api("POST", "acme", "/api/v1/projects", tok, `{"NAME":"shouting"}`); r.Status != http.StatusBadRequest || !strings.Contains(r.Raw, "unknown_field") {
		t.Fatalf("{\"NAME\"}: %d %s", r.Status, r.Raw)
	}
	if n := e.count(acme, "projects"); n != 0 {
		t.Fatalf("%d projects written", n)
	}
}

// TestStalePurged: expired sessions, unused log-in tokens and invitations are deleted when the
// server starts.
func TestStalePurged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acme, _ := e.org("acme")
	uid := e.member(acme, "anna@example.com", "Anna")
	ctx := t.Context()
	if _, err := e.db.OwnerPool.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, expires_at)
		VALUES ('\x01', $1, now() - interval '1 second')`, uid); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.OwnerPool.Exec(ctx, `INSERT INTO login_tokens (token_hash, user_id, tenant_id, expires_at)
		VALUES ('\x02', $1, $2, now() - interval '1 second')`, uid, acme.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.OwnerPool.Exec(ctx, `INSERT INTO invitations (token_hash, tenant_id, expires_at)
		VALUES ('\x03', $1, now() - interval '1 second')`, acme.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.OwnerPool.Exec(ctx, `INSERT INTO signups (token_hash, email, name, password_hash, org_name, slug, expires_at)
		VALUES ('\x04', 'x@example.com', 'X', 'x', 'X', 'xx', now() - interval '1 second')`); err != nil {
		t.Fatal(err)
	}
	newEnvWith(t, e.db, e.db.Client) // a server starting (or its hourly purge)
	var n int
	if err := e.db.OwnerPool.QueryRow(ctx, `SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM login_tokens)
		+ (SELECT count(*) FROM invitations) + (SELECT count(*) FROM signups)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d expired sessions, log-in tokens, invitations and sign-ups left", n)
	}
}

func (e *env) getURL(c *http.Client, u string) (string, int) {
	e.t.Helper()
	res, err := c.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b), res.StatusCode
}

// TestCrossOriginFormsAreRefused: forms of the public site and the console posted from another
// site are refused (log-in CSRF included); the same forms from the site itself pass.
func TestCrossOriginFormsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.member(nil, "ben@example.com", "Ben")
	for _, path := range []string{"/login", "/signup", "/admin/login", "/logout"} {
		res := e.post(e.browser(), "", path, url.Values{"email": {"ben@example.com"}, "password": {"password123"}}, "Sec-Fetch-Site", "cross-site")
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d, want 403", path, res.StatusCode)
		}
	}
	res := e.post(e.browser(), "", "/login", url.Values{"email": {"ben@example.com"}, "password": {"password123"}},
		"Sec-Fetch-Site", "same-origin", "Origin", e.url("", ""))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin log-in: %d", res.StatusCode)
	}
}
