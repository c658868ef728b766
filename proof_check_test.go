package tenancy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancycli"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// mustCheck runs Check and fails the test on an error.
func mustCheck(t testing.TB, c *tenancy.Client) *tenancy.CheckResult {
	t.Helper()
	res, err := c.Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}

// assertAgree fails the test with Check's report unless the catalog and the placements agree.
func assertAgree(t testing.TB, c *tenancy.Client) {
	t.Helper()
	if res := mustCheck(t, c); !res.OK() {
		for _, p := range res.Problems {
			t.Errorf("check: %s", p)
		}
		t.FailNow()
	}
}

// runCheckCLI runs `tenancy check [--json]` against db.
func runCheckCLI(db *tenancytest.DB, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	args = append([]string{"check", "--database-url", db.AdminURL, "--app-url", db.AppURL}, args...)
	code := tenancycli.Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr,
		&tenancycli.Options{Getenv: func(string) string { return "" }})
	return code, stdout.String(), stderr.String()
}

// TestProofCheck: Check (and `tenancy check`) passes on a healthy fleet of every tier and names
// each tenant damaged by hand, with what is wrong.
func TestProofCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 2)
	c := db.Client
	var ts []*tenancy.Tenant
	for _, s := range []struct {
		slug string
		tier tenancy.Tier
	}{
		{"pool-a", tenancy.TierPool}, {"pool-b", tenancy.TierPool}, {"dropped", tenancy.TierSchema},
		{"skewed", tenancy.TierSchema}, {"unforced", tenancy.TierSchema}, {"ungranted", tenancy.TierSchema},
		{"fine", tenancy.TierSchema}, {"gone-db", tenancy.TierDatabase}, {"db-fine", tenancy.TierDatabase},
		{"db-skewed", tenancy.TierDatabase},
	} {
		tn := mustCreateTier(t, c, s.slug, s.tier)
		addNotes(t, c, tn, "n")
		ts = append(ts, tn)
	}
	assertAgree(t, c)
	if code, out, errOut := runCheckCLI(db); code != 0 || !strings.Contains(out, "ok: 10 tenants") {
		t.Fatalf("tenancy check on a healthy fleet: exit %d, %q %q", code, out, errOut)
	}

	// A crash left one in provisioning.
	crashed := crashAt(db, "migrated")
	if _, err := c.TenantCreate(ctx, "half", nil); err == nil || !crashed.Load() {
		t.Fatalf("TenantCreate = %v, want the simulated crash", err)
	}
	tenancy.SetTestHook(c, nil)
	byslug := map[string]*tenancy.Tenant{}
	for _, tn := range ts {
		byslug[tn.Slug] = tn
	}
	owner := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.OwnerPool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	q := func(slug string) string { return pgx.Identifier{byslug[slug].Placement.Schema, "notes"}.Sanitize() }
	owner(`DROP SCHEMA ` + pgx.Identifier{byslug["dropped"].Placement.Schema}.Sanitize() + ` CASCADE`)
	owner(`UPDATE tenancy.placements SET version = 7 WHERE id = $1`, byslug["skewed"].Placement.ID)
	owner(`ALTER TABLE ` + q("unforced") + ` NO FORCE ROW LEVEL SECURITY`)
	owner(`REVOKE ALL ON ` + q("ungranted") + ` FROM ` + tenancytest.AppRole)
	owner(`CREATE SCHEMA stray; COMMENT ON SCHEMA stray IS 'tenancy:tenant:999999'`)
	owner(`ALTER TABLE ` + pgx.Identifier{byslug["pool-a"].Placement.Schema, "notes"}.Sanitize() + ` ADD COLUMN extra int`)
	if _, err := db.Server.SuperPool().Exec(ctx, `DROP DATABASE `+pgx.Identifier{byslug["gone-db"].Placement.Database}.Sanitize()+` WITH (FORCE)`); err != nil {
		t.Fatal(err)
	}
	dbConn, err := pgx.Connect(ctx, db.Server.URL(tenancytest.OwnerRole, byslug["db-skewed"].Placement.Database))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dbConn.Exec(ctx, `DROP TABLE tenant.notes`); err != nil {
		t.Fatal(err)
	}
	dbConn.Close(ctx)

	res := mustCheck(t, c)
	want := map[string]string{
		"half":      tenancy.ProblemStuck,
		"dropped":   tenancy.ProblemNoPlacement,
		"skewed":    tenancy.ProblemLedger,
		"unforced":  tenancy.ProblemRLS,
		"ungranted": tenancy.ProblemGrants,
		"pool-a":    tenancy.ProblemShape, // the pool's damage is each of its tenants'
		"pool-b":    tenancy.ProblemShape,
		"gone-db":   tenancy.ProblemNoPlacement,
		"db-skewed": tenancy.ProblemShape,
		"":          tenancy.ProblemOrphan,
	}
	got := map[string][]string{}
	for _, p := range res.Problems {
		got[p.Tenant] = append(got[p.Tenant], p.Problem)
		t.Logf("%s", p)
	}
	for slug, problem := range want {
		if !slices.Contains(got[slug], problem) {
			t.Errorf("%q: problems %q, want %s", slug, got[slug], problem)
		}
	}
	for slug := range got {
		if _, ok := want[slug]; !ok {
			t.Errorf("%q reported (%q) but not damaged", slug, got[slug])
		}
	}
	wantDamaged := []string{"dropped", "gone-db", "half", "db-skewed", "pool-a", "pool-b", "skewed", "unforced", "ungranted"}
	slices.Sort(wantDamaged)
	if d := res.Damaged(); !slices.Equal(d, wantDamaged) {
		t.Errorf("Damaged() = %q, want %q", d, wantDamaged)
	}

	// The command line: exit 1, one line per problem, the damaged tenants named on stderr.
	code, out, errOut := runCheckCLI(db)
	if code != 1 || !strings.Contains(errOut, "dropped") || !strings.Contains(out, "half: stuck") {
		t.Errorf("tenancy check on a damaged fleet: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, _ = runCheckCLI(db, "--json")
	var js tenancy.CheckResult
	if err := json.Unmarshal([]byte(out), &js); code != 1 || err != nil || len(js.Problems) != len(res.Problems) {
		t.Errorf("tenancy check --json: exit %d, %v, %d problems; want 1 and %d problems", code, err, len(js.Problems), len(res.Problems))
	}

	// Repair finishes the stuck tenant; the rest needs a person.
	if _, err := c.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range mustCheck(t, c).Problems {
		if p.Tenant == "half" {
			t.Errorf("after repair: %s", p)
		}
	}
}
