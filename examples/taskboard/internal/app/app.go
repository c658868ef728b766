// Package app is taskboard, the reference application of tenancy: a small multi-tenant SaaS in
// which organisations (tenants) keep projects, tasks and comments, and people (shared users) log
// in once and belong to several organisations.
//
// One handler serves every host. The base host (localhost:8080) is the public site: landing page,
// sign-up, log-in and the operator console under /admin. Every <slug>.<base> host is one
// organisation's app: its pages, its REST API under /api/v1 and its GraphQL API at /graphql.
// Every request to a tenant host is bound to its tenant (tenancy.WithTenant) before any handler
// runs, and every query on tenant tables goes through the tenancy client, so row-level security
// and the tenant's schema apply whatever a handler does. The data itself (projects, tasks,
// comments, API tokens, activity) is package store's.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/console"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/gqlapi"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
	"github.com/tenancy-go/tenancy/tenancyhttp"
)

// BaseDomainDefault is the public host; organisations live on its subdomains. Browsers resolve
// every *.localhost name to the loopback address, so nothing needs configuring to try it out.
const BaseDomainDefault = "localhost"

// Config configures a Server.
type Config struct {
	// Client is the tenancy client: its AppPool connects as the application role (shared tables,
	// tenant-bound queries) and its OwnerPool as the owner role (creating tenants).
	Client *tenancy.Client

	// BaseDomain is the public site's host name, without port; BaseDomainDefault if empty.
	BaseDomain string

	// OperatorPassword protects the console under /admin; empty disables the console.
	OperatorPassword string

	// PasswordCost is the bcrypt cost of new passwords; bcrypt.DefaultCost if 0. Tests lower it.
	PasswordCost int

	// MaxBodyBytes limits API request bodies (413 beyond); MaxBodyBytesDefault if 0.
	MaxBodyBytes int64

	// GraphQLMaxCost refuses, before it runs, a GraphQL query that could return more objects
	// than this, every list counted full (its first argument or default); GraphQLMaxCostDefault
	// if 0.
	GraphQLMaxCost int

	// GraphQLMaxObjects stops a GraphQL query once it has made this many objects;
	// GraphQLMaxObjectsDefault if 0.
	GraphQLMaxObjects int

	// GraphQLTimeout is each GraphQL request's time budget; GraphQLTimeoutDefault if 0.
	GraphQLTimeout time.Duration

	// GraphQLIntrospection answers __schema and __type queries. Off, they are refused: the schema
	// is public in the source, but there is no need to hand it to every scanner.
	GraphQLIntrospection bool

	// TrustedProxies are the addresses of the reverse proxies in front of the application. A
	// request from one of them is taken to come from the right-most X-Forwarded-For address
	// that is not a proxy, over the scheme in X-Forwarded-Proto (https: Secure cookies, https
	// links, HSTS). Empty, the default, believes no header: the client is the connection's peer.
	TrustedProxies []netip.Prefix

	// RateLimits throttles sign-up, log-in, the console and API token creation; nil or zero
	// fields take the defaults.
	RateLimits *RateLimits

	// Mailer sends the sign-up confirmation links; nil: an Outbox writing them to Logger.
	Mailer Mailer

	Logger *slog.Logger
}

// MaxBodyBytesDefault is the largest API request body accepted.
const MaxBodyBytesDefault = 64 << 10

// GraphQL limits (see Config). A legitimate page needs a few hundred objects; the cost bound
// counts every list as full, so it sits well above what such pages actually return.
const (
	GraphQLMaxCostDefault    = gqlapi.MaxCostDefault
	GraphQLMaxObjectsDefault = gqlapi.MaxObjectsDefault
	GraphQLTimeoutDefault    = gqlapi.TimeoutDefault
)

// Server is the application. It is an http.Handler.
type Server struct {
	db      *tenancy.Client
	base    string
	cost    int
	maxBody int64
	log     *slog.Logger
	mail    Mailer
	pages   *pages
	gql     *gqlapi.API
	op      *console.Console // the operator console under /admin

	store  *store.Store       // the data: sqlc's queries, tenant-bound and shared
	cache  *tenancyhttp.Cache // tenant lookups, no query on a hit
	router http.Handler       // public host vs organisation hosts

	adminMu       sync.Mutex
	adminSessions map[[32]byte]adminSession

	crossOrigin *http.CrossOriginProtection

	proxies                            []netip.Prefix
	signUps, logIns, console, apiToken limiter

	stopPurge context.CancelFunc
	purged    sync.WaitGroup
}

// New returns the application's handler.
func New(cfg *Config) (*Server, error) {
	if cfg == nil || cfg.Client == nil {
		return nil, errors.New("app: Config.Client is required")
	}
	s := &Server{
		db:            cfg.Client,
		store:         store.New(cfg.Client),
		base:          strings.ToLower(cfg.BaseDomain),
		cost:          cfg.PasswordCost,
		maxBody:       cfg.MaxBodyBytes,
		log:           cfg.Logger,
		adminSessions: map[[32]byte]adminSession{},
	}
	if s.base == "" {
		s.base = BaseDomainDefault
	}
	if s.cost == 0 {
		s.cost = bcrypt.DefaultCost
	}
	if s.maxBody == 0 {
		s.maxBody = MaxBodyBytesDefault
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.mail = cfg.Mailer; s.mail == nil {
		s.mail = NewOutbox(s.log)
	}
	s.proxies = cfg.TrustedProxies
	s.crossOrigin = http.NewCrossOriginProtection()
	s.crossOrigin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, http.StatusForbidden, "This form did not come from this site. Go back, reload the page and try again.")
	}))
	lim := cfg.RateLimits
	if lim == nil {
		lim = &RateLimits{}
	}
	s.signUps = newBuckets(lim.SignUp, SignUpRateDefault)
	s.logIns = newBuckets(lim.LogIn, LogInRateDefault)
	s.console = newBuckets(lim.Console, ConsoleRateDefault)
	s.apiToken = newBuckets(lim.Tokens, TokensRateDefault)
	var err error
	if s.op, err = console.New(&console.Config{
		Client: s.db, Site: consoleSite{s}, OperatorPassword: cfg.OperatorPassword,
		Sessions: consoleSessions{s}, Logger: s.log,
	}); err != nil {
		return nil, err
	}
	if s.pages, err = loadPages(); err != nil {
		return nil, err
	}
	if s.gql, err = gqlapi.New(&gqlapi.Config{
		Store: s.store, MaxCost: cfg.GraphQLMaxCost, MaxObjects: cfg.GraphQLMaxObjects, Timeout: cfg.GraphQLTimeout,
		Introspection: cfg.GraphQLIntrospection, UserID: userID, Decode: s.decode,
		WriteJSON: writeJSON, WriteError: writeError, Logger: s.log,
	}); err != nil {
		return nil, err
	}
	s.cache = tenancyhttp.NewCache(s.db, &tenancyhttp.CacheConfig{Logger: s.log})
	s.router = tenancyhttp.NewRouter(&tenancyhttp.Config{
		Tenants:      s.cache,
		Resolvers:    []tenancyhttp.Resolver{tenancyhttp.Subdomain(s.base), tenancyhttp.Domain()},
		PublicHosts:  []string{s.base},
		RetryAfter:   5 * time.Second,
		ErrorHandler: s.tenancyError,
	}, s.publicRoutes(), s.tenantRoutes())
	return s, nil
}

// ServeHTTP serves the request: tenancyhttp routes the public host to the public site and binds
// every organisation host's request to its tenant (or refuses it) before the tenant handlers run.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	if s.secure(r) {
		// Only over https (here, or at a trusted proxy): HSTS sent over http would be ignored,
		// and the demo on http://localhost must not be pinned to https.
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
	}
	if msg := badBytes(w, r); msg != "" {
		s.refuse(w, r, http.StatusBadRequest, msg)
		return
	}
	s.router.ServeHTTP(w, r)
}

// Start starts listening to the catalog's change notifications, so that a tenant suspended or
// renamed (by the console, the CLI or another instance) is refused or found at once. Without it
// the tenant cache relies on its TTL.
// It also purges expired sessions, log-in tokens and invitations now and every hour.
func (s *Server) Start(ctx context.Context) error {
	if err := s.cache.Start(ctx); err != nil {
		return err
	}
	if err := s.purge(ctx); err != nil {
		return err
	}
	ctx, s.stopPurge = context.WithCancel(context.WithoutCancel(ctx))
	s.purged.Go(func() {
		tick := time.NewTicker(purgeEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := s.purge(ctx); err != nil && ctx.Err() == nil {
					s.log.ErrorContext(ctx, "purge expired sessions", "err", err)
				}
			}
		}
	})
	return nil
}

// Close stops the notification listener and the purge.
func (s *Server) Close() {
	if s.stopPurge != nil {
		s.stopPurge()
		s.purged.Wait()
	}
	s.cache.Close()
}

// tenancyError answers a request tenancyhttp refused, as a page or as JSON.
func (s *Server) tenancyError(w http.ResponseWriter, r *http.Request, err error) {
	status := tenancyhttp.StatusCode(err)
	msg := "No organisation lives at this address."
	switch status {
	case http.StatusBadRequest:
		msg = "This address is not valid."
	case http.StatusForbidden:
		msg = "This organisation is suspended."
	case http.StatusServiceUnavailable:
		msg = "This organisation is being moved or maintained; try again in a few seconds."
	case http.StatusInternalServerError:
		s.internalError(w, r, err)
		return
	}
	s.refuse(w, r, status, msg)
}

// isAPI reports whether a request expects JSON answers.
func isAPI(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/graphql"
}

// refuse answers an error in the request's language: JSON for the APIs, a page otherwise.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isAPI(r) {
		writeError(w, status, codeFor(status), msg)
		return
	}
	s.renderStatus(w, r, status, "error.html", map[string]any{"Title": http.StatusText(status), "Message": msg})
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err, tenancy.LogAttr(r.Context()))
	s.refuse(w, r, http.StatusInternalServerError, "Something went wrong on our side.")
}

// portSuffix is ":PORT" of the request's Host, or "".
func portSuffix(r *http.Request) string {
	if _, p, err := net.SplitHostPort(r.Host); err == nil && p != "" {
		return ":" + p
	}
	return ""
}

// tenantURL is the address of an organisation's app, on the same port as r.
func (s *Server) tenantURL(r *http.Request, slug string) string {
	return fmt.Sprintf("%s://%s.%s%s", s.scheme(r), slug, s.base, portSuffix(r))
}

// publicURL is the address of the public site, on the same port as r.
func (s *Server) publicURL(r *http.Request) string {
	return fmt.Sprintf("%s://%s%s", s.scheme(r), s.base, portSuffix(r))
}
