package tenancy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// orgSettings is the test application's settings type.
type orgSettings struct {
	Theme       string `json:"theme,omitempty"`
	MaxProjects int    `json:"max_projects,omitempty"`
	Beta        bool   `json:"beta,omitempty"`
	Labels      struct {
		Done string `json:"done,omitempty"`
	} `json:"labels,omitzero"`
}

func (s *orgSettings) Validate() error {
	switch s.Theme {
	case "", "light", "dark":
	default:
		return fmt.Errorf("theme %q is not light or dark", s.Theme)
	}
	if s.MaxProjects < 0 {
		return errors.New("max_projects is negative")
	}
	return nil
}

// newSettingsDB returns a test database whose client validates settings as orgSettings.
func newSettingsDB(t *testing.T) *tenancytest.DB {
	t.Helper()
	return tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: sharedMigrations,
		TenantMigrations: tenantMigrations,
		ClientConfig: func(c *tenancy.Config) {
			c.ValidateSettings = tenancy.SettingsType[orgSettings]()
		},
	})
}

// TestSettingsOf: the typed accessor decodes strictly; a tenant without settings is T's zero value.
func TestSettingsOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		settings string
		want     orgSettings
		err      string // "" for none
	}{
		{"", orgSettings{}, ""},
		{`{}`, orgSettings{}, ""},
		{`{"theme":"dark","max_projects":3,"labels":{"done":"Shipped"}}`, orgSettings{Theme: "dark", MaxProjects: 3, Labels: struct {
			Done string `json:"done,omitempty"`
		}{"Shipped"}}, ""},
		{`{"theme":"dark","colour":"red"}`, orgSettings{}, `unknown setting "colour" (known: beta, labels, max_projects, theme)`},
		{`{"Theme":"dark"}`, orgSettings{}, `unknown setting "Theme" (did you mean "theme"?)`},
		{`{"max_projects":"3"}`, orgSettings{}, `setting "max_projects" is a JSON string, want int`},
		{`{"labels":{"todo":"x"}}`, orgSettings{}, `unknown setting "todo"`},
		{`[1]`, orgSettings{}, `settings are a JSON array`},
		{`{"theme":"dark"} {}`, orgSettings{}, `after top-level value`},
		// Validate is for writes: reading does not call it.
		{`{"theme":"purple"}`, orgSettings{Theme: "purple"}, ""},
	} {
		got, err := tenancy.SettingsOf[orgSettings](&tenancy.Tenant{Slug: "acme", Settings: json.RawMessage(tc.settings)})
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("%s: got %+v, %v; want %+v", tc.settings, got, err, tc.want)
			}
			continue
		}
		if !errors.Is(err, tenancy.ErrInvalidSettings) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "acme") {
			t.Errorf("%s: got error %v, want ErrInvalidSettings of acme with %q", tc.settings, err, tc.err)
		}
	}
}

// TestSettingsValidatedOnCreate: settings that are not a JSON object, or that the registered type
// refuses, are one ErrInvalidSettings naming the reason, and no tenant is made, in every tier.
func TestSettingsValidatedOnCreate(t *testing.T) {
	t.Parallel()
	db := newSettingsDB(t)
	ctx := context.Background()
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase} {
		for settings, why := range map[string]string{
			`null`:                  "not a JSON object",
			`[]`:                    "not a JSON object",
			`"dark"`:                "not a JSON object",
			`{"theme":`:             "not a JSON object",
			`{"theme":"purple"}`:    `theme "purple" is not light or dark`,
			`{"max_projects":-1}`:   "max_projects is negative",
			`{"max_projects":true}`: `setting "max_projects" is a JSON bool, want int`,
			`{"colour":"red"}`:      `unknown setting "colour"`,
		} {
			_, err := db.Client.TenantCreate(ctx, "acme", &tenancy.TenantCreateOpts{Tier: tier, Settings: json.RawMessage(settings)})
			if !errors.Is(err, tenancy.ErrInvalidSettings) || !strings.Contains(err.Error(), why) {
				t.Fatalf("%s, %s: got %v, want ErrInvalidSettings with %q", tier, settings, err, why)
			}
			if _, err := db.Client.TenantGet(ctx, "acme"); !errors.Is(err, tenancy.ErrTenantNotFound) {
				t.Fatalf("%s, %s: a refused create left a tenant: %v", tier, settings, err)
			}
		}
	}
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema} {
		slug := "ok-" + string(tier)
		tn, err := db.Client.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: tier, Settings: json.RawMessage(`{"theme":"dark","max_projects":5}`)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := tenancy.SettingsOf[orgSettings](tn)
		if err != nil || s.Theme != "dark" || s.MaxProjects != 5 {
			t.Fatalf("%s: settings %+v, %v", tier, s, err)
		}
	}
	var n int
	if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM tenancy.placements WHERE kind IN ('schema', 'database')`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("dedicated placements: %d, %v; want the one of ok-schema", n, err)
	}
}

// TestTenantSetSettings: keys are set and unset on what the tenant has; a result the registered
// type refuses, and malformed options, change nothing.
func TestTenantSetSettings(t *testing.T) {
	t.Parallel()
	db := newSettingsDB(t)
	ctx := context.Background()
	if _, err := db.Client.TenantCreate(ctx, "acme", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool, Settings: json.RawMessage(`{"theme":"dark","beta":true}`)}); err != nil {
		t.Fatal(err)
	}
	tn, err := db.Client.TenantSetSettings(ctx, "acme", &tenancy.TenantSetSettingsOpts{
		Set:   map[string]json.RawMessage{"max_projects": json.RawMessage(`7`), "labels": json.RawMessage(`{"done":"Shipped"}`)},
		Unset: []string{"beta", "not-there"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"theme": "dark", "labels": {"done": "Shipped"}, "max_projects": 7}`
	if string(tn.Settings) != want {
		t.Fatalf("settings %s, want %s", tn.Settings, want)
	}
	for _, tc := range []struct {
		opts *tenancy.TenantSetSettingsOpts
		err  error
		why  string
	}{
		{&tenancy.TenantSetSettingsOpts{Set: map[string]json.RawMessage{"theme": json.RawMessage(`"purple"`)}}, tenancy.ErrInvalidSettings, `theme "purple"`},
		{&tenancy.TenantSetSettingsOpts{Set: map[string]json.RawMessage{"Theme": json.RawMessage(`"light"`)}}, tenancy.ErrInvalidSettings, `did you mean "theme"`},
		{&tenancy.TenantSetSettingsOpts{Set: map[string]json.RawMessage{"theme": json.RawMessage(`light`)}}, tenancy.ErrInvalidSettings, `the value of "theme" is not JSON`},
		{&tenancy.TenantSetSettingsOpts{Set: map[string]json.RawMessage{"": json.RawMessage(`1`)}}, tenancy.ErrInvalidSettings, `empty key`},
		{&tenancy.TenantSetSettingsOpts{Set: map[string]json.RawMessage{"theme": json.RawMessage(`"light"`)}, Unset: []string{"theme"}}, tenancy.ErrInvalidSettings, `both set and unset`},
	} {
		_, err := db.Client.TenantSetSettings(ctx, "acme", tc.opts)
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%+v: got %v, want %v with %q", tc.opts, err, tc.err, tc.why)
		}
	}
	if _, err := db.Client.TenantSetSettings(ctx, "nobody", &tenancy.TenantSetSettingsOpts{Unset: []string{"theme"}}); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Errorf("unknown tenant: %v", err)
	}
	after, err := db.Client.TenantGet(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if string(after.Settings) != want || !after.UpdatedAt.Equal(tn.UpdatedAt) {
		t.Fatalf("a refused change changed the tenant: %s (updated %v, was %v)", after.Settings, after.UpdatedAt, tn.UpdatedAt)
	}

	// Concurrent changes of different keys are all kept: the read and the write hold the row.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, key := range []string{"theme", "max_projects"} {
		wg.Go(func() {
			for i := range 20 {
				v := json.RawMessage(fmt.Sprint(i))
				if key == "theme" {
					v = json.RawMessage([]string{`"light"`, `"dark"`}[i%2])
				}
				if _, err := db.Client.TenantSetSettings(ctx, "acme", &tenancy.TenantSetSettingsOpts{
					Set: map[string]json.RawMessage{key: v}, Unset: []string{"beta"},
				}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	final, err := db.Client.TenantGet(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	s, err := tenancy.SettingsOf[orgSettings](final)
	if err != nil || s.Theme != "dark" || s.MaxProjects != 19 || s.Labels.Done != "Shipped" {
		t.Fatalf("after concurrent changes: %s (%v)", final.Settings, err)
	}
}

// TestRestoreValidatesSettings: an archive whose settings the application's registered type
// refuses (written before the rule, or edited) is refused with ErrInvalidSettings, and nothing is
// made; once the tenant's settings are fixed, its archive restores.
func TestRestoreValidatesSettings(t *testing.T) {
	t.Parallel()
	db := newDB(t, 4)
	ctx := context.Background()
	if _, err := db.Client.TenantCreate(ctx, "acme", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool, Settings: json.RawMessage(`{"theme":"neon"}`)}); err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if _, err := db.Client.Backup(ctx, "acme", &archive, nil); err != nil {
		t.Fatal(err)
	}
	strict, err := tenancy.New(&tenancy.Config{
		AppPool: db.AppPool, OwnerPool: db.OwnerPool,
		SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations,
		ValidateSettings: tenancy.SettingsType[orgSettings](),
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		if err := db.OwnerPool.QueryRow(ctx, `SELECT (SELECT count(*) FROM tenancy.tenants) + (SELECT count(*) FROM tenancy.placements)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase} {
		_, err := strict.Restore(ctx, bytes.NewReader(archive.Bytes()), &tenancy.RestoreOpts{Slug: "copy", Tier: tier})
		if !errors.Is(err, tenancy.ErrInvalidSettings) || !strings.Contains(err.Error(), `theme "neon" is not light or dark`) || !strings.Contains(err.Error(), "archive") {
			t.Fatalf("%s: got %v, want ErrInvalidSettings naming the theme and the archive", tier, err)
		}
		if n := count(); n != before {
			t.Fatalf("%s: a refused restore changed the catalog: %d rows, was %d", tier, n, before)
		}
	}
	if _, err := db.Client.TenantSetSettings(ctx, "acme", &tenancy.TenantSetSettingsOpts{Set: map[string]json.RawMessage{"theme": json.RawMessage(`"dark"`)}}); err != nil {
		t.Fatal(err)
	}
	archive.Reset()
	if _, err := db.Client.Backup(ctx, "acme", &archive, nil); err != nil {
		t.Fatal(err)
	}
	tn, err := strict.Restore(ctx, &archive, &tenancy.RestoreOpts{Slug: "copy", Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := tenancy.SettingsOf[orgSettings](tn); err != nil || s.Theme != "dark" {
		t.Fatalf("restored settings %s: %+v, %v", tn.Settings, s, err)
	}
}
