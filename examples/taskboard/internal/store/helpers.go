package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tenancy-go/tenancy"
)

// NewToken returns a random URL-safe token and the SHA-256 that is stored instead of it.
func NewToken(prefix string) (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := prefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, HashToken(tok)
}

// HashToken is what is stored of a token: its SHA-256.
func HashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// CleanText reports whether v is valid UTF-8 without NUL, as PostgreSQL's text requires.
func CleanText(v string) bool { return utf8.ValidString(v) && !strings.ContainsRune(v, 0) }

// OrgSettings are an organisation's settings, kept in its catalog row (tenancy.Tenant.Settings)
// and read with tenancy.SettingsOf. The catalog refuses settings that do not fit, on every write:
// taskboard registers tenancy.SettingsType[OrgSettings] as tenancy.Config.ValidateSettings.
type OrgSettings struct {
	Plan   string `json:"plan,omitempty"`   // an id of the shared plans table; "free" if empty
	Accent string `json:"accent,omitempty"` // the colour of the organisation's pages, a key of Accents; the default if empty
}

// Plans are the ids of the plans table (migrations/shared).
var Plans = []string{"free", "team", "enterprise"}

// Accents are the colours an organisation's pages may take.
var Accents = map[string]string{"indigo": "#4f46e5", "teal": "#0d9488", "rose": "#e11d48", "amber": "#b45309"}

// Validate is called by tenancy before settings are written.
func (s *OrgSettings) Validate() error {
	if s.Plan != "" && !slices.Contains(Plans, s.Plan) {
		return fmt.Errorf("plan %q is not one of %s", s.Plan, strings.Join(Plans, ", "))
	}
	if _, ok := Accents[s.Accent]; s.Accent != "" && !ok {
		return fmt.Errorf("accent %q is not one of %s", s.Accent, strings.Join(slices.Sorted(maps.Keys(Accents)), ", "))
	}
	return nil
}

// SettingsOf reads the organisation's settings; settings written before a rule existed read as
// the defaults.
func SettingsOf(t *tenancy.Tenant) OrgSettings {
	s, err := tenancy.SettingsOf[OrgSettings](t)
	if err != nil {
		return OrgSettings{}
	}
	return s
}

// PlanOf reads the organisation's plan from its catalog settings.
func PlanOf(t *tenancy.Tenant) string {
	if p := SettingsOf(t).Plan; p != "" {
		return p
	}
	return "free"
}
