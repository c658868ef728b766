// Package tenancyhttp finds the tenant of each HTTP request and puts it in the request's context
// (tenancy.FromContext), from an in-process cache that the catalog keeps fresh.
//
// Resolvers say where a request names its tenant: its host in the catalog's domains (Domain),
// one label under a base domain (Subdomain), a trusted header (TrustedHeader), a path prefix
// (PathPrefix) or anything else (Func). They chain: the first that names a tenant of the catalog
// wins, so with Domain before Subdomain a domain wins over a subdomain address; the catalog
// refuses domains under the base domains and the public hosts named in tenancy.Config.BaseDomains
// and PublicHosts, so that no domain can stand in for another tenant's address. Host names are normalised (case, trailing dot, port, IDNA) and malformed ones are refused
// with 400 before any lookup.
//
// Middleware serves tenant requests to the next handler; NewRouter also sends the public site's
// requests to a handler of their own. Requests for a tenant that is unknown, being provisioned
// or deleted get 404, suspended 403, being moved or under maintenance 503 with Retry-After; each
// response can be replaced (Config.ErrorHandler).
//
// Cache answers lookups by host, slug and id without a query or a lock on a hit. Started, it
// listens to the catalog's notifications (channel "tenancy_catalog") on a connection of its own
// and drops a tenant's entries the moment the tenant or one of its domains changes, in every
// process; a TTL bounds staleness if a notification is ever missed, and the whole cache is dropped
// when the listener reconnects. Unknown names are remembered briefly, in bounded number, and
// concurrent misses share one query, so random Host headers can neither grow memory nor flood the
// database.
package tenancyhttp
