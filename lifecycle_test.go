package tenancy_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// catalogCounts fingerprints everything a refused call must leave alone.
func catalogCounts(t *testing.T, db *tenancytest.DB) [4]int {
	t.Helper()
	var c [4]int
	err := db.OwnerPool.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM tenancy.tenants), (SELECT count(*) FROM tenancy.placements),
		       (SELECT count(*) FROM tenancy.domains), (SELECT count(*) FROM pg_namespace)`).Scan(&c[0], &c[1], &c[2], &c[3])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSlugsRefused: malformed, reserved and duplicate slugs are refused with the right error,
// by create and by rename, and change nothing.
func TestSlugsRefused(t *testing.T) {
	t.Parallel()
	db := newDB(t, 1)
	ctx := context.Background()
	acme := mustCreate(t, db.Client, "acme")
	mustCreate(t, db.Client, "globex")
	before := catalogCounts(t, db)

	invalid := []string{
		"", "a", "Acme", "ACME", "1acme", "9", "acme-", "-acme", "acme_corp", "acme corp", "acme.corp",
		`acme"`, `"acme"`, "a'b", "acme'; DROP SCHEMA tenancy CASCADE; --", "acme;drop", "acme\x00",
		"acme\n", "ácme", "\u0430cme" /* Cyrillic a */, "acme\u200b", "日本", "acme/../x",
		strings.Repeat("a", 64), strings.Repeat("a", 100000),
	}
	reserved := []string{
		"public", "www", "admin", "api", "tenancy", "information-schema", "postgres", "template1",
		"pg-x", "pg-catalog", "tenancy-shape", "xn--acme", "xn--bcher-kva", "a--b",
	}
	check := func(slug string, want error) {
		t.Helper()
		if err := tenancy.ValidateSlug(slug); !errors.Is(err, want) {
			t.Errorf("ValidateSlug(%.40q) = %v, want %v", slug, err, want)
		}
		if _, err := db.Client.TenantCreate(ctx, slug, nil); !errors.Is(err, want) {
			t.Errorf("TenantCreate(%.40q) = %v, want %v", slug, err, want)
		}
		if _, err := db.Client.TenantRename(ctx, "acme", slug); !errors.Is(err, want) {
			t.Errorf("TenantRename(acme, %.40q) = %v, want %v", slug, err, want)
		}
	}
	for _, s := range invalid {
		check(s, tenancy.ErrInvalidSlug)
	}
	for _, s := range reserved {
		check(s, tenancy.ErrReservedSlug)
	}
	if _, err := db.Client.TenantRename(ctx, "acme", "globex"); !errors.Is(err, tenancy.ErrTenantExists) {
		t.Errorf("rename onto another tenant: %v, want ErrTenantExists", err)
	}
	if _, err := db.Client.TenantCreate(ctx, "acme", &tenancy.TenantCreateOpts{Name: "Other"}); !errors.Is(err, tenancy.ErrTenantExists) {
		t.Errorf("duplicate create: %v, want ErrTenantExists", err)
	}
	if after := catalogCounts(t, db); after != before {
		t.Errorf("refused slugs changed the catalog: %v -> %v (tenants, placements, domains, schemas)", before, after)
	}
	if got, err := db.Client.TenantGet(ctx, "acme"); err != nil || got.ID != acme.ID || got.Name != "acme" {
		t.Errorf("acme after refusals: %+v, %v", got, err)
	}

	// The edges of the rule are accepted.
	for _, s := range []string{"ab", "a1", "a-b", strings.Repeat("a", 63), "x" + strings.Repeat("9", 62), "pgx", "www2"} {
		if err := tenancy.ValidateSlug(s); err != nil {
			t.Errorf("ValidateSlug(%q) = %v, want nil", s, err)
		}
	}
	mustCreate(t, db.Client, strings.Repeat("z", 63))
}

// TestLifecycle: suspend, resume, rename, soft delete and resume, hard delete.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	db := newDB(t, 2)
	c := db.Client
	ctx := context.Background()
	tn, err := c.TenantCreate(ctx, "acme", &tenancy.TenantCreateOpts{Name: "Acme Inc.", Settings: []byte(`{"plan":"pro"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if tn.Name != "Acme Inc." || tn.Tier != tenancy.TierSchema || tn.Placement.Schema == "" || string(tn.Settings) != `{"plan": "pro"}` {
		t.Fatalf("created %+v (settings %s)", tn, tn.Settings)
	}
	if _, err := c.TenantCreate(ctx, "bad-settings", &tenancy.TenantCreateOpts{Settings: []byte(`[1]`)}); err == nil {
		t.Error("settings that are not a JSON object were accepted")
	}
	addNotes(t, c, tn, "n1")

	status := func(slug string, want tenancy.Status) *tenancy.Tenant {
		t.Helper()
		got, err := c.TenantGet(ctx, slug)
		if err != nil || got.Status != want {
			t.Fatalf("%s: %+v, %v; want status %s", slug, got, err, want)
		}
		return got
	}

	if _, err := c.TenantSuspend(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if status("acme", tenancy.StatusSuspended).Servable() {
		t.Error("a suspended tenant is servable")
	}
	if _, err := c.TenantSuspend(ctx, "acme"); err != nil {
		t.Errorf("suspending twice: %v", err)
	}
	if _, err := c.TenantResume(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	status("acme", tenancy.StatusActive)
	if _, err := c.TenantSuspend(ctx, "nobody"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Errorf("suspend unknown: %v, want ErrTenantNotFound", err)
	}

	renamed, err := c.TenantRename(ctx, "acme", "acme-corp")
	if err != nil {
		t.Fatal(err)
	}
	if renamed.ID != tn.ID || renamed.Placement != tn.Placement {
		t.Fatalf("rename moved the tenant: %+v", renamed)
	}
	if _, err := c.TenantGet(ctx, "acme"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Errorf("old slug after rename: %v, want ErrTenantNotFound", err)
	}
	if got := bodies(t, c, renamed); !slices.Equal(got, []string{"n1"}) {
		t.Errorf("renamed tenant sees %q, want [n1]", got)
	}
	if _, err := c.TenantRename(ctx, "nobody", "somebody"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Errorf("rename unknown: %v, want ErrTenantNotFound", err)
	}

	if err := c.TenantDelete(ctx, "acme-corp", nil); err != nil {
		t.Fatal(err)
	}
	deleted := status("acme-corp", tenancy.StatusDeleted)
	var n int
	if err := c.QueryRow(tenancy.WithTenant(ctx, deleted), `SELECT count(*) FROM notes`).Scan(&n); !errors.Is(err, tenancy.ErrTenantNotActive) {
		t.Errorf("binding a soft-deleted tenant: %v, want ErrTenantNotActive", err)
	}
	if _, err := c.TenantResume(ctx, "acme-corp"); err != nil {
		t.Fatal(err)
	}
	if got := bodies(t, c, status("acme-corp", tenancy.StatusActive)); !slices.Equal(got, []string{"n1"}) {
		t.Errorf("resumed tenant sees %q, want its rows back", got)
	}

	if err := c.TenantDelete(ctx, "acme-corp", &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TenantGet(ctx, "acme-corp"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Errorf("after hard delete: %v, want ErrTenantNotFound", err)
	}
	if st := readPlacement(t, db, "acme-corp", tn.Placement.Schema); st.schemaFound || st.placements != 0 || st.ledgerRows != 0 {
		t.Errorf("hard delete left %+v", st)
	}
	// A stale copy of the tenant binds to a schema that is gone: nothing is read from elsewhere.
	if err := c.QueryRow(tenancy.WithTenant(ctx, renamed), `SELECT count(*) FROM notes`).Scan(&n); err == nil {
		t.Errorf("a stale tenant read %d rows after its schema was dropped", n)
	}
	if err := c.TenantDelete(ctx, "acme-corp", &tenancy.TenantDeleteOpts{Hard: true}); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Errorf("deleting twice: %v, want ErrTenantNotFound", err)
	}
}

// TestListPages: TenantList pages by slug and filters by status.
func TestListPages(t *testing.T) {
	t.Parallel()
	db := newDB(t, 1)
	ctx := context.Background()
	for _, s := range []string{"delta", "alpha", "charlie", "bravo", "echo"} {
		mustCreate(t, db.Client, s)
	}
	if _, err := db.Client.TenantSuspend(ctx, "charlie"); err != nil {
		t.Fatal(err)
	}
	var got []string
	after := ""
	for {
		page, err := db.Client.TenantList(ctx, &tenancy.TenantListOpts{After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, tn := range page {
			got = append(got, tn.Slug)
		}
		after = page[len(page)-1].Slug
	}
	if want := []string{"alpha", "bravo", "charlie", "delta", "echo"}; !slices.Equal(got, want) {
		t.Errorf("pages: %q, want %q", got, want)
	}
	susp, err := db.Client.TenantList(ctx, &tenancy.TenantListOpts{Status: tenancy.StatusSuspended})
	if err != nil || len(susp) != 1 || susp[0].Slug != "charlie" {
		t.Errorf("suspended: %v, %v; want [charlie]", susp, err)
	}
}

// TestDomains: add, list, look up by any spelling, move the primary, remove; bad hosts refused.
func TestDomains(t *testing.T) {
	t.Parallel()
	db := newDB(t, 1)
	c := db.Client
	ctx := context.Background()
	acme, globex := mustCreate(t, c, "acme"), mustCreate(t, c, "globex")

	d, err := c.DomainAdd(ctx, "acme", "Acme.Example.COM.", nil)
	if err != nil || d.Host != "acme.example.com" || !d.Primary {
		t.Fatalf("first domain: %+v, %v; want acme.example.com, primary", d, err)
	}
	if d, err := c.DomainAdd(ctx, "acme", "acme.test", nil); err != nil || d.Primary {
		t.Fatalf("second domain: %+v, %v; want not primary", d, err)
	}
	if d, err := c.DomainAdd(ctx, "acme", "bücher.example", nil); err != nil || d.Host != "xn--bcher-kva.example" {
		t.Fatalf("IDN domain: %+v, %v; want xn--bcher-kva.example", d, err)
	}
	if _, err := c.DomainAdd(ctx, "globex", "ACME.example.com", nil); !errors.Is(err, tenancy.ErrDomainExists) {
		t.Errorf("taking another tenant's domain: %v, want ErrDomainExists", err)
	}
	if _, err := c.DomainAdd(ctx, "nobody", "nobody.test", nil); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Errorf("domain for unknown tenant: %v, want ErrTenantNotFound", err)
	}
	for _, host := range []string{"acme.example.com", "ACME.EXAMPLE.COM", "acme.example.com.", "acme.example.com:8443", "BÜCHER.example", "xn--bcher-kva.example"} {
		got, err := c.TenantGetByDomain(ctx, host)
		if err != nil || got.ID != acme.ID {
			t.Errorf("TenantGetByDomain(%q) = %+v, %v; want acme", host, got, err)
		}
	}
	if _, err := c.TenantGetByDomain(ctx, "globex.example.com"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Errorf("unknown domain: %v, want ErrTenantNotFound", err)
	}

	// Moving the primary.
	if _, err := c.DomainAdd(ctx, "acme", "www.acme.test", &tenancy.DomainAddOpts{Primary: true}); err != nil {
		t.Fatal(err)
	}
	list, err := c.DomainList(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	primaries := 0
	for _, d := range list {
		hosts = append(hosts, d.Host)
		if d.Primary {
			primaries++
		}
	}
	if want := []string{"www.acme.test", "acme.example.com", "acme.test", "xn--bcher-kva.example"}; !slices.Equal(hosts, want) || primaries != 1 {
		t.Errorf("DomainList = %q with %d primaries, want %q with one", hosts, primaries, want)
	}
	if got, _ := c.TenantGet(ctx, "acme"); got == nil || len(got.Domains) != 4 || got.Domains[0] != "www.acme.test" {
		t.Errorf("Tenant.Domains = %v, want the primary first", got)
	}
	if err := c.DomainRemove(ctx, "WWW.acme.test."); err != nil {
		t.Fatal(err)
	}
	if list, _ := c.DomainList(ctx, "acme"); len(list) != 3 || !list[0].Primary {
		t.Errorf("after removing the primary: %+v, want another domain promoted", list)
	}
	if err := c.DomainRemove(ctx, "www.acme.test"); !errors.Is(err, tenancy.ErrDomainNotFound) {
		t.Errorf("removing twice: %v, want ErrDomainNotFound", err)
	}
	if _, err := c.DomainList(ctx, "nobody"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Errorf("DomainList(unknown): %v, want ErrTenantNotFound", err)
	}
	if all, err := c.DomainList(ctx, ""); err != nil || len(all) != 3 {
		t.Errorf("DomainList(all) = %v, %v; want 3", all, err)
	}
	_ = globex

	before := catalogCounts(t, db)
	for _, host := range []string{
		"", ".", "exa mple.com", "a..b.com", "-a.com", "a-.com", "a.com:80", "a'b.com", "a;b.com",
		"a_b.com", "1.2.3.4", "[::1]", "a/b.com", "a\x00.com", strings.Repeat("a", 64) + ".com",
		strings.Repeat("abcdefghi.", 30) + "com", "user@a.com",
	} {
		if _, err := c.DomainAdd(ctx, "acme", host, nil); !errors.Is(err, tenancy.ErrInvalidHost) {
			t.Errorf("DomainAdd(%q) = %v, want ErrInvalidHost", host, err)
		}
		if err := c.DomainRemove(ctx, host); !errors.Is(err, tenancy.ErrInvalidHost) {
			t.Errorf("DomainRemove(%q) = %v, want ErrInvalidHost", host, err)
		}
	}
	if after := catalogCounts(t, db); after != before {
		t.Errorf("invalid hosts changed the catalog: %v -> %v", before, after)
	}
}
