// Package hostname normalises the host names that map to tenants, so that one domain has exactly
// one spelling in the catalog and nothing malformed ever reaches a query.
package hostname

import (
	"errors"
	"fmt"
	"net"
	"strings"

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
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalid)
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return "", fmt.Errorf("%w: %q is an IP address", ErrInvalid, orig)
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
