package tenancycli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy/tenancycli"
	"github.com/tenancy-go/tenancy/tenancytest"
)

const migrationsDir = "../testdata/migrations"

type result struct {
	code           int
	stdout, stderr string
}

// cli runs one command line with buffers and an empty environment (plus env), so that the
// caller's DATABASE_URL or PG* variables cannot leak into the test.
func cli(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := tenancycli.Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr,
		&tenancycli.Options{Getenv: func(k string) string { return env[k] }})
	return result{code, stdout.String(), stderr.String()}
}

// target is a test database and the flags that point the CLI at it.
type target struct {
	db   *tenancytest.DB
	args []string
}

func newTarget(t *testing.T) *target {
	t.Helper()
	return newTargetOwner(t, tenancytest.OwnerPlain)
}

// newTargetOwner is newTarget with an owner role of kind o as --database-url.
func newTargetOwner(t *testing.T, o tenancytest.Owner) *target {
	t.Helper()
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: os.DirFS(migrationsDir + "/shared"),
		TenantMigrations: os.DirFS(migrationsDir + "/tenant"),
		Owner:            o,
	})
	return &target{db: db, args: []string{"--database-url", db.AdminURL, "--app-url", db.AppURL, "--migrations", migrationsDir}}
}

func (tg *target) run(t *testing.T, args ...string) result {
	t.Helper()
	return cli(t, nil, append(args, tg.args...)...)
}

// ok runs a command that must succeed and returns its stdout.
func (tg *target) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := tg.run(t, args...)
	if r.code != 0 {
		t.Fatalf("%q: exit %d, stderr %q", args, r.code, r.stderr)
	}
	return r.stdout
}

// snapshot is the catalog as the CLI lists it: it must not change after a refused command.
func (tg *target) snapshot(t *testing.T) string {
	t.Helper()
	return tg.ok(t, "tenants", "list", "--json") + tg.ok(t, "domains", "list", "--json")
}

func TestInitFreshDatabaseIsIdempotent(t *testing.T) {
	t.Parallel()
	srv := tenancytest.Cluster(t)
	ctx := context.Background()
	name := fmt.Sprintf("cli_init_%d", os.Getpid())
	if _, err := srv.SuperPool().Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SuperPool().Exec(ctx, `CREATE DATABASE `+name+` OWNER `+tenancytest.OwnerRole); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.SuperPool().Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	owner, app := srv.URL(tenancytest.OwnerRole, name), srv.URL(tenancytest.AppRole, name)
	tg := &target{args: []string{"--database-url", owner, "--app-url", app, "--migrations", migrationsDir}}

	r := tg.run(t, "tenants", "list")
	wantFailure(t, r, "catalog is not installed")

	for i := 0; i < 2; i++ {
		out := tg.ok(t, "init")
		if !strings.Contains(out, "catalog ready") || !strings.Contains(out, "tenant migrations at version 1") {
			t.Fatalf("init #%d printed %q", i+1, out)
		}
	}
	if got := tg.ok(t, "tenants", "list", "--json"); strings.TrimSpace(got) != "[]" {
		t.Fatalf("list after init = %q, want []", got)
	}

	// The owner as application role would bypass RLS: refused.
	r = cli(t, nil, "init", "--database-url", owner, "--app-url", owner)
	wantFailure(t, r, "must not be the owner")
}

func TestCreateShowListJSON(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	out := tg.ok(t, "tenants", "create", "acme", "--name", "Acme Corp")
	if !strings.Contains(out, "created tenant acme") {
		t.Fatalf("create printed %q", out)
	}
	tg.ok(t, "tenants", "create", "globex")

	var shown map[string]any
	if err := json.Unmarshal([]byte(tg.ok(t, "tenants", "show", "acme", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range shown {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"created_at", "domains", "id", "name", "placement", "slug", "status", "tier", "type", "updated_at", "version"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("tenant JSON keys = %v, want %v", keys, want)
	}
	placement, _ := shown["placement"].(map[string]any)
	if len(placement) != 3 || placement["server"] != "" || placement["database"] != "" || placement["schema"] == "" {
		t.Fatalf("placement = %#v, want server, database (empty: the catalog's own) and schema", shown["placement"])
	}
	if shown["slug"] != "acme" || shown["name"] != "Acme Corp" || shown["status"] != "active" || shown["tier"] != "schema" ||
		shown["version"] != float64(1) || shown["id"] == float64(0) || shown["created_at"] == "" {
		t.Fatalf("tenant JSON = %v", shown)
	}
	if d, ok := shown["domains"].([]any); !ok || len(d) != 0 {
		t.Fatalf("domains = %#v, want []", shown["domains"])
	}

	var list []map[string]any
	if err := json.Unmarshal([]byte(tg.ok(t, "tenants", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0]["slug"] != "acme" || list[1]["slug"] != "globex" || list[1]["name"] != "globex" {
		t.Fatalf("list = %v", list)
	}
	if !reflect.DeepEqual(list[0], shown) {
		t.Fatalf("list[0] = %v, show = %v", list[0], shown)
	}

	human := tg.ok(t, "tenants", "list")
	if lines := strings.Split(strings.TrimSpace(human), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "acme ") || !strings.Contains(lines[1], "Acme Corp") {
		t.Fatalf("list = %q", human)
	}
	if got := tg.ok(t, "tenants", "list", "--status", "suspended", "--json"); strings.TrimSpace(got) != "[]" {
		t.Fatalf("list --status suspended = %q", got)
	}
}

// wantFailure checks a runtime failure: exit 1, exactly one line on stderr naming the problem,
// nothing on stdout.
func wantFailure(t *testing.T, r result, substr string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (stdout %q, stderr %q)", r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "tenancy: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("stderr = %q, want one line starting with \"tenancy: \"", r.stderr)
	}
	if !strings.Contains(r.stderr, substr) {
		t.Fatalf("stderr = %q, want it to mention %q", r.stderr, substr)
	}
	if r.stdout != "" {
		t.Fatalf("stdout = %q, want nothing", r.stdout)
	}
}

func TestBadInputFailsAndChangesNothing(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	tg.ok(t, "tenants", "create", "acme")
	tg.ok(t, "tenants", "create", "globex")
	tg.ok(t, "domains", "add", "acme", "acme.example.com")
	before := tg.snapshot(t)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tenants", "create", "acme"}, "tenant already exists: acme"},
		{[]string{"tenants", "create", "public"}, "reserved slug"},
		{[]string{"tenants", "create", "www"}, "reserved slug"},
		{[]string{"tenants", "create", "pg-catalog"}, "reserved slug"},
		{[]string{"tenants", "create", "acme'; DROP SCHEMA tenancy CASCADE; --"}, "invalid slug"},
		{[]string{"tenants", "create", `a"b`}, "invalid slug"},
		{[]string{"tenants", "create", "a;b"}, "invalid slug"},
		{[]string{"tenants", "create", "ünicode"}, "invalid slug"},
		{[]string{"tenants", "create", "\u0430cme"}, "invalid slug"}, // Cyrillic a
		{[]string{"tenants", "create", "a\nb"}, "invalid slug"},
		{[]string{"tenants", "create", ""}, "invalid slug"},
		{[]string{"tenants", "create", "Acme"}, "invalid slug"},
		{[]string{"tenants", "create", strings.Repeat("a", 64)}, "invalid slug"},
		{[]string{"tenants", "create", strings.Repeat("a", 300)}, "invalid slug"},
		{[]string{"tenants", "show", "nope"}, "tenant not found: nope"},
		{[]string{"tenants", "show", "x'; SELECT 1; --"}, "invalid slug"},
		{[]string{"tenants", "suspend", "nope"}, "tenant not found"},
		{[]string{"tenants", "resume", "nope"}, "tenant not found"},
		{[]string{"tenants", "rename", "acme", "globex"}, "tenant already exists: globex"},
		{[]string{"tenants", "rename", "acme", "admin"}, "reserved slug"},
		{[]string{"tenants", "rename", "acme", "bad slug"}, "invalid slug"},
		{[]string{"tenants", "rename", "nope", "newco"}, "tenant not found"},
		{[]string{"tenants", "delete", "nope"}, "tenant not found"},
		{[]string{"tenants", "delete", "nope", "--hard", "--yes"}, "tenant not found"},
		{[]string{"domains", "add", "acme", "acme.example.com"}, "domain already exists"},
		{[]string{"domains", "add", "globex", "ACME.example.com."}, "domain already exists"},
		{[]string{"domains", "add", "acme", "bad_host!"}, "invalid host"},
		{[]string{"domains", "add", "acme", "acme.example.com:8080"}, "invalid host"},
		{[]string{"domains", "add", "acme", "a b.example.com"}, "invalid host"},
		{[]string{"domains", "add", "acme", "x.example.com\n"}, "invalid host"},
		{[]string{"domains", "add", "nope", "new.example.com"}, "tenant not found"},
		{[]string{"domains", "remove", "nope.example.com"}, "domain not found"},
		{[]string{"domains", "remove", "bad_host!"}, "invalid host"},
		{[]string{"domains", "list", "nope"}, "tenant not found"},
	} {
		r := tg.run(t, c.args...)
		t.Run(strings.Join(c.args, " "), func(t *testing.T) { wantFailure(t, r, c.want) })
	}
	if after := tg.snapshot(t); after != before {
		t.Fatalf("refused commands changed the catalog:\nbefore %s\nafter  %s", before, after)
	}
}

func TestUsageErrorsExit2AndChangeNothing(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	tg.ok(t, "tenants", "create", "acme")
	before := tg.snapshot(t)
	for _, args := range [][]string{
		{},
		{"frob"},
		{"tenant"},
		{"tenants"},
		{"tenants", "frob"},
		{"tenants", "create"},
		{"tenants", "create", "a", "b"},
		{"tenants", "create", "newco", "--tier", "gold"},
		{"tenants", "list", "extra"},
		{"tenants", "list", "--bogus"},
		{"tenants", "list", "--status", "bogus"},
		{"tenants", "show"},
		{"tenants", "rename", "acme"},
		{"tenants", "delete", "acme", "--hard"},
		{"tenants", "delete"},
		{"domains", "add", "acme"},
		{"domains", "list", "a", "b"},
		{"init", "extra"},
		{"local", "frob"},
		{"--no-such-flag", "tenants", "list"},
	} {
		r := tg.run(t, args...)
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if r.code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "tenancy: ") || !strings.Contains(r.stderr, "--help' for usage.") {
				t.Fatalf("stderr = %q, want the problem and a usage hint", r.stderr)
			}
			if r.stdout != "" {
				t.Fatalf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
	if after := tg.snapshot(t); after != before {
		t.Fatalf("usage errors changed the catalog:\nbefore %s\nafter  %s", before, after)
	}
	if r := tg.run(t, "tenants", "--help"); r.code != 0 || !strings.Contains(r.stdout, "create") {
		t.Fatalf("--help: exit %d, stdout %q", r.code, r.stdout)
	}
}

func showStatus(t *testing.T, tg *target, slug string) string {
	t.Helper()
	var ten struct{ Status string }
	if err := json.Unmarshal([]byte(tg.ok(t, "tenants", "show", slug, "--json")), &ten); err != nil {
		t.Fatal(err)
	}
	return ten.Status
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	ctx := context.Background()
	tg.ok(t, "tenants", "create", "acme")
	steps := []struct {
		args       []string
		slug, want string
	}{
		{[]string{"tenants", "suspend", "acme"}, "acme", "suspended"},
		{[]string{"tenants", "resume", "acme"}, "acme", "active"},
		{[]string{"tenants", "rename", "acme", "acme-inc"}, "acme-inc", "active"},
		{[]string{"tenants", "delete", "acme-inc"}, "acme-inc", "deleted"},
		{[]string{"tenants", "resume", "acme-inc"}, "acme-inc", "active"},
	}
	for _, s := range steps {
		tg.ok(t, s.args...)
		if got := showStatus(t, tg, s.slug); got != s.want {
			t.Fatalf("after %q: status %s, want %s", s.args, got, s.want)
		}
	}
	wantFailure(t, tg.run(t, "tenants", "show", "acme"), "tenant not found: acme")

	var schema string
	if err := tg.db.OwnerPool.QueryRow(ctx, `SELECT p.schema FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id WHERE t.slug = 'acme-inc'`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	tg.ok(t, "tenants", "delete", "acme-inc", "--hard", "--yes")
	wantFailure(t, tg.run(t, "tenants", "show", "acme-inc"), "tenant not found")
	var exists bool
	if err := tg.db.OwnerPool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil || exists {
		t.Fatalf("schema %s still exists after a hard delete (err %v)", schema, err)
	}
	if out := tg.ok(t, "repair"); !strings.Contains(out, "nothing to repair") {
		t.Fatalf("repair printed %q", out)
	}
}

func TestDomains(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	tg.ok(t, "tenants", "create", "acme")
	tg.ok(t, "tenants", "create", "globex")
	tg.ok(t, "domains", "add", "acme", "acme.example.com")
	tg.ok(t, "domains", "add", "acme", "WWW.Acme.Example.COM.", "--primary") // stored in its normal spelling
	tg.ok(t, "domains", "add", "globex", "globex.example.com")

	type domain struct {
		Host    string `json:"host"`
		Tenant  string `json:"tenant"`
		Primary bool   `json:"primary"`
	}
	list := func(args ...string) []domain {
		var ds []domain
		if err := json.Unmarshal([]byte(tg.ok(t, append([]string{"domains", "list", "--json"}, args...)...)), &ds); err != nil {
			t.Fatal(err)
		}
		return ds
	}
	want := []domain{{"www.acme.example.com", "acme", true}, {"acme.example.com", "acme", false}, {"globex.example.com", "globex", true}}
	if got := list(); !reflect.DeepEqual(got, want) {
		t.Fatalf("domains list = %v, want %v", got, want)
	}
	if got := list("globex"); !reflect.DeepEqual(got, want[2:]) {
		t.Fatalf("domains list globex = %v", got)
	}
	if ten := tg.ok(t, "tenants", "show", "acme"); !strings.Contains(ten, "www.acme.example.com, acme.example.com") {
		t.Fatalf("show acme = %q, want its domains, primary first", ten)
	}

	tg.ok(t, "domains", "remove", "www.acme.example.com")
	if got := list("acme"); !reflect.DeepEqual(got, []domain{{"acme.example.com", "acme", true}}) {
		t.Fatalf("after removing the primary: %v", got)
	}
	tg.ok(t, "domains", "remove", "acme.example.com")
	if got := tg.ok(t, "domains", "list", "acme", "--json"); strings.TrimSpace(got) != "[]" {
		t.Fatalf("domains list acme = %q, want []", got)
	}
}

func TestMigrationsMustMatchTheDatabase(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	before := tg.snapshot(t)
	// The database's tenants have a notes table; without --migrations a new one would not.
	r := cli(t, nil, "tenants", "create", "acme", "--database-url", tg.db.AdminURL, "--app-url", tg.db.AppURL)
	wantFailure(t, r, "pass --migrations")
	if after := tg.snapshot(t); after != before {
		t.Fatalf("refused create changed the catalog: %s", after)
	}
	// TENANCY_MIGRATIONS stands in for the flag.
	env := map[string]string{"TENANCY_MIGRATIONS": migrationsDir}
	if r := cli(t, env, "tenants", "create", "acme", "--database-url", tg.db.AdminURL, "--app-url", tg.db.AppURL); r.code != 0 {
		t.Fatalf("create with TENANCY_MIGRATIONS: exit %d, %q", r.code, r.stderr)
	}
	wantFailure(t, cli(t, nil, "tenants", "list", "--migrations", "no/such/dir", "--database-url", tg.db.AdminURL, "--app-url", tg.db.AppURL), "not a folder")
}

func TestConnectionFromEnvironment(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	tg.ok(t, "tenants", "create", "acme")

	env := map[string]string{"DATABASE_URL": tg.db.AdminURL, "TENANCY_APP_DATABASE_URL": tg.db.AppURL}
	if r := cli(t, env, "tenants", "show", "acme"); r.code != 0 || !strings.Contains(r.stdout, "acme") {
		t.Fatalf("with DATABASE_URL: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// An owner URL with no application role is refused: the CLI would grant tenant schemas to
	// the wrong role.
	wantFailure(t, cli(t, map[string]string{"DATABASE_URL": tg.db.AdminURL}, "tenants", "list"), "--app-url")
	wantFailure(t, cli(t, nil, "tenants", "list", "--database-url", tg.db.AdminURL), "TENANCY_APP_DATABASE_URL")
	wantFailure(t, cli(t, nil, "tenants", "list", "--app-url", tg.db.AppURL, "--data-dir", t.TempDir()), "--app-url needs --database-url")
	// A wrong password is a connection error, on one line.
	bad := strings.Replace(tg.db.AppURL, "@", "x@", 1)
	wantFailure(t, cli(t, nil, "tenants", "list", "--database-url", tg.db.AdminURL, "--app-url", bad), "connect as the application role")
}

// TestEmbedded runs the commands the way an application embeds them: its own program name and
// its migrations compiled in, no --migrations flag.
func TestEmbedded(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	opts := &tenancycli.Options{
		ProgramName:      "taskboard",
		SharedMigrations: os.DirFS(migrationsDir + "/shared"),
		TenantMigrations: os.DirFS(migrationsDir + "/tenant"),
		Getenv:           func(string) string { return "" },
	}
	run := func(args ...string) result {
		var stdout, stderr bytes.Buffer
		args = append(args, "--database-url", tg.db.AdminURL, "--app-url", tg.db.AppURL)
		code := tenancycli.Run(context.Background(), args, nil, &stdout, &stderr, opts)
		return result{code, stdout.String(), stderr.String()}
	}
	if r := run("tenants", "create", "acme", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"version": 1`) {
		t.Fatalf("create with compiled-in migrations: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := run("tenants", "create", "acme"); r.code != 1 || r.stderr != "taskboard: tenant already exists: acme\n" {
		t.Fatalf("duplicate: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run("frob"); r.code != 2 || !strings.HasPrefix(r.stderr, "taskboard: unknown command \"frob\"") || !strings.Contains(r.stderr, "Run 'taskboard --help'") {
		t.Fatalf("unknown command: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run("help", "tenants"); r.code != 0 || !strings.Contains(r.stdout, "taskboard tenants") {
		t.Fatalf("help tenants: exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestListPages lists more tenants than one page holds. The rows are written straight into the
// catalog: only the paging of the listing is under test.
func TestListPages(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	const n = 2345
	if _, err := tg.db.OwnerPool.Exec(context.Background(), `
		INSERT INTO tenancy.tenants (slug, name, status, tier)
		SELECT 't' || lpad(g::text, 5, '0'), 'Tenant ' || g, 'active', 'schema' FROM generate_series(1, $1) g`, n); err != nil {
		t.Fatal(err)
	}
	slugs := func(args ...string) []string {
		t.Helper()
		var ts []struct{ Slug string }
		if err := json.Unmarshal([]byte(tg.ok(t, append([]string{"tenants", "list", "--json"}, args...)...)), &ts); err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(ts))
		for i, x := range ts {
			out[i] = x.Slug
		}
		return out
	}
	all := slugs()
	if len(all) != n || all[0] != "t00001" || all[n-1] != fmt.Sprintf("t%05d", n) || !sort.StringsAreSorted(all) {
		t.Fatalf("list --json: %d tenants, first %v", len(all), all[:min(3, len(all))])
	}
	for _, limit := range []int{1, 1000, 1001, 2000, n + 10} {
		got := slugs("--limit", fmt.Sprint(limit))
		if want := all[:min(limit, n)]; !reflect.DeepEqual(got, want) {
			t.Fatalf("--limit %d: %d tenants, want %d", limit, len(got), len(want))
		}
	}
	if lines := strings.Count(tg.ok(t, "tenants", "list"), "\n"); lines != n+1 {
		t.Fatalf("table: %d lines, want %d and a header", lines, n)
	}
}

// TestConnectionFromPGVariables names the owner with the libpq variables alone. Not parallel:
// it sets the process environment, which pgx reads.
func TestConnectionFromPGVariables(t *testing.T) {
	tg := newTarget(t)
	tg.ok(t, "tenants", "create", "acme")
	u, err := url.Parse(tg.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	env := map[string]string{
		"PGHOST": u.Hostname(), "PGPORT": u.Port(), "PGUSER": u.User.Username(), "PGPASSWORD": pw,
		"PGDATABASE": strings.TrimPrefix(u.Path, "/"), "PGSSLMODE": "disable",
		"TENANCY_APP_DATABASE_URL": tg.db.AppURL,
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	r := cli(t, env, "tenants", "list", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"slug": "acme"`) {
		t.Fatalf("with PG*: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
