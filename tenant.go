package tenancy

import (
	"encoding/json"
	"time"
)

// Tenant is one customer organisation, as the catalog records it.
type Tenant struct {
	ID        int64           `json:"id"`
	Slug      string          `json:"slug"`
	Name      string          `json:"name"`
	Status    Status          `json:"status"`
	Tier      Tier            `json:"tier"`
	Placement Placement       `json:"placement"`
	Version   int64           `json:"version"` // the tenant migration version of its placement
	Domains   []string        `json:"domains"` // primary first
	Settings  json.RawMessage `json:"settings,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Placement is where a tenant's rows live. Empty Server and Database mean the catalog's own.
type Placement struct {
	ID       int64  `json:"-"`
	Server   string `json:"server"`
	Database string `json:"database"`
	Schema   string `json:"schema"`
	// uid is the catalog's random id of the placement, written in the mark of what tenancy makes
	// for it (identity.go); empty for placements made before marks carried it, and when not read.
	uid string
}

// Servable reports whether requests for the tenant may be served.
func (t *Tenant) Servable() bool { return t.Status == StatusActive }
