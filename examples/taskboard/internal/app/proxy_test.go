package app

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
	"github.com/tenancy-go/tenancy/tenancytest"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// newEnvChanged is newEnv with the test's changes to the configuration.
func newEnvChanged(t *testing.T, change func(*Config)) *env {
	t.Helper()
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(), ClientConfig: store.ConfigureClient})
	return newEnvConfig(t, db, db.Client, change)
}

// post sends a form with extra headers (name, value, ...).
func (e *env) post(c *http.Client, slug, path string, values url.Values, header ...string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.url(slug, path), strings.NewReader(values.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func cookieSecure(res *http.Response, name string) (found, secure bool) {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return true, c.Secure
		}
	}
	return false, false
}

// TestForwardedSchemeOnlyFromTrustedProxies: behind a TLS-terminating proxy named in
// TrustedProxies, cookies are Secure, the hand-off goes to https and answers carry HSTS; the
// same header from anyone else changes nothing.
func TestForwardedSchemeOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprint("trusted=", trusted), func(t *testing.T) {
			t.Parallel()
			e := newEnvChanged(t, func(c *Config) {
				if trusted {
					c.TrustedProxies = loopback
				}
			})
			c := e.browser()
			e.signUp(c, url.Values{"name": {"Anna"}, "email": {"anna@example.com"}, "password": {"correct horse"},
				"org": {"Alpha"}, "slug": {"alpha"}})
			link, _ := url.Parse(e.mailedLink("anna@example.com"))
			res := e.post(c, "", "/signup/confirm", url.Values{"token": {link.Query().Get("token")}, "password": {"correct horse"}},
				"X-Forwarded-Proto", "https")
			loc := res.Header.Get("Location")
			found, secure := cookieSecure(res, sessionCookie)
			hsts := res.Header.Get("Strict-Transport-Security")
			if res.StatusCode != http.StatusSeeOther || !found {
				t.Fatalf("sign-up: %d, session cookie %v", res.StatusCode, found)
			}
			if trusted && (!strings.HasPrefix(loc, "https://alpha.localhost:") || !secure || hsts == "") {
				t.Fatalf("behind a trusted proxy over https: hand-off to %q, Secure %v, HSTS %q", loc, secure, hsts)
			}
			if !trusted && (!strings.HasPrefix(loc, "http://alpha.localhost:") || secure || hsts != "") {
				t.Fatalf("X-Forwarded-Proto from an untrusted client was believed: hand-off to %q, Secure %v, HSTS %q", loc, secure, hsts)
			}
		})
	}
}

// TestForwardedForOnlyFromTrustedProxies: rate limits count per client address; a client cannot
// pose as many by writing X-Forwarded-For, unless it is a trusted proxy.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprint("trusted=", trusted), func(t *testing.T) {
			t.Parallel()
			e := newEnvChanged(t, func(c *Config) {
				c.RateLimits = &RateLimits{LogIn: Rate{Every: time.Hour, Burst: 3}}
				if trusted {
					c.TrustedProxies = loopback
				}
			})
			c := e.browser()
			limited := 0
			for i := range 6 {
				res := e.post(c, "", "/login", url.Values{"email": {fmt.Sprintf("u%d@example.com", i)}, "password": {"password123"}},
					"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
				if res.StatusCode == http.StatusTooManyRequests {
					limited++
				}
			}
			if trusted && limited != 0 {
				t.Fatalf("6 clients behind a trusted proxy, one attempt each: %d refused", limited)
			}
			if !trusted && limited != 3 {
				t.Fatalf("one client posing as 6 with X-Forwarded-For: %d of 6 refused, want 3", limited)
			}
		})
	}
}
