package store

import (
	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
)

// ConfigureClient sets what taskboard's tenancy clients need beyond their pools and migration
// lines: the organisations' settings type, the agency type's line and single organisations' own
// migrations.
func ConfigureClient(c *tenancy.Config) {
	c.ValidateSettings = tenancy.SettingsType[OrgSettings]()
	c.TypeMigrations = migrations.Types()
	c.CustomMigrations = migrations.Custom()
}
