package tenancy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Tenant is one customer organisation, as the catalog records it.
type Tenant struct {
	ID     int64  `json:"id"`
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Status Status `json:"status"`
	Tier   Tier   `json:"tier"`
	// Type is the tenant's type (DefaultType unless created with another): which line of
	// Config.TypeMigrations its placement carries beside the common tenant line.
	Type      string    `json:"type"`
	Placement Placement `json:"placement"`
	Version   int64     `json:"version"` // the tenant migration version of its placement
	// TypeVersion is the version of its type's line on its placement; Custom the version of its
	// own line (Config.CustomMigrations), 0 when the tenant is not customized.
	TypeVersion int64           `json:"type_version,omitempty"`
	Custom      int64           `json:"custom,omitempty"`
	Domains     []string        `json:"domains"` // primary first
	Settings    json.RawMessage `json:"settings,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// Placement is where a tenant's rows live. Empty Server and Database mean the catalog's own.
type Placement struct {
	ID       int64  `json:"-"`
	Server   string `json:"server"`
	Database string `json:"database"`
	Schema   string `json:"schema"`
	// uid is the catalog's random id of the placement, written in the mark of what tenancy makes
	// for it (internal/placement, marks.go); empty for placements made before marks carried it, and when not read.
	uid string
}

// Customized reports whether the tenant has migrations of its own (Config.CustomMigrations).
func (t *Tenant) Customized() bool { return t.Custom > 0 }

// Servable reports whether requests for the tenant may be served.
func (t *Tenant) Servable() bool { return t.Status == StatusActive }

var slugPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,61}[a-z0-9]$`)

// reserved slugs collide with hosts, schemas or routes that tenancy or applications use.
var reserved = map[string]bool{
	"public": true, "www": true, "admin": true, "api": true, "tenancy": true, "information-schema": true,
	"app": true, "static": true, "assets": true, "mail": true, "smtp": true, "ftp": true, "localhost": true,
	"root": true, "postgres": true, "template0": true, "template1": true, "default": true, "shared": true,
	"status": true, "help": true, "support": true, "docs": true, "login": true, "signup": true,
	"auth": true, "graphql": true, "console": true, "dashboard": true,
}

// ValidateSlug reports whether s can name a tenant: a DNS label (lower-case letters, digits and
// hyphens, starting with a letter, 2 to 63 characters, not ending with a hyphen) that is not
// reserved.
func ValidateSlug(s string) error {
	if !slugPattern.MatchString(s) {
		return fmt.Errorf("%w: %q (want 2-63 of a-z, 0-9 and '-', starting with a letter, not ending with '-')", ErrInvalidSlug, truncate(s, 80))
	}
	if reserved[s] || strings.HasPrefix(s, "pg-") || strings.HasPrefix(s, "tenancy-") || strings.Contains(s, "--") {
		return fmt.Errorf("%w: %q", ErrReservedSlug, s)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
