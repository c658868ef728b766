package app

import (
	"context"
	"fmt"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/demo"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
)

// The demo data is package demo's; the application lends it its accounts (users with its
// password hashing, memberships).

// DemoPassword is the password of every demo user.
const DemoPassword = demo.Password

// DemoOrg describes one demo organisation.
type DemoOrg = demo.Org

// DemoResult says what SeedDemo made or found.
type DemoResult = demo.Result

// SeedDemo creates the demo organisations, users and data that do not exist yet; new users'
// passwords are hashed at bcrypt cost passwordCost (10 if 0).
func SeedDemo(ctx context.Context, client *tenancy.Client, passwordCost int) (*DemoResult, error) {
	s := &Server{db: client, store: store.New(client), cost: passwordCost}
	if s.cost == 0 {
		s.cost = 10
	}
	return demo.Seed(ctx, client, demoAccounts{s})
}

// demoAccounts are the Server's accounts as demo.Accounts.
type demoAccounts struct{ s *Server }

func (a demoAccounts) CreateUser(ctx context.Context, email, name, password string) (int64, error) {
	u, err := a.s.createUser(ctx, email, name, password)
	if err != nil {
		return 0, err
	}
	return u.ID, nil
}

func (a demoAccounts) AddMember(ctx context.Context, userID, tenantID int64, role string) error {
	return a.s.addMember(ctx, userID, tenantID, role)
}

// CreateAPIToken makes an API token for the organisation slug (named name) and returns it.
func CreateAPIToken(ctx context.Context, client *tenancy.Client, slug, name string) (string, error) {
	t, err := client.TenantGet(ctx, slug)
	if err != nil {
		return "", err
	}
	if !t.Servable() {
		return "", fmt.Errorf("organisation %s is %s", slug, t.Status)
	}
	return store.New(client).CreateAPIToken(tenancy.WithTenant(ctx, t), 0, name)
}

// RevokeAPITokens deletes the organisation's tokens with the given name.
func RevokeAPITokens(ctx context.Context, client *tenancy.Client, slug, name string) error {
	t, err := client.TenantGet(ctx, slug)
	if err != nil {
		return err
	}
	return store.New(client).RevokeAPITokens(tenancy.WithTenant(ctx, t), name)
}
