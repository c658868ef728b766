package tenancycli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
)

func TestTenantsLimits(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	tg.ok(t, "tenants", "create", "acme")
	if out := tg.ok(t, "tenants", "limits", "acme"); !strings.Contains(out, "no limits of its own") {
		t.Fatalf("limits of a tenant without any: %q", out)
	}
	tg.ok(t, "tenants", "limits", "acme", "--statement-timeout", "2s", "--max-concurrent", "4")
	tg.ok(t, "tenants", "limits", "acme", "--idle-timeout", "10s") // the others are kept
	want := `{"statement_timeout":"2s","idle_in_transaction_timeout":"10s","max_concurrent":4}`
	if out := compact(t, tg.ok(t, "tenants", "limits", "acme", "--json")); out != want {
		t.Fatalf("limits --json: %s, want %s", out, want)
	}
	if out := tg.ok(t, "tenants", "limits", "acme"); !strings.Contains(out, "max concurrent:") || !strings.Contains(out, "4") {
		t.Fatalf("limits: %q", out)
	}
	var shown struct {
		Limits json.RawMessage `json:"limits"`
	}
	if err := json.Unmarshal([]byte(tg.ok(t, "tenants", "show", "acme", "--json")), &shown); err != nil || compact(t, string(shown.Limits)) != want {
		t.Fatalf("tenants show --json limits: %s (%v)", shown.Limits, err)
	}
	// Bad input: one line, exit 2 (1 for an unknown tenant), nothing changed.
	before := tg.snapshot(t)
	for _, args := range [][]string{
		{"--statement-timeout", "-1s"},
		{"--statement-timeout", "soon"},
		{"--idle-timeout", "1500us"},
		{"--max-concurrent", "-3"},
		{"--max-concurrent", "many"},
		{"--clear", "--max-concurrent", "2"},
	} {
		r := tg.run(t, append([]string{"tenants", "limits", "acme"}, args...)...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 2 || len(lines) != 2 || !strings.HasPrefix(lines[1], "Run '") || strings.Contains(lines[0], "tenancy: tenancy:") {
			t.Errorf("%q: exit %d, stderr %q; want 2, one error line and the help hint", args, r.code, r.stderr)
		}
	}
	wantFailure(t, tg.run(t, "tenants", "limits", "nobody", "--max-concurrent", "2"), "tenant not found")
	if after := tg.snapshot(t); after != before {
		t.Fatalf("bad input changed the catalog:\n%s\n%s", before, after)
	}
	tg.ok(t, "tenants", "limits", "acme", "--clear")
	if out := compact(t, tg.ok(t, "tenants", "limits", "acme", "--json")); out != "{}" {
		t.Fatalf("after --clear: %s", out)
	}
}

func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return b.String()
}

// usage shows what the application's clients counted and flushed, and the storage of each tier.
func TestUsage(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	tg.ok(t, "tenants", "create", "busy-one")
	tg.ok(t, "tenants", "create", "pooled", "--tier", "pool")
	ctx := context.Background()
	c := tg.db.Client
	for _, slug := range []string{"busy-one", "pooled"} {
		tn, err := c.TenantGet(ctx, slug)
		if err != nil {
			t.Fatal(err)
		}
		tctx := tenancy.WithTenant(ctx, tn)
		n := 3
		if slug == "pooled" {
			n = 1
		}
		for range n {
			if _, err := c.Exec(tctx, `SELECT 1`); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Exec(tctx, `SELECT 1/0`); err == nil {
			t.Fatal("1/0 did not fail")
		}
	}
	if err := c.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	var us []tenancy.TenantUsage
	if err := json.Unmarshal([]byte(tg.ok(t, "usage", "--json", "--storage")), &us); err != nil {
		t.Fatal(err)
	}
	got := map[string]tenancy.TenantUsage{}
	for _, u := range us {
		got[u.Tenant] = u
	}
	if u := got["busy-one"]; u.Transactions != 4 || u.Errors != 1 || u.Timeouts != 0 || u.StatementTime <= 0 || u.StorageBytes <= 0 {
		t.Errorf("busy-one: %+v, want 4 transactions, 1 error, some time and storage", u)
	}
	if u := got["pooled"]; u.Transactions != 2 || u.Errors != 1 || u.StorageBytes < 0 {
		t.Errorf("pooled: %+v, want 2 transactions, 1 error, storage measured", u)
	}
	out := tg.ok(t, "usage")
	if !strings.Contains(out, "TRANSACTIONS") || !strings.Contains(out, "busy-one") {
		t.Fatalf("usage: %q", out)
	}
	if r := tg.run(t, "usage", "extra"); r.code != 2 {
		t.Fatalf("usage with an argument: exit %d, want 2", r.code)
	}
}
