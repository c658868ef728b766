package tenancycli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancycli"
)

// TestTenantsSettings: 'tenants settings' shows a tenant's settings, sets keys (JSON when the value
// is JSON, else a string) and unsets them; bad input is one clear line and changes nothing.
func TestTenantsSettings(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	tg.ok(t, "tenants", "create", "acme", "--tier", "pool")
	if out := tg.ok(t, "tenants", "settings", "acme"); out != "tenant acme has no settings\n" {
		t.Fatalf("no settings: %q", out)
	}
	tg.ok(t, "tenants", "settings", "acme", "--set", "theme=dark", "--set", "max=42", "--set", "beta=true",
		"--set", `labels={"done":"Shipped"}`, "--set", `word="true"`, "--set", "note=hello world", "--set", "empty=")
	out := tg.ok(t, "tenants", "settings", "acme", "--unset", "beta", "--unset", "never-set", "--json")
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	want := map[string]any{"theme": "dark", "max": 42.0, "labels": map[string]any{"done": "Shipped"}, "word": "true", "note": "hello world", "empty": ""}
	if !equalJSON(got, want) {
		t.Fatalf("settings %v, want %v", got, want)
	}
	if out := tg.ok(t, "tenants", "settings", "acme"); !strings.Contains(out, "theme   \"dark\"\n") || !strings.Contains(out, "max     42\n") {
		t.Fatalf("table: %q", out)
	}
	before := tg.snapshot(t)
	for _, bad := range [][]string{
		{"--set", "theme"},
		{"--set", "=dark"},
		{"--set", "theme=dark", "--set", "theme=light"},
		{"--set", "theme=dark", "--unset", "theme"},
		{"--unset", ""},
	} {
		r := tg.run(t, append([]string{"tenants", "settings", "acme"}, bad...)...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 2 || r.stdout != "" {
			t.Fatalf("%q: exit %d, stdout %q, stderr %q; want a usage error", bad, r.code, r.stdout, r.stderr)
		}
	}
	wantFailure(t, tg.run(t, "tenants", "settings", "nobody", "--set", "theme=dark"), "tenant not found: nobody")
	if after := tg.snapshot(t); after != before {
		t.Fatalf("a refused command changed the catalog:\n%s\nwas\n%s", after, before)
	}
}

type cliSettings struct {
	Theme string `json:"theme"`
}

func (s cliSettings) Validate() error {
	if s.Theme != "" && s.Theme != "light" && s.Theme != "dark" {
		return errors.New("theme must be light or dark")
	}
	return nil
}

// TestTenantsSettingsValidated: an application that embeds the CLI with its settings type gets
// its rule applied: a refused change is one line and changes nothing.
func TestTenantsSettingsValidated(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	tg.ok(t, "tenants", "create", "acme", "--tier", "pool")
	run := func(args ...string) result {
		var stdout, stderr bytes.Buffer
		code := tenancycli.Run(context.Background(), append(args, tg.args...), strings.NewReader(""), &stdout, &stderr,
			&tenancycli.Options{Getenv: func(string) string { return "" }, ClientConfig: func(c *tenancy.Config) {
				c.ValidateSettings = tenancy.SettingsType[cliSettings]()
			}})
		return result{code, stdout.String(), stderr.String()}
	}
	if r := run("tenants", "settings", "acme", "--set", "theme=dark"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	before := tg.snapshot(t)
	wantFailure(t, run("tenants", "settings", "acme", "--set", "theme=purple"), "invalid settings of acme: theme must be light or dark")
	wantFailure(t, run("tenants", "settings", "acme", "--set", "colour=red"), `unknown setting "colour" (known: theme)`)
	if after := tg.snapshot(t); after != before {
		t.Fatalf("a refused change changed the catalog:\n%s\nwas\n%s", after, before)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
