package tenancy

import "context"

// ctxKey is a pointer to an unexported type, so no other package can collide with it.
type ctxKey struct{ name string }

var tenantKey = &ctxKey{"tenant"}

// WithTenant returns a copy of ctx carrying t. Every bound call made with it works on t's rows.
func WithTenant(ctx context.Context, t *Tenant) context.Context {
	return context.WithValue(ctx, tenantKey, t)
}

// FromContext returns the tenant that ctx carries, if any.
func FromContext(ctx context.Context) (*Tenant, bool) {
	t, ok := ctx.Value(tenantKey).(*Tenant)
	return t, ok && t != nil
}

// MustFromContext is FromContext for code that runs only under a tenant; it panics otherwise.
func MustFromContext(ctx context.Context) *Tenant {
	t, ok := FromContext(ctx)
	if !ok {
		panic(ErrNoTenant)
	}
	return t
}
