package tenancyhttp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyhttp"
)

// TestSettingsChangeReachesCache: a settings change made through one Client is what a second
// Client's started cache hands to the next request. The TTL is an hour, so only the catalog's
// change notice can explain it.
func TestSettingsChangeReachesCache(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	create(t, db, "acme")
	cache := newCache(t, secondClient(t, db), &tenancyhttp.CacheConfig{TTL: time.Hour, NegativeTTL: time.Hour})
	type settings struct {
		Theme string `json:"theme"`
	}
	h := tenancyhttp.Middleware(&tenancyhttp.Config{
		Tenants:   cache,
		Resolvers: []tenancyhttp.Resolver{tenancyhttp.Subdomain("localhost")},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tn, _ := tenancy.FromContext(r.Context())
		s, err := tenancy.SettingsOf[settings](tn)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, "theme="+s.Theme)
	}))
	theme := func() string { _, body, _ := do(h, req{host: "acme.localhost"}); return body }
	if got := theme(); got != "theme=" {
		t.Fatalf("before: %q", got)
	}
	ctx := context.Background()
	for _, step := range []struct {
		opts *tenancy.TenantSetSettingsOpts
		want string
	}{
		{&tenancy.TenantSetSettingsOpts{Set: map[string]json.RawMessage{"theme": json.RawMessage(`"dark"`)}}, "theme=dark"},
		{&tenancy.TenantSetSettingsOpts{Unset: []string{"theme"}}, "theme="},
	} {
		if _, err := db.Client.TenantSetSettings(ctx, "acme", step.opts); err != nil {
			t.Fatal(err)
		}
		took := waitFor(t, func() bool { return theme() == step.want })
		t.Logf("%s seen after %v", step.want, took)
	}
}
