package tenancyhttp

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/internal/hostname"
)

// Ref names a tenant by one of its names: a host of the catalog's domains, a slug, or an id (the
// first one set is used). Func resolvers return one.
type Ref struct {
	Host string // any spelling; normalised before it is looked up, refused (400) if invalid
	Slug string // refused (400) if it cannot be a slug
	ID   int64
}

type resolverKind uint8

const (
	kindDomain resolverKind = iota + 1
	kindSubdomain
	kindHeader
	kindPath
	kindFunc
)

// A Resolver finds which tenant a request is for. Resolvers are tried in the order configured:
// the first whose answer names a tenant of the catalog wins; one that has no answer, or names a
// tenant the catalog does not know, passes to the next. A malformed answer (a header or path
// segment that cannot be a slug, an invalid host) ends the request with 400.
type Resolver struct {
	kind   resolverKind
	base   string // kindSubdomain: "." + normalized base domain
	header string // kindHeader: canonical header name
	prefix string // kindPath: "/t/"
	fn     func(*http.Request) (Ref, bool, error)
}

// Domain resolves the request's host through the catalog's domains (tenancy.domains), ignoring
// letter case, a trailing dot, the port and a leading "www." (www.acme.com finds acme.com unless
// www.acme.com is itself in the catalog).
//
// Placed before Subdomain, a domain of the catalog wins over a subdomain address. The catalog
// refuses a domain under a base domain or a public host (tenancy.ErrDomainReserved) only if the
// client that adds it has the same tenancy.Config.BaseDomains and PublicHosts as this
// configuration: otherwise a domain acme.example.com added to globex would serve globex at
// acme's address.
func Domain() Resolver { return Resolver{kind: kindDomain} }

// Subdomain resolves a host that is one label under base to the tenant with that slug (list base
// in tenancy.Config.BaseDomains, so that no tenant can take such a name as a domain):
// Subdomain("localhost") sends acme.localhost:8080 (and www.acme.localhost) to tenant acme. base
// itself, deeper names and reserved or invalid slugs (www, api, ...) are not its business. It
// panics if base is not a valid host name.
func Subdomain(base string) Resolver {
	b, err := hostname.Normalize(base, false)
	if err != nil {
		panic(fmt.Sprintf("tenancyhttp: Subdomain(%q): %v", base, err))
	}
	return Resolver{kind: kindSubdomain, base: "." + b}
}

// TrustedHeader resolves the slug in the named request header (X-Tenant: acme). Use it only where
// every request passes through something you control that sets or strips the header (a gateway,
// an internal service mesh): anyone else can send any header, and would choose their tenant. A
// value that cannot be a slug is refused with 400; no header, or an empty one, passes to the next
// resolver.
func TrustedHeader(name string) Resolver {
	if name == "" || strings.ContainsAny(name, " :\r\n") {
		panic(fmt.Sprintf("tenancyhttp: TrustedHeader(%q): not a header name", name))
	}
	return Resolver{kind: kindHeader, header: textproto.CanonicalMIMEHeaderKey(name)}
}

// PathPrefix resolves the path segment after prefix (PathPrefix("/t/") and /t/acme/projects find
// tenant acme) and strips prefix and slug from the path the tenant handler sees (/projects). A
// segment that cannot be a slug is refused with 400. prefix must start and end with "/".
func PathPrefix(prefix string) Resolver {
	if len(prefix) < 2 || prefix[0] != '/' || prefix[len(prefix)-1] != '/' {
		panic(fmt.Sprintf("tenancyhttp: PathPrefix(%q): want a prefix like \"/t/\"", prefix))
	}
	return Resolver{kind: kindPath, prefix: prefix}
}

// Func resolves with fn: ok false means no answer (the next resolver is tried), an error ends the
// request with 400 (wrap tenancy.ErrInvalidHost or tenancy.ErrInvalidSlug, or any error).
func Func(fn func(r *http.Request) (ref Ref, ok bool, err error)) Resolver {
	if fn == nil {
		panic("tenancyhttp: Func(nil)")
	}
	return Resolver{kind: kindFunc, fn: fn}
}

func (r Resolver) usesHost() bool { return r.kind == kindDomain || r.kind == kindSubdomain }

// subdomainSlug returns the slug that host names under r.base, if any.
func (r Resolver) subdomainSlug(host string) (string, bool) {
	if !strings.HasSuffix(host, r.base) {
		return "", false
	}
	label := strings.TrimPrefix(host[:len(host)-len(r.base)], "www.")
	if strings.IndexByte(label, '.') >= 0 || tenancy.ValidateSlug(label) != nil {
		return "", false
	}
	return label, true
}

// pathSlug returns the slug after r.prefix in path and the rest of the path.
func (r Resolver) pathSlug(path string) (slug, rest string, ok bool) {
	if !strings.HasPrefix(path, r.prefix) {
		return "", "", false
	}
	slug = path[len(r.prefix):]
	rest = "/"
	if i := strings.IndexByte(slug, '/'); i >= 0 {
		slug, rest = slug[:i], slug[i:]
	}
	return slug, rest, true
}
