// Package hostname normalises the host names that map to tenants, so that one domain has exactly
// one spelling in the catalog and nothing malformed ever reaches a query.
package hostname

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrInvalid is wrapped by every error Normalize returns.
var ErrInvalid = errors.New("invalid host")

var profile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false), idna.ValidateLabels(true), idna.VerifyDNSLength(true), idna.StrictDomainName(true))

// Normalize returns host in its canonical form: lower case, ASCII (IDNA A-labels), no trailing dot.
// With allowPort a ":port" suffix is accepted and dropped (request Host headers); without it a
// port is an error (catalog entries). IP addresses are refused: tenants are found by name.
func Normalize(host string, allowPort bool) (string, error) {
	orig := host
	if len(host) > 300 {
		return "", fmt.Errorf("%w: too long", ErrInvalid)
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		if !allowPort {
			return "", fmt.Errorf("%w: %q has a port", ErrInvalid, orig)
		}
		port := host[i+1:]
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return "", fmt.Errorf("%w: %q", ErrInvalid, orig)
		}
		host = host[:i]
	}
	if !utf8.ValidString(host) {
		// IDNA would map invalid bytes to U+FFFD and encode that: a name nobody can register.
		return "", fmt.Errorf("%w: %q is not UTF-8", ErrInvalid, orig)
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalid)
	}
	if ipLike(host) && net.ParseIP(strings.Trim(host, "[]")) != nil {
		return "", fmt.Errorf("%w: %q is an IP address", ErrInvalid, orig)
	}
	if plainASCII(host) {
		// Nearly every request's Host: skip IDNA, which costs far more than the cache hit it precedes.
		return lower(host), nil
	}
	ascii, err := profile.ToASCII(host)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalid, orig, err)
	}
	ascii = strings.ToLower(ascii)
	for _, label := range strings.Split(ascii, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%w: %q", ErrInvalid, orig)
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
				return "", fmt.Errorf("%w: %q", ErrInvalid, orig)
			}
		}
	}
	return ascii, nil
}

// plainASCII reports whether host is already valid as it stands apart from letter case: ASCII
// letters, digits and hyphens in labels of 1 to 63 bytes that neither start nor end with a hyphen,
// none with hyphens in positions 3 and 4 (which IDNA reserves, "xn--" among them), 253 bytes in
// all. For such a host IDNA lookup mapping is exactly lower-casing; FuzzNormalize checks that.
func plainASCII(host string) bool {
	if len(host) > 253 {
		return false
	}
	start := 0
	for i := 0; i <= len(host); i++ {
		if i < len(host) && host[i] != '.' {
			ch := host[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return false
			}
			continue
		}
		label := host[start:i]
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			len(label) >= 4 && label[2] == '-' && label[3] == '-' {
			return false
		}
		start = i + 1
	}
	return true
}

// lower is strings.ToLower for ASCII, without an allocation when s is already lower case.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// ipLike reports whether host could parse as an IP address: only digits and dots (IPv4), or a
// colon or bracket (IPv6). net.ParseIP allocates an error for every name it rejects, which costs
// more than the rest of a cache hit.
func ipLike(host string) bool {
	numeric := true
	for i := 0; i < len(host); i++ {
		switch ch := host[i]; {
		case ch == ':' || ch == '[' || ch == ']':
			return true
		case ch != '.' && (ch < '0' || ch > '9'):
			numeric = false
		}
	}
	return numeric
}
