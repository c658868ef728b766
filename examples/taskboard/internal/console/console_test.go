package console

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// testSite renders the console's pages as plain text: the page, its message and its tenants as
// slug/tier/status/members lines. The HTML pages are the application's, tested there.
type testSite struct{}

func (testSite) RenderStatus(w http.ResponseWriter, _ *http.Request, status int, page string, data map[string]any) {
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s flash=%v error=%v disabled=%v\n", page, data["Flash"], data["Error"], data["Disabled"])
	if ws, _ := data["Warm"].(*tenancy.WarmStatusResult); ws != nil && ws.Ready+ws.Stale > 0 {
		fmt.Fprintf(w, "warm ready=%d stale=%d target=%d\n", ws.Ready, ws.Stale, ws.Target)
	}
	rows, _ := data["Rows"].([]adminRow)
	for _, r := range rows {
		fmt.Fprintf(w, "%s %s %s members=%d size=%v calls=%d errors=%d\n", r.T.Slug, r.T.Tier, r.T.Status, r.Members, r.Size.Known, r.Use.Transactions, r.Use.Errors)
	}
}

func (testSite) Refuse(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	http.Error(w, msg, status)
}

func (testSite) InternalError(w http.ResponseWriter, _ *http.Request, err error) {
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func (testSite) AllowLogIn(http.ResponseWriter, *http.Request) bool { return true }
func (testSite) Secure(*http.Request) bool                          { return false }

// serve mounts a console on a test server and returns it with an operator's client (cookies
// kept, redirects not followed).
func serve(t *testing.T, db *tenancytest.DB, password string) (*httptest.Server, *http.Client) {
	t.Helper()
	c, err := New(&Config{Client: db.Client, Site: testSite{}, OperatorPassword: password})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Routes(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	return ts, &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	res, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestConsoleActsOnTenants logs in and creates, lists, suspends, resumes, migrates and backs up
// tenants on a real database; without a session nothing is served, and a wrong password or bad
// input changes nothing.
func TestConsoleActsOnTenants(t *testing.T) {
	t.Parallel()
	// Without the organisations' own migrations: acme goes to the pool tier here.
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(),
		ClientConfig: func(c *tenancy.Config) { store.ConfigureClient(c); c.CustomMigrations = nil }})
	ts, op := serve(t, db, "op-secret")

	if status, _ := get(t, op, ts.URL+"/admin"); status != http.StatusSeeOther {
		t.Fatalf("GET /admin without a session: %d, want a redirect to log in", status)
	}
	if status, _ := post(t, op, ts.URL+"/admin/tenants", url.Values{"slug": {"sneaky"}, "tier": {"schema"}}); status != http.StatusUnauthorized {
		t.Fatalf("create without a session: %d", status)
	}
	if status, body := post(t, op, ts.URL+"/admin/login", url.Values{"password": {"wrong"}}); status != http.StatusUnauthorized || !strings.Contains(body, "Wrong operator password") {
		t.Fatalf("wrong password: %d %s", status, body)
	}
	if status, _ := post(t, op, ts.URL+"/admin/login", url.Values{"password": {"op-secret"}}); status != http.StatusSeeOther {
		t.Fatalf("log-in: %d", status)
	}

	status, body := post(t, op, ts.URL+"/admin/tenants", url.Values{"slug": {"acme"}, "name": {"Acme"}, "tier": {"pool"}, "plan": {"team"}})
	if status != http.StatusOK || !strings.Contains(body, "Created tenant acme (pool tier)") || !strings.Contains(body, "acme pool active members=0 size=true") {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, body := post(t, op, ts.URL+"/admin/tenants", url.Values{"slug": {"Not A Slug"}, "tier": {"schema"}}); status != http.StatusUnprocessableEntity || !strings.Contains(body, "error=") {
		t.Fatalf("bad slug: %d %s", status, body)
	}
	if all, err := db.Client.TenantList(t.Context(), nil); err != nil || len(all) != 1 {
		t.Fatalf("tenants after a refused create and a create without a session: %d, %v; want acme only", len(all), err)
	}

	if status, body := post(t, op, ts.URL+"/admin/tenants/acme/suspend", nil); status != http.StatusOK || !strings.Contains(body, "acme pool suspended") {
		t.Fatalf("suspend: %d %s", status, body)
	}
	if tn, err := db.Client.TenantGet(t.Context(), "acme"); err != nil || tn.Status != tenancy.StatusSuspended {
		t.Fatalf("after suspend: %+v, %v", tn, err)
	}
	if status, body := post(t, op, ts.URL+"/admin/tenants/acme/resume", nil); status != http.StatusOK || !strings.Contains(body, "acme pool active") {
		t.Fatalf("resume: %d %s", status, body)
	}
	if status, body := post(t, op, ts.URL+"/admin/migrate", nil); status != http.StatusOK || !strings.Contains(body, "Nothing to migrate") {
		t.Fatalf("migrate: %d %s", status, body)
	}
	if status, body := post(t, op, ts.URL+"/admin/tenants/acme/backup", nil); status != http.StatusOK || !strings.HasPrefix(body, "\x1f\x8b") {
		t.Fatalf("backup: %d, %.40q", status, body)
	}
	if status, _ := post(t, op, ts.URL+"/admin/tenants/nosuch/backup", nil); status != http.StatusNotFound {
		t.Fatalf("back up an unknown tenant: %d", status)
	}

	if status, _ := post(t, op, ts.URL+"/admin/logout", nil); status != http.StatusSeeOther {
		t.Fatalf("log-out: %d", status)
	}
	if status, _ := post(t, op, ts.URL+"/admin/tenants/acme/suspend", nil); status != http.StatusUnauthorized {
		t.Fatalf("suspend after log-out: %d", status)
	}
}

// TestConsoleShowsUsage: the console lists each tenant's usage, this process's calls included.
func TestConsoleShowsUsage(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant()})
	ts, op := serve(t, db, "op-secret")
	if status, _ := post(t, op, ts.URL+"/admin/login", url.Values{"password": {"op-secret"}}); status != http.StatusSeeOther {
		t.Fatalf("log-in: %d", status)
	}
	tn, err := db.Client.TenantCreate(t.Context(), "busy", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := tenancy.WithTenant(t.Context(), tn)
	for range 3 {
		if _, err := db.Client.Exec(ctx, `SELECT count(*) FROM projects`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Client.Exec(ctx, `SELECT 1/0`); err == nil {
		t.Fatal("1/0 did not fail")
	}
	if status, body := get(t, op, ts.URL+"/admin"); status != http.StatusOK || !strings.Contains(body, "busy schema active members=0 size=true calls=4 errors=1") {
		t.Fatalf("console: %d %s", status, body)
	}
}

// TestConsoleDisabled: without an operator password, nothing under /admin is served, whatever
// password is sent.
func TestConsoleDisabled(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(), ClientConfig: store.ConfigureClient})
	ts, op := serve(t, db, "")
	for _, pw := range []string{"", "anything"} {
		if status, _ := post(t, op, ts.URL+"/admin/login", url.Values{"password": {pw}}); status != http.StatusNotFound {
			t.Fatalf("log-in with %q to a disabled console: %d", pw, status)
		}
	}
	if status, body := get(t, op, ts.URL+"/admin/login"); status != http.StatusOK || !strings.Contains(body, "disabled=true") {
		t.Fatalf("log-in page of a disabled console: %d %s", status, body)
	}
	if status, _ := post(t, op, ts.URL+"/admin/tenants", url.Values{"slug": {"acme"}, "tier": {"schema"}}); status != http.StatusNotFound {
		t.Fatalf("create on a disabled console: %d", status)
	}
}

// The console shows the warm placements its client keeps (tenancy.Config.WarmPlacements).
func TestConsoleShowsWarm(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant()})
	client, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, WarmPlacements: 2,
		SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	if _, err := client.WarmFill(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, err := New(&Config{Client: client, Site: testSite{}, OperatorPassword: "op-secret"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Routes(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	op := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if status, _ := post(t, op, ts.URL+"/admin/login", url.Values{"password": {"op-secret"}}); status != http.StatusSeeOther {
		t.Fatalf("log-in: %d", status)
	}
	if status, body := get(t, op, ts.URL+"/admin"); status != http.StatusOK || !strings.Contains(body, "warm ready=2 stale=0 target=2") {
		t.Fatalf("GET /admin: %d %s", status, body)
	}
}
