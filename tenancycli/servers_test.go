package tenancycli_test

import (
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"
)

func TestTiersAndServers(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	owner2, app2 := tg.db.SecondServer(t)

	wantFailure(t, tg.run(t, "servers", "add", "Bad Name", owner2, app2), "invalid server")
	wantFailure(t, tg.run(t, "servers", "add", "two", "postgres://nobody:x@127.0.0.1:1/none", "postgres://nobody:x@127.0.0.1:1/none"), "invalid server")
	if r := tg.run(t, "servers", "add", "two", owner2); r.code != 2 {
		t.Fatalf("servers add without the application URL: exit %d, want 2", r.code)
	}
	tg.ok(t, "servers", "add", "two", owner2, app2)
	wantFailure(t, tg.run(t, "servers", "add", "two", owner2, app2), "server already exists")

	tg.ok(t, "tenants", "create", "pooled", "--tier", "pool")
	tg.ok(t, "tenants", "create", "own-db", "--tier", "database", "--server", "default")
	tg.ok(t, "tenants", "create", "far", "--tier", "schema", "--server", "two")
	wantFailure(t, tg.run(t, "tenants", "create", "nowhere", "--server", "three"), "server not found")

	var tenants []struct {
		Slug      string `json:"slug"`
		Tier      string `json:"tier"`
		Placement struct {
			Server, Database, Schema string
		} `json:"placement"`
	}
	if err := json.Unmarshal([]byte(tg.ok(t, "tenants", "list", "--json")), &tenants); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tn := range tenants {
		got[tn.Slug] = tn.Tier + " " + tn.Placement.Server + "/" + tn.Placement.Database + "/" + tn.Placement.Schema
	}
	for slug, want := range map[string]string{"pooled": "pool //pool_default", "far": "schema two//tenant_", "own-db": "database /" + tg.db.Name + "_t"} {
		if !strings.HasPrefix(got[slug], want) {
			t.Errorf("%s: %q, want prefix %q", slug, got[slug], want)
		}
	}

	var servers []struct {
		Name    string `json:"name"`
		URL     string `json:"url"`
		Tenants int    `json:"tenants"`
		Kind    string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(tg.ok(t, "servers", "list", "--json")), &servers); err != nil {
		t.Fatal(err)
	}
	if len(servers) != 1 || servers[0].Name != "two" || servers[0].Tenants != 1 || servers[0].URL != owner2 || servers[0].Kind != "postgres" {
		t.Fatalf("servers list: %+v", servers)
	}
	wantFailure(t, tg.run(t, "servers", "remove", "two"), "server holds placements")
	tg.ok(t, "tenants", "delete", "far", "--hard", "--yes")
	tg.ok(t, "servers", "remove", "two")
	wantFailure(t, tg.run(t, "servers", "remove", "two"), "server not found")
}

// TestServersPasswords: 'servers add' refuses a password on the command line, saying where to
// put it; the environment variables named after the server supply it to every command; no
// listing or error prints it.
func TestServersPasswords(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	owner2, app2 := tg.db.SecondServer(t) // no password; a passfile= parameter
	pw := map[string]string{}
	bare := map[string]string{}
	for role, raw := range map[string]string{"owner": owner2, "app": app2} {
		u, _ := url.Parse(raw)
		b, err := os.ReadFile(u.Query().Get("passfile"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if f := strings.Split(line, ":"); f[3] == u.User.Username() {
				pw[role] = f[4]
			}
		}
		u.RawQuery = "sslmode=disable"
		bare[role] = u.String()
	}
	withPW := func(raw, p string) string {
		u, _ := url.Parse(raw)
		u.User = url.UserPassword(u.User.Username(), p)
		return u.String()
	}
	noSecret := func(what string, r result) {
		t.Helper()
		for _, p := range pw {
			if strings.Contains(r.stdout+r.stderr, p) {
				t.Fatalf("%s prints a password: %q %q", what, r.stdout, r.stderr)
			}
		}
	}
	env := map[string]string{"TENANCY_SERVER_TWO_PASSWORD": pw["owner"], "TENANCY_SERVER_TWO_APP_PASSWORD": pw["app"]}
	run := func(args ...string) result { return cli(t, env, append(args, tg.args...)...) }

	r := run("servers", "add", "two", withPW(bare["owner"], pw["owner"]), bare["app"])
	wantFailure(t, r, "the owner URL carries a password, which the catalog would keep in plain text: remove it and supply it in TENANCY_SERVER_TWO_PASSWORD")
	noSecret("the refusal", r)
	r = tg.run(t, "servers", "add", "two", bare["owner"], bare["app"]) // no variables set
	wantFailure(t, r, "invalid server")
	noSecret("a failed connection", r)

	if r = run("servers", "add", "two", bare["owner"], bare["app"]); r.code != 0 {
		t.Fatalf("servers add with the passwords in the environment: %q", r.stderr)
	}
	noSecret("servers add", r)
	if r = run("tenants", "create", "far", "--server", "two"); r.code != 0 {
		t.Fatalf("tenants create on two: %q", r.stderr)
	}
	wantFailure(t, tg.run(t, "backup", "far", "-o", "-"), "server two") // the variables are needed by every command
	for _, args := range [][]string{{"servers", "list"}, {"servers", "list", "--json"}} {
		r := run(args...)
		if r.code != 0 || !strings.Contains(r.stdout, "two") {
			t.Fatalf("%q: %q %q", args, r.stdout, r.stderr)
		}
		noSecret("servers list", r)
	}
}
