// Package demo seeds taskboard's demo data: three organisations, one in each tier (acme in a
// schema of its own, globex in the shared pool, initech in a database of its own), people who
// belong to several of them, and projects, tasks and comments. Seeding is idempotent: an
// organisation that exists already is kept as it is, so a second `taskboard demo` starts at once.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store/shareddb"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
)

// Password is the password of every demo user.
const Password = "demo1234"

// Accounts is how the application makes people and memberships, with its own rules (password
// hashing, say). The demo finds existing users itself.
type Accounts interface {
	CreateUser(ctx context.Context, email, name, password string) (int64, error)
	AddMember(ctx context.Context, userID, tenantID int64, role string) error
}

// Org describes one demo organisation.
type Org struct {
	Slug, Name, Plan string
	Accent           string       // its settings' accent colour ("" for the default)
	Type             string       // its type: tenancy.DefaultType, or migrations.TypeAgency
	Customized       bool         // it has migrations of its own (migrations/custom/<slug>)
	Tier             tenancy.Tier // the tier it got (the wanted one, or schema where not offered yet)
	Created          bool         // created now (false: reused)
}

// Result says what Seed made or found.
type Result struct {
	Orgs  []Org
	Email string // the demo login, member of every demo organisation
}

type demoUser struct{ email, name string }

var demoUsers = []demoUser{
	{"demo@example.com", "Dana Demo"}, {"alice@example.com", "Alice Martin"},
	{"bob@example.com", "Bob Chen"}, {"carol@example.com", "Carol Okafor"},
}

type demoTask struct {
	title, status, assignee string // assignee: an email or ""
	due                     int    // days from today; 0: none
	comments                []string
}

type demoProject struct {
	name, description string
	tasks             []demoTask
}

var demoOrgs = []struct {
	slug, name string
	settings   store.OrgSettings // its catalog settings (tenancy.Tenant.Settings)
	tier       tenancy.Tier
	members    []string
	projects   []demoProject
}{
	{"acme", "Acme Corp", store.OrgSettings{Plan: "enterprise"}, tenancy.TierSchema,
		[]string{"demo@example.com", "alice@example.com", "bob@example.com"},
		[]demoProject{
			{"Website relaunch", "New marketing site before the autumn campaign", []demoTask{
				{"Design the new homepage", "doing", "alice@example.com", 5, []string{"First mock-ups are in the shared folder.", "Looks great, let's go with option B."}},
				{"Migrate blog posts", "todo", "bob@example.com", 12, nil},
				{"Set up analytics", "done", "demo@example.com", 0, []string{"Done, dashboards shared with marketing."}},
				{"Accessibility audit", "todo", "", 20, nil},
			}},
			{"Mobile app", "iOS and Android client for field teams", []demoTask{
				{"Login screen", "doing", "bob@example.com", 3, nil},
				{"Offline sync", "todo", "alice@example.com", 30, []string{"Needs a decision on conflict handling."}},
				{"Push notifications", "todo", "", 0, nil},
			}},
			{"Q3 planning", "Goals, budget and hiring for next quarter", []demoTask{
				{"Draft OKRs", "done", "demo@example.com", 0, nil},
				{"Budget review with finance", "todo", "demo@example.com", 8, nil},
			}},
		}},
	{"globex", "Globex", store.OrgSettings{Plan: "team", Accent: "teal"}, tenancy.TierPool,
		[]string{"demo@example.com", "bob@example.com", "carol@example.com"},
		[]demoProject{
			{"Customer onboarding", "Shorten time to first value", []demoTask{
				{"Interview five new customers", "doing", "carol@example.com", 4, []string{"Three interviews booked."}},
				{"Rewrite the welcome email", "todo", "bob@example.com", 9, nil},
			}},
			{"Billing revamp", "Move to usage-based pricing", []demoTask{
				{"Model pricing scenarios", "todo", "demo@example.com", 14, nil},
			}},
		}},
	{"initech", "Initech", store.OrgSettings{Plan: "free"}, tenancy.TierDatabase,
		[]string{"demo@example.com", "carol@example.com"},
		[]demoProject{
			{"TPS reports", "Cover sheets for every report", []demoTask{
				{"Add the new cover sheet", "todo", "carol@example.com", 1, []string{"Did you get the memo?"}},
				{"Fix the printer on floor 3", "doing", "", 0, nil},
			}},
		}},
	{"hooli", "Hooli Agency", store.OrgSettings{Plan: "team", Accent: "rose"}, tenancy.TierSchema,
		[]string{"demo@example.com", "alice@example.com"},
		[]demoProject{
			{"Pied Piper launch", "Campaign for a client's compression app", []demoTask{
				{"Storyboard the launch video", "doing", "alice@example.com", 6, []string{"The client wants more middle-out."}},
			}},
		}},
}

// demoTypes are the organisations of a type other than tenancy.DefaultType, and demoClients the
// rows of that type's own table.
var (
	demoTypes   = map[string]string{"hooli": migrations.TypeAgency}
	demoClients = map[string][][2]string{"hooli": {{"Pied Piper", "richard@piedpiper.example"}, {"Raviga Capital", ""}}}
)

// demoCostCentres fill the column that acme's own migration (migrations/custom/acme) adds to
// its projects.
var demoCostCentres = map[string]string{"Website relaunch": "MKT-200", "Mobile app": "ENG-410", "Q3 planning": "OPS-100"}

// seeder is one run of Seed.
type seeder struct {
	db       *tenancy.Client
	store    *store.Store
	accounts Accounts
}

// Seed creates the demo organisations, users and data that do not exist yet.
func Seed(ctx context.Context, client *tenancy.Client, accounts Accounts) (*Result, error) {
	s := &seeder{db: client, store: store.New(client), accounts: accounts}
	users := map[string]int64{}
	for _, u := range demoUsers {
		id, err := s.demoUser(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("demo user %s: %w", u.email, err)
		}
		users[u.email] = id
	}
	res := &Result{Email: demoUsers[0].email}
	for _, o := range demoOrgs {
		t, created, err := s.demoTenant(ctx, o.slug, o.name, demoTypes[o.slug], o.settings, o.tier)
		if err != nil {
			return nil, fmt.Errorf("demo organisation %s: %w", o.slug, err)
		}
		res.Orgs = append(res.Orgs, Org{Slug: t.Slug, Name: t.Name, Plan: store.PlanOf(t), Accent: store.SettingsOf(t).Accent,
			Type: t.Type, Customized: t.Customized(), Tier: t.Tier, Created: created})
		for i, m := range o.members {
			role := "member"
			if i == 0 {
				role = "owner"
			}
			if err := s.accounts.AddMember(ctx, users[m], t.ID, role); err != nil {
				return nil, err
			}
		}
		if !created {
			continue
		}
		tctx := tenancy.WithTenant(ctx, t)
		for _, c := range demoClients[o.slug] {
			if _, err := s.store.CreateClient(tctx, c[0], c[1]); err != nil {
				return nil, fmt.Errorf("demo client %s/%s: %w", o.slug, c[0], err)
			}
		}
		for _, p := range o.projects {
			proj, err := s.store.CreateProject(tctx, users[o.members[0]], p.name, p.description)
			if err != nil {
				return nil, fmt.Errorf("demo project %s/%s: %w", o.slug, p.name, err)
			}
			if cc := demoCostCentres[p.name]; cc != "" && t.Customized() {
				// Only acme's placement has the column: its own migration added it. In a bound
				// transaction, as pgx prepares a one-shot statement against tenancy_shape, which
				// has the common tables only.
				err := s.db.Tx(tctx, func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, `UPDATE projects SET cost_centre = $1 WHERE id = $2`, cc, proj.ID)
					return err
				})
				if err != nil {
					return nil, fmt.Errorf("demo project %s/%s: %w", o.slug, p.name, err)
				}
			}
			for _, dt := range p.tasks {
				title, status := dt.title, dt.status
				in := store.TaskInput{Title: &title, Status: &status}
				if dt.assignee != "" {
					id := users[dt.assignee]
					in.AssigneeID = &id
				}
				if dt.due != 0 {
					d := time.Now().AddDate(0, 0, dt.due).Format(time.DateOnly)
					in.DueDate = &d
				}
				task, err := s.store.CreateTask(tctx, users[o.members[0]], proj.ID, in)
				if err != nil {
					return nil, fmt.Errorf("demo task %s/%s: %w", o.slug, title, err)
				}
				for i, c := range dt.comments {
					author := users[o.members[i%len(o.members)]]
					if _, err := s.store.CreateComment(tctx, author, task.ID, c); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	return res, nil
}

func (s *seeder) demoUser(ctx context.Context, u demoUser) (int64, error) {
	r, err := shareddb.New(s.db.AppPool()).UserByEmail(ctx, u.email)
	if err == nil {
		return r.ID, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	return s.accounts.CreateUser(ctx, u.email, u.name, Password)
}

// demoTenant returns the organisation slug, creating it in the wanted tier, or in the schema tier
// if the library does not offer that tier yet.
func (s *seeder) demoTenant(ctx context.Context, slug, name, typ string, settings store.OrgSettings, tier tenancy.Tier) (*tenancy.Tenant, bool, error) {
	t, err := s.db.TenantGet(ctx, slug)
	if err == nil {
		if t.Status == tenancy.StatusSuspended {
			t, err = s.db.TenantResume(ctx, slug)
		}
		return t, false, err
	}
	if !errors.Is(err, tenancy.ErrTenantNotFound) {
		return nil, false, err
	}
	raw, err := json.Marshal(settings)
	if err != nil {
		return nil, false, err
	}
	t, err = s.db.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Name: name, Type: typ, Tier: tier, Settings: raw})
	if errors.Is(err, tenancy.ErrTierNotAvailable) {
		t, err = s.db.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Name: name, Type: typ, Tier: tenancy.TierSchema, Settings: raw})
	}
	return t, err == nil, err
}
