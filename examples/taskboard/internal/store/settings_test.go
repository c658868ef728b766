package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestOrgSettingsRefused: the catalog keeps organisations' settings to OrgSettings, on create and
// on change, in every tier; what is refused changes nothing, and what is kept reads back typed.
func TestOrgSettingsRefused(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: migrations.Shared(), TenantMigrations: migrations.Tenant(), ClientConfig: ConfigureClient})
	ctx := context.Background()
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase} {
		slug := "org-" + string(tier)
		for settings, why := range map[string]string{
			`{"plan":"platinum"}`: `plan "platinum" is not one of free, team, enterprise`,
			`{"accent":"pink"}`:   `accent "pink" is not one of amber, indigo, rose, teal`,
			`{"Plan":"team"}`:     `unknown setting "Plan" (did you mean "plan"?)`,
		} {
			_, err := db.Client.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: tier, Settings: json.RawMessage(settings)})
			if !errors.Is(err, tenancy.ErrInvalidSettings) || !strings.Contains(err.Error(), why) {
				t.Fatalf("%s %s: %v, want %q", tier, settings, err, why)
			}
		}
		if _, err := db.Client.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: tier, Settings: json.RawMessage(`{"plan":"team"}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Client.TenantSetSettings(ctx, slug, &tenancy.TenantSetSettingsOpts{Set: map[string]json.RawMessage{"accent": json.RawMessage(`"neon"`)}}); !errors.Is(err, tenancy.ErrInvalidSettings) {
			t.Fatalf("%s: accent neon: %v", tier, err)
		}
		tn, err := db.Client.TenantSetSettings(ctx, slug, &tenancy.TenantSetSettingsOpts{Set: map[string]json.RawMessage{"accent": json.RawMessage(`"rose"`)}})
		if err != nil {
			t.Fatal(err)
		}
		if got := SettingsOf(tn); got != (OrgSettings{Plan: "team", Accent: "rose"}) || PlanOf(tn) != "team" {
			t.Fatalf("%s: settings %+v", tier, got)
		}
	}
}
