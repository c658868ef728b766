package tenancyhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/internal/hostname"
)

// Source finds tenants by name. *Cache is the one to serve requests with; *tenancy.Client is one
// too, at a catalog query per lookup.
type Source interface {
	TenantGet(ctx context.Context, slug string) (*tenancy.Tenant, error)
	TenantGetByDomain(ctx context.Context, host string) (*tenancy.Tenant, error)
	TenantGetByID(ctx context.Context, id int64) (*tenancy.Tenant, error)
}

// RetryAfterDefault is the Retry-After of a 503 for a tenant being moved or under maintenance.
const RetryAfterDefault = 30 * time.Second

// ErrMaintenance is the error of a request for a tenant that Config.Maintenance says is under
// maintenance (HTTP 503).
var ErrMaintenance = errors.New("tenancyhttp: tenant is under maintenance")

// Config configures Middleware and NewRouter.
type Config struct {
	// Tenants answers lookups: a *Cache (required in practice: no query on a hit).
	Tenants Source

	// Resolvers are tried in order; the first that names a tenant of the catalog wins.
	Resolvers []Resolver

	// PublicHosts are the hosts of the public site (sign-up, marketing), in any spelling; a
	// leading "www." on a request is ignored. NewRouter sends their requests to the public handler
	// unless a resolver that does not look at the host (header, path, func) finds a tenant; host
	// resolvers (Domain, Subdomain) skip them. Give the same hosts to tenancy.Config.PublicHosts,
	// so that no tenant can take one as a domain.
	PublicHosts []string

	// RetryAfter is sent with 503 responses; RetryAfterDefault if 0.
	RetryAfter time.Duration

	// Maintenance, if set, reports that an active tenant is under maintenance: its requests get
	// 503 with Retry-After.
	Maintenance func(*tenancy.Tenant) bool

	// ErrorHandler writes the response to a request that is not passed on; DefaultErrorHandler if
	// nil. err wraps one of tenancy.ErrInvalidHost, tenancy.ErrInvalidSlug (400),
	// tenancy.ErrTenantNotFound (404: unknown, or provisioning, deleting or deleted),
	// tenancy.ErrTenantSuspended (403), tenancy.ErrTenantMoving or ErrMaintenance (503), or is a
	// lookup failure (500); StatusCode maps it. For 403 and 503 the request's context carries the
	// tenant (to name it on the page); Retry-After is already set on 503s.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// StatusCode returns the HTTP status of an error passed to Config.ErrorHandler, or of a bound
// call's error (WriteError): tenancy.ErrTenantBusy is 429.
func StatusCode(err error) int {
	if code, ok := busyStatus(err); ok {
		return code
	}
	switch {
	case errors.Is(err, tenancy.ErrInvalidHost), errors.Is(err, tenancy.ErrInvalidSlug):
		return http.StatusBadRequest
	case errors.Is(err, tenancy.ErrTenantNotFound), errors.Is(err, tenancy.ErrTenantNotActive):
		return http.StatusNotFound
	case errors.Is(err, tenancy.ErrTenantSuspended):
		return http.StatusForbidden
	case errors.Is(err, tenancy.ErrTenantMoving), errors.Is(err, ErrMaintenance):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// DefaultErrorHandler answers with the status code and its standard text, and nothing of err:
// error texts carry hosts and slugs that the client should not learn from. Lookup failures (500)
// are logged with slog.Default.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	code := StatusCode(err)
	if code == http.StatusInternalServerError {
		slog.ErrorContext(r.Context(), "tenancyhttp: tenant lookup failed", "host", r.Host, "err", err)
	}
	http.Error(w, http.StatusText(code), code)
}

// Middleware returns middleware that resolves each request's tenant and serves it to next with the
// tenant in its context (tenancy.FromContext), or refuses it (see Config.ErrorHandler). It panics
// if cfg is not valid.
func Middleware(cfg *Config) func(http.Handler) http.Handler {
	m := newMux(cfg)
	return func(next http.Handler) http.Handler {
		if next == nil {
			panic("tenancyhttp: Middleware: nil handler")
		}
		return &handler{m: m, tenant: next}
	}
}

// NewRouter returns a handler that sends requests for tenants to tenant (through the middleware)
// and requests for the public hosts that name no tenant to public ("tenant view routing"). Other
// requests that name no tenant get 404. It panics if cfg is not valid or a handler is nil.
func NewRouter(cfg *Config, public, tenant http.Handler) http.Handler {
	if public == nil || tenant == nil {
		panic("tenancyhttp: NewRouter: nil handler")
	}
	return &handler{m: newMux(cfg), public: public, tenant: tenant}
}

// mux is the validated configuration.
type mux struct {
	tenants     Source
	cache       *Cache // tenants, if it is one: its lookups skip normalising again
	resolvers   []Resolver
	public      map[string]bool
	needHost    bool
	retryAfter  string
	maintenance func(*tenancy.Tenant) bool
	onError     func(http.ResponseWriter, *http.Request, error)
}

func newMux(cfg *Config) *mux {
	if cfg == nil {
		panic("tenancyhttp: Config is nil")
	}
	if cfg.Tenants == nil {
		panic("tenancyhttp: Config.Tenants is required (a *tenancyhttp.Cache)")
	}
	if len(cfg.Resolvers) == 0 {
		panic("tenancyhttp: Config.Resolvers is empty")
	}
	m := &mux{
		tenants:     cfg.Tenants,
		resolvers:   cfg.Resolvers,
		public:      map[string]bool{},
		maintenance: cfg.Maintenance,
		onError:     cfg.ErrorHandler,
		needHost:    len(cfg.PublicHosts) > 0,
	}
	m.cache, _ = cfg.Tenants.(*Cache)
	for i, r := range cfg.Resolvers {
		if r.kind == 0 {
			panic(fmt.Sprintf("tenancyhttp: Config.Resolvers[%d] is the zero Resolver (use Domain, Subdomain, ...)", i))
		}
		m.needHost = m.needHost || r.usesHost()
	}
	for _, h := range cfg.PublicHosts {
		n, err := hostname.Normalize(h, true)
		if err != nil {
			panic(fmt.Sprintf("tenancyhttp: Config.PublicHosts: %v", err))
		}
		m.public[n] = true
	}
	ra := cfg.RetryAfter
	if ra <= 0 {
		ra = RetryAfterDefault
	}
	m.retryAfter = strconv.Itoa(int((ra + time.Second - 1) / time.Second))
	if m.onError == nil {
		m.onError = DefaultErrorHandler
	}
	return m
}

type handler struct {
	m      *mux
	public http.Handler // nil: Middleware, where a request naming no tenant is refused
	tenant http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := h.m
	var host string
	var public bool
	if m.needHost {
		var err error
		if host, err = hostname.Normalize(r.Host, true); err != nil {
			m.onError(w, r, fmt.Errorf("%w: %v", tenancy.ErrInvalidHost, err))
			return
		}
		public = m.public[host] || strings.HasPrefix(host, "www.") && m.public[host[4:]]
	}
	t, rest, err := m.resolve(r, host, public)
	if err != nil {
		m.onError(w, r, err)
		return
	}
	if t == nil {
		if public && h.public != nil {
			h.public.ServeHTTP(w, r)
			return
		}
		m.onError(w, r, tenancy.ErrTenantNotFound)
		return
	}
	if err := m.check(t); err != nil {
		if StatusCode(err) == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", m.retryAfter)
		}
		if StatusCode(err) != http.StatusNotFound {
			// The tenant is named in the refusal page; a 404 does not admit it exists.
			r = r.WithContext(tenancy.WithTenant(r.Context(), t))
		}
		m.onError(w, r, err)
		return
	}
	r2 := r.WithContext(tenancy.WithTenant(r.Context(), t))
	if rest != "" {
		u := *r.URL
		u.Path = rest
		u.RawPath = ""
		if r.URL.RawPath != "" {
			// prefix + slug are plain ASCII, so the escaped path starts with them too.
			esc := r.URL.EscapedPath()[len(r.URL.Path)-len(rest):]
			if p, err := url.PathUnescape(esc); err == nil && p == rest {
				u.RawPath = esc
			}
		}
		r2.URL = &u
	}
	h.tenant.ServeHTTP(w, r2)
}

// check maps a found tenant's status to a refusal, or nil.
func (m *mux) check(t *tenancy.Tenant) error {
	switch t.Status {
	case tenancy.StatusActive:
		if m.maintenance != nil && m.maintenance(t) {
			return fmt.Errorf("%w: %s", ErrMaintenance, t.Slug)
		}
		return nil
	case tenancy.StatusSuspended:
		return fmt.Errorf("%w: %s", tenancy.ErrTenantSuspended, t.Slug)
	case tenancy.StatusMoving:
		return fmt.Errorf("%w: %s", tenancy.ErrTenantMoving, t.Slug)
	}
	return fmt.Errorf("%w: %s is %s", tenancy.ErrTenantNotActive, t.Slug, t.Status)
}

// resolve runs the resolvers in order. It returns the first tenant found (nil if none) and, for a
// path prefix, the path the tenant handler sees.
func (m *mux) resolve(r *http.Request, host string, public bool) (*tenancy.Tenant, string, error) {
	ctx := r.Context()
	for _, res := range m.resolvers {
		var ref Ref
		rest := ""
		switch res.kind {
		case kindDomain:
			if public {
				continue
			}
			t, err := m.byHost(ctx, host)
			if t == nil && err == nil && strings.HasPrefix(host, "www.") {
				t, err = m.byHost(ctx, host[4:])
			}
			if t != nil || err != nil {
				return t, "", err
			}
			continue
		case kindSubdomain:
			slug, ok := res.subdomainSlug(host)
			if public || !ok {
				continue
			}
			ref.Slug = slug
		case kindHeader:
			v := r.Header.Get(res.header)
			if v == "" {
				continue
			}
			ref.Slug = v
		case kindPath:
			slug, p, ok := res.pathSlug(r.URL.Path)
			if !ok {
				continue
			}
			ref.Slug, rest = slug, p
		case kindFunc:
			var ok bool
			var err error
			if ref, ok, err = res.fn(r); err != nil {
				if !errors.Is(err, tenancy.ErrInvalidHost) && !errors.Is(err, tenancy.ErrInvalidSlug) {
					err = fmt.Errorf("%w: %w", tenancy.ErrInvalidSlug, err)
				}
				return nil, "", err
			} else if !ok {
				continue
			}
		}
		t, err := m.lookup(ctx, ref)
		if t != nil || err != nil {
			return t, rest, err
		}
	}
	return nil, "", nil
}

// lookup finds ref's tenant: nil, nil if the catalog has none.
func (m *mux) lookup(ctx context.Context, ref Ref) (*tenancy.Tenant, error) {
	var t *tenancy.Tenant
	var err error
	switch {
	case ref.Host != "":
		h, nerr := hostname.Normalize(ref.Host, true)
		if nerr != nil {
			return nil, fmt.Errorf("%w: %v", tenancy.ErrInvalidHost, nerr)
		}
		return m.byHost(ctx, h)
	case ref.Slug != "":
		if err := tenancy.ValidateSlug(ref.Slug); errors.Is(err, tenancy.ErrReservedSlug) {
			return nil, nil // no tenant can have it
		} else if err != nil {
			return nil, err
		}
		t, err = m.tenants.TenantGet(ctx, ref.Slug)
	case ref.ID > 0:
		t, err = m.tenants.TenantGetByID(ctx, ref.ID)
	default:
		return nil, nil
	}
	return found(t, err)
}

func (m *mux) byHost(ctx context.Context, host string) (*tenancy.Tenant, error) {
	if m.cache != nil {
		return found(m.cache.byHost(ctx, host))
	}
	return found(m.tenants.TenantGetByDomain(ctx, host))
}

// found turns "not found" into nil, nil: the next resolver's turn.
func found(t *tenancy.Tenant, err error) (*tenancy.Tenant, error) {
	if errors.Is(err, tenancy.ErrTenantNotFound) {
		return nil, nil
	}
	return t, err
}
