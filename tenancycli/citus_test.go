package tenancycli_test

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy/tenancytest"
)

// On Citus, status lists the nodes and each tenant's node, tenants show names the tenant's node,
// move --node moves a schema-tier tenant there, and rebalance runs the rebalancer; bad input
// gets one clear line and changes nothing. On a plain server, move --node and rebalance are
// refused.
func TestCitusNodes(t *testing.T) {
	t.Parallel()
	// Moving a schema to a node copies it as the owner, who must bypass RLS (ErrOwnerSubjectToRLS;
	// the refusal is TestCitusPoolTiers's).
	db := tenancytest.NewCitus(t, &tenancytest.Options{
		SharedMigrations: os.DirFS(migrationsDir + "/shared"),
		TenantMigrations: os.DirFS(migrationsDir + "/tenant"),
		Owner:            tenancytest.OwnerBypassRLS,
	}, nil)
	tg := &target{db: db, args: []string{"--database-url", db.AdminURL, "--app-url", db.AppURL, "--migrations", migrationsDir}}
	workers := map[string]bool{}
	for _, w := range tenancytest.CitusCluster(t).Workers {
		workers["127.0.0.1:"+strconv.Itoa(w.Port)] = true
	}
	tg.ok(t, "tenants", "create", "acme", "--tier", "schema")
	tg.ok(t, "tenants", "create", "pico", "--tier", "pool")

	var status struct {
		Tenants []struct{ Slug, Node string }
		Nodes   []struct {
			Server      string
			Node        string
			Coordinator bool
			Tenants     int
		}
	}
	if err := json.Unmarshal([]byte(tg.ok(t, "status", "--tenants", "--json")), &status); err != nil {
		t.Fatal(err)
	}
	nodeOf := map[string]string{}
	for _, tn := range status.Tenants {
		nodeOf[tn.Slug] = tn.Node
	}
	if !workers[nodeOf["acme"]] || nodeOf["pico"] == "" {
		t.Fatalf("status --tenants: nodes %v, want acme on a worker of %v and pico somewhere", nodeOf, workers)
	}
	if len(status.Nodes) != 3 || !status.Nodes[0].Coordinator {
		t.Fatalf("status nodes: %+v, want the coordinator and two workers", status.Nodes)
	}
	total := 0
	for _, n := range status.Nodes {
		total += n.Tenants
		if n.Node == nodeOf["acme"] && n.Tenants < 1 {
			t.Errorf("acme's node %s counts %d tenants", n.Node, n.Tenants)
		}
	}
	if total != 2 {
		t.Errorf("the nodes count %d tenants, want 2: %+v", total, status.Nodes)
	}
	if out := tg.ok(t, "status"); !strings.Contains(out, "NODE") || !strings.Contains(out, nodeOf["acme"]) {
		t.Errorf("status does not list the nodes:\n%s", out)
	}

	var shown struct {
		Slug string
		Node struct {
			Node        string
			Distributed bool
		}
	}
	if err := json.Unmarshal([]byte(tg.ok(t, "tenants", "show", "acme", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Node.Node != nodeOf["acme"] || !shown.Node.Distributed {
		t.Errorf("tenants show acme --json: node %+v, want %s, distributed", shown.Node, nodeOf["acme"])
	}
	if out := tg.ok(t, "tenants", "show", "acme"); !strings.Contains(out, "node:") || !strings.Contains(out, nodeOf["acme"]) {
		t.Errorf("tenants show acme:\n%s", out)
	}

	// Bad input: one line, exit 1 (or 2 for usage), nothing moved.
	wantFailure(t, tg.run(t, "move", "acme", "--node", "nowhere"), "invalid node")
	wantFailure(t, tg.run(t, "move", "pico", "--node", nodeOf["acme"]), "schema-tier")
	wantFailure(t, tg.run(t, "move", "acme", "--node", nodeOf["acme"]), "already")
	if r := tg.run(t, "move", "acme", "--node", nodeOf["acme"], "--tier", "pool"); r.code != 2 {
		t.Errorf("move --node with --tier: exit %d, want 2 (%s)", r.code, r.stderr)
	}
	wantFailure(t, tg.run(t, "rebalance", "--transfer-mode", "teleport"), "transfer mode")

	var to string
	for w := range workers {
		if w != nodeOf["acme"] {
			to = w
		}
	}
	var moved struct {
		Slug string
		Node struct{ Node string }
	}
	// block_writes: a logical-replication move needs a free background worker on the target,
	// which the shared test cluster may not have (tenancytest's max_worker_processes).
	if err := json.Unmarshal([]byte(tg.ok(t, "move", "acme", "--node", to, "--transfer-mode", "block_writes", "--json")), &moved); err != nil {
		t.Fatal(err)
	}
	if moved.Slug != "acme" || moved.Node.Node != to {
		t.Errorf("move --node %s --json: %+v", to, moved)
	}
	if out := tg.ok(t, "tenants", "show", "acme"); !strings.Contains(out, to) {
		t.Errorf("after the move, tenants show acme:\n%s", out)
	}
	var res struct {
		Moves  []any
		DryRun bool `json:"dry_run"`
	}
	if err := json.Unmarshal([]byte(tg.ok(t, "rebalance", "--dry-run", "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Moves == nil {
		t.Errorf("rebalance --dry-run --json: %+v", res)
	}
	if out := tg.ok(t, "rebalance", "--transfer-mode", "block_writes"); !strings.Contains(out, "nothing to move") && !strings.Contains(out, "moves made") {
		t.Errorf("rebalance printed %q", out)
	}

	plain := newTarget(t)
	plain.ok(t, "tenants", "create", "solo", "--tier", "schema")
	wantFailure(t, plain.run(t, "rebalance"), "not a Citus server")
	wantFailure(t, plain.run(t, "move", "solo", "--node", "127.0.0.1:5432"), "not a Citus server")
	if out := plain.ok(t, "status", "--tenants"); strings.Contains(out, "NODE") {
		t.Errorf("status on a plain server lists nodes:\n%s", out)
	}
}
