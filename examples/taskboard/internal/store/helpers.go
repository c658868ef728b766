package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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

// PlanOf reads the organisation's plan from its catalog settings.
func PlanOf(t *tenancy.Tenant) string {
	var st struct {
		Plan string `json:"plan"`
	}
	if len(t.Settings) > 0 && json.Unmarshal(t.Settings, &st) == nil && st.Plan != "" {
		return st.Plan
	}
	return "free"
}
