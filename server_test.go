package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestServerPasswords: the catalog never keeps a server's password. ServerAdd refuses a URL that
// carries one, saying where to put it instead; a server added without one is reached with the
// password from a password file (passfile=, PGPASSFILE), the environment
// (TENANCY_SERVER_<NAME>_PASSWORD) or Config.ServerPassword; a row left with a password by an
// older release still works; no listing or error shows a password. Not parallel: it sets
// environment variables.
func TestServerPasswords(t *testing.T) {
	db := newDB(t, 2)
	ctx := context.Background()
	ownerFile, appFile := db.SecondServer(t) // password-less URLs naming a password file
	passfile, pw := passwords(t, ownerFile)
	bareOwner, bareApp := without(t, ownerFile, "passfile"), without(t, appFile, "passfile")
	withPW := func(raw, role string) string {
		u, _ := url.Parse(raw)
		u.User = url.UserPassword(u.User.Username(), pw[role])
		return u.String()
	}
	ownerPW, appPW := withPW(bareOwner, tenancytest.OwnerRole), withPW(bareApp, tenancytest.AppRole)
	secrets := []string{pw[tenancytest.OwnerRole], pw[tenancytest.AppRole]}
	noSecret := func(what, s string) {
		t.Helper()
		for _, p := range secrets {
			if strings.Contains(s, p) {
				t.Fatalf("%s shows a password: %s", what, s)
			}
		}
	}

	// Refused: a password in the owner URL, the application URL, a query or keyword/value form.
	u, _ := url.Parse(bareOwner)
	kv := fmt.Sprintf("host=%s port=%s dbname=%s user=%s password=%s", u.Hostname(), u.Port(), strings.TrimPrefix(u.Path, "/"), tenancytest.OwnerRole, pw[tenancytest.OwnerRole])
	for _, urls := range [][2]string{{ownerPW, bareApp}, {bareOwner, appPW}, {bareOwner + "&password=" + pw[tenancytest.OwnerRole], bareApp}, {kv, bareApp}} {
		_, err := db.Client.ServerAdd(ctx, "refused", urls[0], urls[1])
		if !errors.Is(err, tenancy.ErrInvalidServer) || !strings.Contains(err.Error(), "TENANCY_SERVER_REFUSED_") {
			t.Fatalf("ServerAdd with a password: %v, want ErrInvalidServer naming the variable", err)
		}
		noSecret("the refusal", err.Error())
	}

	// A URL that cannot be parsed is refused without being echoed.
	if _, err := db.Client.ServerAdd(ctx, "bad", "postgres://"+tenancytest.OwnerRole+":"+pw[tenancytest.OwnerRole]+"@host:port/db", bareApp); !errors.Is(err, tenancy.ErrInvalidServer) {
		t.Fatalf("ServerAdd with an unparsable URL: %v", err)
	} else {
		noSecret("the refusal of an unparsable URL", err.Error())
	}

	// Without any source the connection fails, and says so without a password.
	if _, err := db.Client.ServerAdd(ctx, "nopw", bareOwner, bareApp); !errors.Is(err, tenancy.ErrInvalidServer) {
		t.Fatalf("ServerAdd with no password anywhere: %v", err)
	}

	// Each source, used to add the server, place a tenant there and bind a query to it.
	use := func(c *tenancy.Client, server, owner, app string) {
		t.Helper()
		if _, err := c.ServerAdd(ctx, server, owner, app); err != nil {
			t.Fatalf("ServerAdd %s: %v", server, err)
		}
		tn, err := c.TenantCreate(ctx, "on-"+server, &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema, Server: server})
		if err != nil {
			t.Fatalf("create a tenant on %s: %v", server, err)
		}
		var n int
		if err := c.QueryRow(tenancy.WithTenant(ctx, tn), `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			t.Fatalf("bound query on %s: %v", server, err)
		}
	}
	use(db.Client, "passfile", ownerFile, appFile)
	t.Setenv("TENANCY_SERVER_VIA_ENV_PASSWORD", pw[tenancytest.OwnerRole])
	t.Setenv("TENANCY_SERVER_VIA_ENV_APP_PASSWORD", pw[tenancytest.AppRole])
	use(db.Client, "via-env", bareOwner, bareApp)
	hooked, err := tenancy.New(&tenancy.Config{
		AppPool: db.AppPool, OwnerPool: db.OwnerPool,
		SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations,
		ServerPassword: func(server string, app bool) string {
			if server != "hook" {
				return ""
			}
			if app {
				return pw[tenancytest.AppRole]
			}
			return pw[tenancytest.OwnerRole]
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer hooked.Close()
	use(hooked, "hook", bareOwner, bareApp)
	t.Setenv("PGPASSFILE", passfile)
	use(db.Client, "pgpassfile", bareOwner, bareApp)
	os.Unsetenv("PGPASSFILE")

	// A row with passwords, as an older release wrote it, still works and is listed redacted.
	if _, err := db.OwnerPool.Exec(ctx, `INSERT INTO tenancy.servers (name, url, app_url) VALUES ('legacy', $1, $2), ('legacy-kv', $3, $2)`, ownerPW, appPW, kv); err != nil {
		t.Fatal(err)
	}
	tn, err := db.Client.TenantCreate(ctx, "on-legacy", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema, Server: "legacy"})
	if err != nil {
		t.Fatalf("create a tenant on a server recorded with passwords: %v", err)
	}
	if err := db.Client.QueryRow(tenancy.WithTenant(ctx, tn), `SELECT 1 FROM notes`).Scan(new(int)); err != nil && !strings.Contains(err.Error(), "no rows") {
		t.Fatal(err)
	}

	var stored string
	if err := db.OwnerPool.QueryRow(ctx, `SELECT string_agg(url || ' ' || app_url, ' ') FROM tenancy.servers WHERE name NOT LIKE 'legacy%'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	noSecret("the catalog", stored)
	list, err := db.Client.ServerList(ctx)
	if err != nil || len(list) != 6 {
		t.Fatalf("ServerList: %v, %v", list, err)
	}
	noSecret("ServerList", fmt.Sprint(list))
}

// passwords reads the password file named by raw's passfile parameter: its path, and the
// password of each role.
func passwords(t *testing.T, raw string) (string, map[string]string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	file := u.Query().Get("passfile")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, ":")
		pw[f[3]] = f[4]
	}
	return file, pw
}

// without returns raw without the query parameter key.
func without(t *testing.T, raw, key string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del(key)
	u.RawQuery = q.Encode()
	return u.String()
}
