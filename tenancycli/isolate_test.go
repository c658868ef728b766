package tenancycli_test

import "testing"

// TestMoveIsolateRefused: move --isolate on a plain server, and its flags misused, each give one
// clear line and change nothing (the Citus success is in the root package's TestCitusPool).
func TestMoveIsolateRefused(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	tg.ok(t, "tenants", "create", "acme", "--tier", "pool")
	before := tg.snapshot(t)
	wantFailure(t, tg.run(t, "move", "acme", "--isolate"), "Citus")
	wantFailure(t, tg.run(t, "move", "nobody", "--isolate"), "not found")
	// --node alone moves a schema-tier tenant's schema: refused for a pool tenant.
	wantFailure(t, tg.run(t, "move", "acme", "--node", "127.0.0.1:5432"), "schema-tier")
	for _, args := range [][]string{
		{"move", "acme", "--isolate", "--tier", "schema"},
		{"move", "acme", "--online"},
		{"move", "acme", "--isolate", "--transfer-mode", "block_writes"},
	} {
		if r := tg.run(t, args...); r.code != 2 {
			t.Errorf("%q: exit %d (stderr %q), want 2", args, r.code, r.stderr)
		}
	}
	if after := tg.snapshot(t); after != before {
		t.Fatalf("the catalog changed:\n%s\n%s", before, after)
	}
}
