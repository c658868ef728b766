package tenancyhttp

import (
	"net/http"

	"github.com/tenancy-go/tenancy"
)

// ByType returns a handler that serves each request with the handler of its tenant's type
// (tenancy.Tenant.Type; an empty type is tenancy.DefaultType), as django-tenants serves each
// tenant type with its own URL configuration: put it behind Middleware or NewRouter, which put
// the tenant in the request's context. A type without a handler goes to fallback; with fallback
// nil, it gets 404, as does a request with no tenant in its context. The tenant's type is read
// from the context's tenant (the cache's copy): routing costs no query.
//
// It panics if a handler in handlers is nil or a key is not a valid type name.
func ByType(handlers map[string]http.Handler, fallback http.Handler) http.Handler {
	hs := make(map[string]http.Handler, len(handlers))
	for typ, h := range handlers {
		if h == nil {
			panic("tenancyhttp: ByType: nil handler for type " + typ)
		}
		if err := tenancy.ValidateType(typ); err != nil {
			panic("tenancyhttp: ByType: " + err.Error())
		}
		hs[typ] = h
	}
	return &byType{handlers: hs, fallback: fallback}
}

type byType struct {
	handlers map[string]http.Handler
	fallback http.Handler
}

func (b *byType) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, ok := tenancy.FromContext(r.Context())
	if !ok {
		http.NotFound(w, r)
		return
	}
	typ := t.Type
	if typ == "" {
		typ = tenancy.DefaultType
	}
	h := b.handlers[typ]
	if h == nil {
		h = b.fallback
	}
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h.ServeHTTP(w, r)
}
