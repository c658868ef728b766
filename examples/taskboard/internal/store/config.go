package store

import (
	"github.com/tenancy-go/tenancy"
)

// ConfigureClient sets what taskboard's tenancy clients need beyond their pools and migration
// lines: the organisations' settings type.
func ConfigureClient(c *tenancy.Config) {
	c.ValidateSettings = tenancy.SettingsType[OrgSettings]()
}
