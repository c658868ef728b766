package tenancycli_test

import (
	"encoding/json"
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
	}
	if err := json.Unmarshal([]byte(tg.ok(t, "servers", "list", "--json")), &servers); err != nil {
		t.Fatal(err)
	}
	if len(servers) != 1 || servers[0].Name != "two" || servers[0].Tenants != 1 || servers[0].URL == owner2 || !strings.Contains(servers[0].URL, ":xxxxx@") {
		t.Fatalf("servers list: %+v", servers)
	}
	if strings.Contains(tg.ok(t, "servers", "list"), owner2) {
		t.Fatal("servers list prints the password")
	}
	wantFailure(t, tg.run(t, "servers", "remove", "two"), "server holds placements")
	tg.ok(t, "tenants", "delete", "far", "--hard", "--yes")
	tg.ok(t, "servers", "remove", "two")
	wantFailure(t, tg.run(t, "servers", "remove", "two"), "server not found")
}
