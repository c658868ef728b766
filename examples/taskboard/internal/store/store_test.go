package store

import (
	"context"
	"errors"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
	"github.com/tenancy-go/tenancy/tenancytest"
)

var tiers = []tenancy.Tier{tenancy.TierSchema, tenancy.TierPool, tenancy.TierDatabase}

// storeEnv is a fresh database (the store runs as the application role) with two organisations
// in one tier, acme and globex, and one user, a member of acme only.
type storeEnv struct {
	st            *Store
	acme, globex  context.Context
	ann, outsider int64
}

func newStoreEnv(t *testing.T, tier tenancy.Tier) *storeEnv {
	t.Helper()
	// Without the organisations' own migrations: acme goes to the pool tier here.
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(),
		ClientConfig: func(c *tenancy.Config) { ConfigureClient(c); c.CustomMigrations = nil }})
	ctx := t.Context()
	e := &storeEnv{st: New(db.Client)}
	for _, x := range []struct {
		slug string
		ctx  *context.Context
	}{{"acme", &e.acme}, {"globex", &e.globex}} {
		tn, err := db.Client.TenantCreate(ctx, x.slug, &tenancy.TenantCreateOpts{Tier: tier})
		if err != nil {
			t.Fatal(err)
		}
		*x.ctx = tenancy.WithTenant(ctx, tn)
	}
	for _, u := range []struct {
		email string
		id    *int64
	}{{"ann@example.com", &e.ann}, {"oscar@example.com", &e.outsider}} {
		if err := db.AppPool.QueryRow(ctx, `INSERT INTO users (email, name, password_hash) VALUES ($1, $1, 'x') RETURNING id`,
			u.email).Scan(u.id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.AppPool.Exec(ctx, `INSERT INTO memberships (user_id, tenant_id, role) VALUES ($1, $2, 'member')`,
		e.ann, tenancy.MustFromContext(e.acme).ID); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestStoreWritesAndReads: in every tier, the generated queries write and read a project, a task
// and a comment through the tenancy client and its transactions, with the people's names from
// the shared tables, and the activity feed records each change.
func TestStoreWritesAndReads(t *testing.T) {
	t.Parallel()
	for _, tier := range tiers {
		t.Run(string(tier), func(t *testing.T) {
			t.Parallel()
			e := newStoreEnv(t, tier)
			ctx := e.acme
			p, err := e.st.CreateProject(ctx, e.ann, "Roadmap", "Next year")
			if err != nil {
				t.Fatal(err)
			}
			title, status, due := "Draft it", "doing", "2027-03-01"
			task, err := e.st.CreateTask(ctx, e.ann, p.ID, TaskInput{Title: &title, Status: &status, AssigneeID: &e.ann, DueDate: &due})
			if err != nil {
				t.Fatal(err)
			}
			if task.Status != "doing" || task.AssigneeName != "ann@example.com" || task.DueDate == nil || *task.DueDate != due {
				t.Errorf("created task %+v", task)
			}
			clear := ""
			if task, err = e.st.UpdateTask(ctx, e.ann, task.ID, TaskInput{DueDate: &clear}); err != nil || task.DueDate != nil || task.Status != "doing" {
				t.Errorf("update clearing the due date: %+v, %v", task, err)
			}
			if _, err := e.st.CreateComment(ctx, 0, task.ID, "By API"); err != nil {
				t.Fatal(err)
			}
			got, err := e.st.GetProject(ctx, p.ID)
			if err != nil || got.Name != "Roadmap" || got.TaskCount != 1 || got.OpenCount != 1 {
				t.Errorf("project %+v, %v", got, err)
			}
			cs, err := e.st.ListComments(ctx, task.ID, Page{Limit: 10})
			if err != nil || len(cs) != 1 || cs[0].AuthorID != nil {
				t.Errorf("comments %+v, %v", cs, err)
			}
			as, err := e.st.RecentActivity(ctx, 10)
			if err != nil || len(as) != 4 || as[0].UserName != "API" || as[3].UserName != "ann@example.com" {
				t.Errorf("activity %+v, %v", as, err)
			}
		})
	}
}

// TestStoreRefuses: bad input is an InvalidError and writes nothing; an assignee who is not a
// member is refused; the free plan's fourth project is a LimitError.
func TestStoreRefuses(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t, tenancy.TierSchema)
	ctx := e.acme
	var inv *InvalidError
	if _, err := e.st.CreateProject(ctx, e.ann, "bad\x00name", ""); !errors.As(err, &inv) {
		t.Errorf("NUL in a name: %v, want an InvalidError", err)
	}
	p, err := e.st.CreateProject(ctx, e.ann, "One", "")
	if err != nil {
		t.Fatal(err)
	}
	title := "Spy"
	if _, err := e.st.CreateTask(ctx, e.ann, p.ID, TaskInput{Title: &title, AssigneeID: &e.outsider}); !errors.As(err, &inv) {
		t.Errorf("assignee who is not a member: %v, want an InvalidError", err)
	}
	for _, n := range []string{"Two", "Three"} {
		if _, err := e.st.CreateProject(ctx, e.ann, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	var lim *LimitError
	if _, err := e.st.CreateProject(ctx, e.ann, "Four", ""); !errors.As(err, &lim) {
		t.Errorf("fourth project on the free plan: %v, want a LimitError", err)
	}
	if ps, err := e.st.ListProjects(ctx, Page{Limit: 10}); err != nil || len(ps) != 3 {
		t.Errorf("%d projects (%v), want 3", len(ps), err)
	}
}

// TestStoreIsolation: in every tier, one organisation's rows are not found through another's
// binding, and a user id in its rows gets no name there.
func TestStoreIsolation(t *testing.T) {
	t.Parallel()
	for _, tier := range tiers {
		t.Run(string(tier), func(t *testing.T) {
			t.Parallel()
			e := newStoreEnv(t, tier)
			p, err := e.st.CreateProject(e.acme, e.ann, "Secret", "")
			if err != nil {
				t.Fatal(err)
			}
			tok, err := e.st.CreateAPIToken(e.acme, e.ann, "ci")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.st.GetProject(e.globex, p.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("acme's project through globex: %v, want ErrNotFound", err)
			}
			if ps, err := e.st.ListProjects(e.globex, Page{Limit: 10}); err != nil || len(ps) != 0 {
				t.Errorf("globex lists %d projects (%v)", len(ps), err)
			}
			if err := e.st.DeleteProject(e.globex, e.ann, p.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("delete acme's project through globex: %v, want ErrNotFound", err)
			}
			if ok, err := e.st.CheckAPIToken(e.globex, tok); ok || err != nil {
				t.Errorf("acme's token on globex: %v, %v", ok, err)
			}
			if err := e.st.RevokeAPITokens(e.globex, "ci"); err != nil {
				t.Fatal(err)
			}
			if ok, err := e.st.CheckAPIToken(e.acme, tok); !ok || err != nil {
				t.Errorf("acme's token on acme, after globex revoked its own named the same: %v, %v", ok, err)
			}
			if err := e.st.RevokeAPITokens(e.acme, "ci"); err != nil {
				t.Fatal(err)
			}
			if ok, err := e.st.CheckAPIToken(e.acme, tok); ok || err != nil {
				t.Errorf("acme's token after revoking it: %v, %v", ok, err)
			}
			// Ann is no member of globex: her id in globex's rows shows no name.
			gp, err := e.st.CreateProject(e.globex, 0, "Theirs", "")
			if err != nil {
				t.Fatal(err)
			}
			title := "Ann's?"
			gt, err := e.st.CreateTask(e.globex, 0, gp.ID, TaskInput{Title: &title})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.st.CreateComment(e.globex, e.ann, gt.ID, "from a restored archive"); err != nil {
				t.Fatal(err)
			}
			cs, err := e.st.ListComments(e.globex, 0, Page{Limit: 10})
			if err != nil || len(cs) != 1 || cs[0].AuthorName != "former user" {
				t.Errorf("globex comment by a non-member: %+v, %v", cs, err)
			}
		})
	}
}
