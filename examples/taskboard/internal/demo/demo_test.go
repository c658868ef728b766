package demo

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store/shareddb"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// testAccounts makes users with a placeholder hash (nobody logs in here) and memberships, on the
// shared tables, and counts the users it made.
type testAccounts struct {
	q       *shareddb.Queries
	created int
}

func (a *testAccounts) CreateUser(ctx context.Context, email, name, _ string) (int64, error) {
	a.created++
	return a.q.CreateUser(ctx, shareddb.CreateUserParams{Email: email, Name: name, PasswordHash: "x"})
}

func (a *testAccounts) AddMember(ctx context.Context, userID, tenantID int64, role string) error {
	return a.q.AddMember(ctx, shareddb.AddMemberParams{UserID: userID, TenantID: tenantID, Role: role})
}

// TestSeedInEveryTier seeds the demo on a real database: one organisation per tier with its
// members, projects, tasks and comments, named after the shared users; a second run reuses
// everything and adds nothing, and brings a suspended organisation back.
func TestSeedInEveryTier(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(), ClientConfig: store.ConfigureClient})
	ctx := t.Context()
	acc := &testAccounts{q: shareddb.New(db.Client.AppPool())}
	res, err := Seed(ctx, db.Client, acc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Email != "demo@example.com" || acc.created != 4 {
		t.Fatalf("demo login %q, %d users made; want demo@example.com and 4", res.Email, acc.created)
	}
	want := map[string]struct {
		tier                tenancy.Tier
		members             []string
		projects, tasks     int
		assignee, commenter string // of the first project's first task (a commenter of it)
	}{
		"acme":    {tenancy.TierSchema, []string{"Alice Martin", "Bob Chen", "Dana Demo"}, 3, 9, "Alice Martin", "Alice Martin"},
		"globex":  {tenancy.TierPool, []string{"Bob Chen", "Carol Okafor", "Dana Demo"}, 2, 3, "Carol Okafor", "Dana Demo"},
		"initech": {tenancy.TierDatabase, []string{"Carol Okafor", "Dana Demo"}, 1, 2, "Carol Okafor", "Dana Demo"},
		"hooli":   {tenancy.TierSchema, []string{"Alice Martin", "Dana Demo"}, 1, 1, "Alice Martin", "Dana Demo"},
	}
	st := store.New(db.Client)
	all := store.Page{Limit: 100}
	for _, o := range res.Orgs {
		w, ok := want[o.Slug]
		if !ok || o.Tier != w.tier || !o.Created {
			t.Fatalf("organisation %+v; want one of %v, created, in its tier", o, want)
		}
		tn, err := db.Client.TenantGet(ctx, o.Slug)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := acc.q.Members(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range ms {
			names = append(names, m.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, w.members) {
			t.Errorf("%s: members %v, want %v", o.Slug, names, w.members)
		}
		tctx := tenancy.WithTenant(ctx, tn)
		ps, err := st.ListProjects(tctx, all)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := st.ListTasks(tctx, 0, "", all)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != w.projects || len(ts) != w.tasks {
			t.Fatalf("%s: %d projects and %d tasks, want %d and %d", o.Slug, len(ps), len(ts), w.projects, w.tasks)
		}
		first, err := st.ListTasks(tctx, ps[0].ID, "", store.Page{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		cs, err := st.CommentsOfTasks(tctx, []int64{first[0].ID}, all)
		if err != nil {
			t.Fatal(err)
		}
		var authors []string
		for _, c := range cs {
			authors = append(authors, c.AuthorName)
		}
		if first[0].AssigneeName != w.assignee || !slices.Contains(authors, w.commenter) {
			t.Errorf("%s: first task assigned to %q, commented by %v; want %q and a comment by %q", o.Slug, first[0].AssigneeName, authors, w.assignee, w.commenter)
		}
		// Settings are typed, in every tier: globex (a pool tenant) and hooli have an accent colour.
		wantSettings := store.OrgSettings{Plan: o.Plan, Accent: map[string]string{"globex": "teal", "hooli": "rose"}[o.Slug]}
		if got, err := tenancy.SettingsOf[store.OrgSettings](tn); err != nil || got != wantSettings || o.Accent != wantSettings.Accent {
			t.Errorf("%s: settings %+v (%v), reported accent %q; want %+v", o.Slug, got, err, o.Accent, wantSettings)
		}
	}

	// hooli is an agency, with its type's clients table; acme has its own column.
	for _, o := range res.Orgs {
		wantType := map[string]string{"hooli": migrations.TypeAgency}[o.Slug]
		if wantType == "" {
			wantType = tenancy.DefaultType
		}
		if o.Type != wantType || o.Customized != (o.Slug == "acme") {
			t.Errorf("%s: type %q, customized %v; want %q, %v", o.Slug, o.Type, o.Customized, wantType, o.Slug == "acme")
		}
	}
	hooli, err := db.Client.TenantGet(ctx, "hooli")
	if err != nil {
		t.Fatal(err)
	}
	clients, err := st.ListClients(tenancy.WithTenant(ctx, hooli), 10)
	if err != nil || len(clients) != 2 || clients[0].Name != "Pied Piper" {
		t.Errorf("hooli's clients: %+v, %v", clients, err)
	}
	acme, err := db.Client.TenantGet(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	actx := tenancy.WithTenant(ctx, acme)
	ps, err := st.ListProjects(actx, all)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		f, err := st.ProjectCustomFields(actx, p.ID)
		if err != nil || len(f) != 1 || f[0] != (store.CustomField{Name: "cost_centre", Value: demoCostCentres[p.Name]}) {
			t.Errorf("acme's %s: custom fields %+v, %v", p.Name, f, err)
		}
	}
	gctx := tenancy.WithTenant(ctx, mustGet(t, db.Client, "globex"))
	if _, err := st.ListClients(gctx, 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("globex (not an agency) listed clients: %v", err)
	}

	if _, err := db.Client.TenantSuspend(ctx, "globex"); err != nil {
		t.Fatal(err)
	}
	again, err := Seed(ctx, db.Client, acc)
	if err != nil {
		t.Fatal(err)
	}
	if acc.created != 4 {
		t.Errorf("the second run made %d more users", acc.created-4)
	}
	for _, o := range again.Orgs {
		if o.Created {
			t.Errorf("the second run made %s again", o.Slug)
		}
		tn, err := db.Client.TenantGet(ctx, o.Slug)
		if err != nil || tn.Status != tenancy.StatusActive {
			t.Errorf("%s after the second run: %+v, %v; want active", o.Slug, tn, err)
			continue
		}
		ps, err := st.ListProjects(tenancy.WithTenant(ctx, tn), all)
		if err != nil || len(ps) != want[o.Slug].projects {
			t.Errorf("%s after the second run: %d projects, %v", o.Slug, len(ps), err)
		}
	}
}

func mustGet(t *testing.T, c *tenancy.Client, slug string) *tenancy.Tenant {
	t.Helper()
	tn, err := c.TenantGet(t.Context(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}
