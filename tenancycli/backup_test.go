package tenancycli_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestBackupRestoreMove runs backup, restore, move and a hard delete with backup from the
// command line: results on stdout, one-line errors, exit codes 0/1/2, refusals change nothing.
func TestBackupRestoreMove(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	ctx := context.Background()
	dir := t.TempDir()
	tg.ok(t, "tenants", "create", "acme", "--tier", "pool")
	acme, err := tg.db.Client.TenantGet(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"one", "two\twith a tab", "three"} {
		if _, err := tg.db.Client.Exec(tenancy.WithTenant(ctx, acme), `INSERT INTO notes (body) VALUES ($1)`, body); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "acme.tar.gz")
	out := tg.ok(t, "backup", "acme", "-o", file)
	if !strings.HasPrefix(out, "backed up tenant acme ") || !strings.Contains(out, "1 tables, 3 rows") {
		t.Fatalf("backup: %q", out)
	}
	var res tenancy.BackupResult
	if err := json.Unmarshal([]byte(tg.ok(t, "backup", "acme", "-o", filepath.Join(dir, "again.tar.gz"), "--json")), &res); err != nil || res.Rows != 3 || res.Tenant != "acme" {
		t.Fatalf("backup --json: %+v %v", res, err)
	}

	out = tg.ok(t, "restore", file, "--as", "acme-copy", "--tier", "schema")
	if !strings.HasPrefix(out, "restored tenant acme-copy ") || !strings.Contains(out, "schema tier") {
		t.Fatalf("restore: %q", out)
	}
	notes := func(slug string) string {
		tn, err := tg.db.Client.TenantGet(ctx, slug)
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if err := tg.db.Client.QueryRow(tenancy.WithTenant(ctx, tn), `SELECT string_agg(body, '|' ORDER BY id) FROM notes`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := notes("acme-copy"); got != "one|two\twith a tab|three" {
		t.Fatalf("restored notes: %q", got)
	}

	out = tg.ok(t, "move", "acme", "--tier", "database")
	if !strings.HasPrefix(out, "moved tenant acme to the database tier") || notes("acme") != "one|two\twith a tab|three" {
		t.Fatalf("move: %q", out)
	}

	// Refusals: one line, exit 1 or 2, nothing changed.
	before := tg.snapshot(t)
	wantFailure(t, tg.run(t, "restore", file), "already exists")
	wantFailure(t, tg.run(t, "restore", filepath.Join(dir, "missing.tar.gz"), "--as", "nobody"), "no such file")
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not an archive"), 0o600)
	wantFailure(t, tg.run(t, "restore", garbage, "--as", "garbage"), "invalid archive")
	wantFailure(t, tg.run(t, "move", "acme", "--tier", "database"), "already")
	wantFailure(t, tg.run(t, "backup", "nobody", "-o", filepath.Join(dir, "nobody.tar.gz")), "not found")
	for _, args := range [][]string{
		{"backup", "acme"},
		{"move", "acme"},
		{"move", "acme", "--tier", "galaxy"},
		{"restore", file, "--tier", "galaxy"},
		{"tenants", "delete", "acme", "--backup", filepath.Join(dir, "x")},
	} {
		if r := tg.run(t, args...); r.code != 2 || r.stdout != "" {
			t.Fatalf("%q: exit %d, stdout %q, want 2", args, r.code, r.stdout)
		}
	}
	if after := tg.snapshot(t); after != before {
		t.Fatalf("a refused command changed the catalog:\n%s\n%s", before, after)
	}
	if _, err := os.Stat(filepath.Join(dir, "nobody.tar.gz")); !os.IsNotExist(err) {
		t.Fatalf("a failed backup left a file: %v", err)
	}

	// Hard delete with backup, then restore it back with its domains.
	tg.ok(t, "domains", "add", "acme-copy", "copy.example.com")
	saved := filepath.Join(dir, "acme-copy.tar.gz")
	tg.ok(t, "tenants", "delete", "acme-copy", "--hard", "--yes", "--backup", saved)
	wantFailure(t, tg.run(t, "tenants", "show", "acme-copy"), "not found")
	out = tg.ok(t, "restore", saved, "--domains")
	if !strings.HasPrefix(out, "restored tenant acme-copy ") || notes("acme-copy") != "one|two\twith a tab|three" {
		t.Fatalf("restore after delete: %q", out)
	}
	if !strings.Contains(tg.ok(t, "domains", "list", "acme-copy"), "copy.example.com") {
		t.Fatal("the domain was not restored")
	}
}

// TestBackupPoolOwnerBypassesRLS: with --database-url a superuser or a BYPASSRLS role (as
// postgres://postgres@... is), backup, restore --as, move and check of pool tenants touch only
// the named tenant's rows.
func TestBackupPoolOwnerBypassesRLS(t *testing.T) {
	t.Parallel()
	for _, o := range tenancytest.Owners {
		t.Run(o.String(), func(t *testing.T) {
			t.Parallel()
			tg := newTargetOwner(t, o)
			ctx := context.Background()
			add := func(slug string, bodies ...string) {
				tg.ok(t, "tenants", "create", slug, "--tier", "pool")
				tn, err := tg.db.Client.TenantGet(ctx, slug)
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range bodies {
					if _, err := tg.db.Client.Exec(tenancy.WithTenant(ctx, tn), `INSERT INTO notes (body) VALUES ($1)`, b); err != nil {
						t.Fatal(err)
					}
				}
			}
			notes := func(slug string) string {
				tn, err := tg.db.Client.TenantGet(ctx, slug)
				if err != nil {
					t.Fatal(err)
				}
				var s string
				if err := tg.db.Client.QueryRow(tenancy.WithTenant(ctx, tn), `SELECT coalesce(string_agg(body, '|' ORDER BY id), '') FROM notes`).Scan(&s); err != nil {
					t.Fatal(err)
				}
				return s
			}
			add("p1", "a", "b", "c")
			add("p2", "d", "e")
			add("p3", "f", "g", "h", "i")
			file := filepath.Join(t.TempDir(), "p1.tar.gz")
			if out := tg.ok(t, "backup", "p1", "-o", file); !strings.Contains(out, "1 tables, 3 rows") {
				t.Fatalf("backup p1: %q, want p1's 3 rows", out)
			}
			tg.ok(t, "restore", file, "--as", "copy")
			if got := notes("copy"); got != "a|b|c" {
				t.Fatalf("copy's notes: %q", got)
			}
			tg.ok(t, "move", "p2", "--tier", "schema")
			if got := notes("p2"); got != "d|e" {
				t.Fatalf("p2's notes after the move: %q", got)
			}
			tg.ok(t, "check")
			tg.ok(t, "tenants", "delete", "copy", "--hard", "--yes")
			for slug, want := range map[string]string{"p1": "a|b|c", "p3": "f|g|h|i"} {
				if got := notes(slug); got != want {
					t.Fatalf("%s's notes: %q, want %q", slug, got, want)
				}
			}
		})
	}
}

// TestBackupOutput: -o never replaces what it should not. A new file appears whole; an existing
// file or a symbolic link is replaced only with --force (the link itself, never its target); a
// FIFO or a device is written as a stream and stays what it was; -o - is stdout.
func TestBackupOutput(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	tg.ok(t, "tenants", "create", "acme")
	dir := t.TempDir()
	isArchive := func(b []byte) bool { return len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b } // gzip
	read := func(path string) []byte {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// -o -: the archive on stdout, the summary on stderr.
	if r := tg.run(t, "backup", "acme", "-o", "-"); r.code != 0 || !isArchive([]byte(r.stdout)) || !strings.Contains(r.stderr, "backed up tenant acme") {
		t.Fatalf("-o -: exit %d, stderr %q, stdout starts %q", r.code, r.stderr, r.stdout[:min(len(r.stdout), 8)])
	}

	// A new file, then the same path again: refused without --force, replaced with it.
	file := filepath.Join(dir, "acme.tar.gz")
	tg.ok(t, "backup", "acme", "-o", file)
	if !isArchive(read(file)) {
		t.Fatal("the new file is not an archive")
	}
	os.WriteFile(file, []byte("an older archive"), 0o600)
	wantFailure(t, tg.run(t, "backup", "acme", "-o", file), "already exists: pass --force")
	if string(read(file)) != "an older archive" {
		t.Fatal("an existing file was replaced without --force")
	}
	tg.ok(t, "backup", "acme", "-o", file, "--force")
	if !isArchive(read(file)) {
		t.Fatal("--force did not replace the file")
	}

	// A symbolic link: never followed; refused, or with --force the link itself is replaced.
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("not yours"), 0o600)
	link := filepath.Join(dir, "link.tar.gz")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	wantFailure(t, tg.run(t, "backup", "acme", "-o", link), "symbolic link")
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the refused link changed: %v %v", fi, err)
	}
	tg.ok(t, "backup", "acme", "-o", link, "--force")
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() || !isArchive(read(link)) || string(read(victim)) != "not yours" {
		t.Fatalf("--force over a link: %v %v, victim %q", fi, err, read(victim))
	}

	// A directory is refused.
	wantFailure(t, tg.run(t, "backup", "acme", "-o", dir), "is a directory")

	// A FIFO is written as a stream and stays a FIFO.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		f, err := os.Open(fifo) // blocks until the backup opens it for writing
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(f)
		f.Close()
		got <- b
	}()
	tg.ok(t, "backup", "acme", "-o", fifo)
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", fi, err)
	}
	if b := <-got; !isArchive(b) {
		t.Fatalf("the FIFO's reader got %d bytes, not an archive", len(b))
	}

	// Devices: copies of /dev/null and /dev/full made here (the real ones are never risked). A
	// full device makes the backup fail; neither is replaced.
	null, full := filepath.Join(dir, "null"), filepath.Join(dir, "full")
	if err := syscall.Mknod(null, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Skipf("cannot make device files here (%v): devices untested", err)
	}
	if err := syscall.Mknod(full, syscall.S_IFCHR|0o666, 1<<8|7); err != nil {
		t.Fatal(err)
	}
	tg.ok(t, "backup", "acme", "-o", null)
	wantFailure(t, tg.run(t, "backup", "acme", "-o", full), "no space left on device")
	for _, dev := range []string{null, full} {
		if fi, err := os.Lstat(dev); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("%s was replaced: %v %v", dev, fi, err)
		}
	}

	// Nothing half-written is left beside the archives.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "partial") {
			t.Fatalf("left behind: %s", e.Name())
		}
	}
}
