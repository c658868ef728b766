package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
	"github.com/tenancy-go/tenancy/tenancytest"
)

const testOperatorPassword = "op-secret-123"

// env is one test's application: a fresh database (as the application role), the server on a
// loopback port, and a client that sends every host name to it, as browsers do for *.localhost.
type env struct {
	t      testing.TB
	db     *tenancytest.DB
	srv    *Server
	ts     *httptest.Server
	port   string
	outbox *Outbox // the mail the server sent
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(), ClientConfig: withoutCustom})
	return newEnvWith(t, db, db.Client)
}

// newDemoEnv is newEnv with the demo's customized organisation (migrations/custom): acme may then
// not go to the pool tier, which the other tests put it in.
func newDemoEnv(t testing.TB) *env {
	t.Helper()
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(), ClientConfig: store.ConfigureClient})
	return newEnvWith(t, db, db.Client)
}

// withoutCustom is store.ConfigureClient without the organisations' own migrations.
func withoutCustom(c *tenancy.Config) {
	store.ConfigureClient(c)
	c.CustomMigrations = nil
}

// newEnvWith serves the application on db through client (a client of another build, with other
// migrations, say).
func newEnvWith(t testing.TB, db *tenancytest.DB, client *tenancy.Client) *env {
	t.Helper()
	return newEnvConfig(t, db, client, nil)
}

// newEnvConfig is newEnvWith with the test's changes to the configuration (limits, say).
func newEnvConfig(t testing.TB, db *tenancytest.DB, client *tenancy.Client, change func(*Config)) *env {
	t.Helper()
	outbox := NewOutbox(nil)
	cfg := &Config{Client: client, OperatorPassword: testOperatorPassword, PasswordCost: bcrypt.MinCost, Mailer: outbox}
	if change != nil {
		change(cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	return &env{t: t, db: db, srv: srv, ts: ts, port: port, outbox: outbox}
}

// url is the address of path on host ("" for the public site, else an organisation's slug).
func (e *env) url(slug, path string) string {
	host := "localhost"
	if slug != "" {
		host = slug + ".localhost"
	}
	return "http://" + host + ":" + e.port + path
}

// browser returns an HTTP client with a cookie jar that reaches every host on the test server
// and does not follow redirects.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	addr := e.ts.Listener.Addr().String()
	return &http.Client{
		Jar: jar,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// tiers are the placements the API tests run against: one organisation per tier.
var tiers = []tenancy.Tier{tenancy.TierSchema, tenancy.TierPool, tenancy.TierDatabase}

// eachTier runs f as a parallel subtest per tier.
func eachTier(t *testing.T, f func(t *testing.T, tier tenancy.Tier)) {
	for _, tier := range tiers {
		t.Run(string(tier), func(t *testing.T) {
			t.Parallel()
			f(t, tier)
		})
	}
}

// org creates an organisation (in the default tier) and an API token for it.
func (e *env) org(slug string) (*tenancy.Tenant, string) {
	e.t.Helper()
	return e.orgIn(slug, "")
}

// orgIn creates an organisation in the given tier and an API token for it.
func (e *env) orgIn(slug string, tier tenancy.Tier) (*tenancy.Tenant, string) {
	e.t.Helper()
	ctx := context.Background()
	t, err := e.db.Client.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Name: strings.ToUpper(slug[:1]) + slug[1:], Tier: tier})
	if err != nil {
		e.t.Fatal(err)
	}
	if tier != "" && t.Tier != tier {
		e.t.Fatalf("%s: tier %s, want %s", slug, t.Tier, tier)
	}
	tok, err := CreateAPIToken(ctx, e.db.Client, slug, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return t, tok
}

// apiResp is a decoded API answer.
type apiResp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (e *env) api(method, slug, path, token, body string, header ...string) apiResp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url(slug, path), rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.browser().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := apiResp{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object (%d): %s", method, path, res.StatusCode, raw)
		}
	}
	return out
}

// member makes a user who belongs to the organisation and returns their id.
func (e *env) member(t *tenancy.Tenant, email, name string) int64 {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.srv.createUser(ctx, email, name, "password123")
	if err != nil {
		e.t.Fatal(err)
	}
	if t != nil {
		if err := e.srv.addMember(ctx, u.ID, t.ID, "member"); err != nil {
			e.t.Fatal(err)
		}
	}
	return u.ID
}

// count counts the rows of a tenant table, bound to the tenant, as the application role.
func (e *env) count(t *tenancy.Tenant, table string) int {
	e.t.Helper()
	var n int
	if !regexp.MustCompile(`^[a-z_]+$`).MatchString(table) {
		e.t.Fatalf("bad table %q", table)
	}
	if err := e.db.Client.QueryRow(tenancy.WithTenant(context.Background(), t), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// form opens the page at getPath, as a browser would, then posts a form to postPath.
func (e *env) form(c *http.Client, slug, getPath, postPath string, values url.Values) *http.Response {
	e.t.Helper()
	e.open(c, slug, getPath)
	res, err := c.PostForm(e.url(slug, postPath), values)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// formBody is form, returning the answer's status and body.
func (e *env) formBody(c *http.Client, slug, getPath, postPath string, values url.Values) (int, string) {
	e.t.Helper()
	e.open(c, slug, getPath)
	res, err := c.PostForm(e.url(slug, postPath), values)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// open loads a page with a form, failing the test if it has none.
func (e *env) open(c *http.Client, slug, path string) {
	e.t.Helper()
	if body, status := e.get(c, slug, path); !strings.Contains(body, "<form") {
		e.t.Fatalf("GET %s%s (%d): no form in the page", slug, path, status)
	}
}

func (e *env) get(c *http.Client, slug, path string) (string, int) {
	e.t.Helper()
	res, err := c.Get(e.url(slug, path))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b), res.StatusCode
}
