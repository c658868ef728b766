package tenancycli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy/internal/pglocal"
)

// TestLocalCluster runs the no-database path end to end: a durable local cluster of its own in a
// temporary folder (about a second to initialise), its roles, init, create, list, stop, restart.
func TestLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster of its own")
	}
	if _, err := pglocal.FindBinaries(); err != nil {
		t.Skip(err)
	}
	t.Parallel()
	// Not t.TempDir: when the tests run as root, the server runs as another user, who must be
	// able to enter the folder.
	parent, err := os.MkdirTemp("", "tenancycli-local-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "data")
	t.Cleanup(func() {
		if err := pglocal.Stop(context.Background(), dir); err != nil {
			t.Error(err)
		}
		os.RemoveAll(parent)
	})
	run := func(args ...string) result { return cli(t, nil, append(args, "--data-dir", dir)...) }
	ok := func(args ...string) result {
		t.Helper()
		r := run(args...)
		if r.code != 0 {
			t.Fatalf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
		return r
	}

	// Before init nothing is created behind the user's back.
	wantFailure(t, run("tenants", "list"), "run `tenancy init`")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("tenants list before init created %s (%v)", dir, err)
	}
	if r := ok("local", "status"); !strings.Contains(r.stdout, "no local cluster") {
		t.Fatalf("local status before init = %q", r.stdout)
	}

	r := ok("init", "--migrations", migrationsDir)
	for _, want := range []string{"created role tenancy_owner", "created role tenancy_app", "created database tenancy", "catalog ready"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("init stdout = %q, want %q", r.stdout, want)
		}
	}
	if !strings.Contains(r.stderr, "starting PostgreSQL") {
		t.Fatalf("init stderr = %q, want the progress of the cluster start", r.stderr)
	}
	fi, err := os.Stat(filepath.Join(dir, "roles.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("roles.json: %v, mode %v; want 0600", err, fi.Mode())
	}
	if r := ok("init", "--migrations", migrationsDir); strings.Contains(r.stdout, "created") || r.stderr != "" {
		t.Fatalf("second init: stdout %q, stderr %q; want nothing created, no start", r.stdout, r.stderr)
	}

	ok("tenants", "create", "acme", "--name", "Acme", "--migrations", migrationsDir)
	listed := func() []string {
		t.Helper()
		r := ok("tenants", "list", "--json")
		var ts []struct{ Slug string }
		if err := json.Unmarshal([]byte(r.stdout), &ts); err != nil {
			t.Fatalf("list --json: %v: %q (stderr %q)", err, r.stdout, r.stderr)
		}
		var slugs []string
		for _, t := range ts {
			slugs = append(slugs, t.Slug)
		}
		return slugs
	}
	if got := listed(); len(got) != 1 || got[0] != "acme" {
		t.Fatalf("list = %v", got)
	}

	if r := ok("local", "status"); !strings.Contains(r.stdout, "running on 127.0.0.1:") {
		t.Fatalf("local status = %q", r.stdout)
	}
	ok("local", "stop")
	if r := ok("local", "status"); !strings.Contains(r.stdout, "stopped") {
		t.Fatalf("local status after stop = %q", r.stdout)
	}
	// Any command starts it again, progress on stderr and clean JSON on stdout.
	if got := listed(); len(got) != 1 || got[0] != "acme" {
		t.Fatalf("list after restart = %v", got)
	}
}
