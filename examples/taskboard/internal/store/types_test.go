package store

import (
	"context"
	"errors"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestAgencyClients: an agency organisation has its type's clients table in the schema and
// database tiers (not yet the pool tier: a typed pool refused its own type's tenant when this was
// written, "pool agency holds tenants of type agency, not default"); bad
// input is one InvalidError and adds nothing; an organisation of the default type has no clients.
func TestAgencyClients(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(), ClientConfig: ConfigureClient})
	ctx := context.Background()
	st := New(db.Client)
	plain, err := db.Client.TenantCreate(ctx, "plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateClient(tenancy.WithTenant(ctx, plain), "Pied Piper", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a client for a default-type organisation: %v", err)
	}
	for _, tier := range []tenancy.Tier{tenancy.TierSchema, tenancy.TierDatabase} {
		tn, err := db.Client.TenantCreate(ctx, "agency-"+string(tier), &tenancy.TenantCreateOpts{Tier: tier, Type: migrations.TypeAgency})
		if err != nil {
			t.Fatalf("%s: %v", tier, err)
		}
		actx := tenancy.WithTenant(ctx, tn)
		if _, err := st.CreateClient(actx, "Pied Piper", "richard@piedpiper.example"); err != nil {
			t.Fatalf("%s: %v", tier, err)
		}
		for _, bad := range [][2]string{{"", ""}, {"pied piper", ""}, {"Raviga", string(make([]byte, 201))}, {"Bad\x00Name", ""}} {
			var inv *InvalidError
			if _, err := st.CreateClient(actx, bad[0], bad[1]); !errors.As(err, &inv) {
				t.Errorf("%s: client %q: %v, want an InvalidError", tier, bad[0], err)
			}
		}
		cs, err := st.ListClients(actx, 10)
		if err != nil || len(cs) != 1 || cs[0].Contact != "richard@piedpiper.example" {
			t.Fatalf("%s: clients %+v, %v", tier, cs, err)
		}
	}
}
