package tenancy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyhttp"
)

// TestRestoredTenantServesHTTP restores a tenant under a new slug and serves it through the
// HTTP stack (a tenancyhttp Cache listening for catalog changes, subdomain routing, the
// binding as the application role); while it is moved its requests get 503 with Retry-After.
func TestRestoredTenantServesHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := archiveDB(t, archiveTenant)
	c := db.Client
	src, err := c.TenantCreate(ctx, "original", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema})
	if err != nil {
		t.Fatal(err)
	}
	fillItems(t, c, src, 12)
	data := backup(t, c, "original")
	if _, err := c.Restore(ctx, bytes.NewReader(data), &tenancy.RestoreOpts{Slug: "phoenix", Tier: tenancy.TierPool}); err != nil {
		t.Fatal(err)
	}

	cache := tenancyhttp.NewCache(c, nil)
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tn := tenancy.MustFromContext(r.Context())
		var n int
		var first string
		if err := c.QueryRow(r.Context(), `SELECT count(*), min(name) FILTER (WHERE name LIKE 'plain%') FROM items`).Scan(&n, &first); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %d %s", tn.Slug, n, first)
	})
	router := tenancyhttp.NewRouter(&tenancyhttp.Config{
		Tenants:   cache,
		Resolvers: []tenancyhttp.Resolver{tenancyhttp.Subdomain("example.com")},
	}, http.NotFoundHandler(), app)
	get := func(host string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://"+host+"/items", nil))
		return rec
	}
	if rec := get("phoenix.example.com"); rec.Code != http.StatusOK || rec.Body.String() != "phoenix 12 plain 11" {
		t.Fatalf("phoenix: %d %q", rec.Code, rec.Body.String())
	}
	if rec := get("original.example.com"); rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), "original 12 ") {
		t.Fatalf("original: %d %q", rec.Code, rec.Body.String())
	}

	// A move stopped half-way holds the tenant in "moving": 503 with Retry-After, never rows.
	crashAt(db, "move:copied")
	if _, err := c.Move(ctx, "phoenix", &tenancy.MoveOpts{Tier: tenancy.TierSchema}); err == nil {
		t.Fatal("the move did not stop")
	}
	tenancy.SetTestHook(c, nil)
	waitFor(t, func() bool { return get("phoenix.example.com").Code == http.StatusServiceUnavailable })
	if rec := get("phoenix.example.com"); rec.Header().Get("Retry-After") == "" || strings.Contains(rec.Body.String(), "12") {
		t.Fatalf("moving: %d %q, Retry-After %q", rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
	}
	if _, err := c.Move(ctx, "phoenix", &tenancy.MoveOpts{Tier: tenancy.TierSchema}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return get("phoenix.example.com").Code == http.StatusOK })
	if rec := get("phoenix.example.com"); rec.Body.String() != "phoenix 12 plain 11" {
		t.Fatalf("after the move: %d %q", rec.Code, rec.Body.String())
	}
}

// waitFor waits for cond (catalog notifications reach the cache asynchronously); the deadline
// only catches a hang.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// failingWriter fails after n bytes.
type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return f.n, fmt.Errorf("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}

// TestDeleteWithBackup hard-deletes a tenant after writing its archive, and restores it from
// that archive with its domains; a backup that cannot be written stops the delete.
func TestDeleteWithBackup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := archiveDB(t, archiveTenant)
	c := db.Client
	for _, tier := range []tenancy.Tier{tenancy.TierSchema, tenancy.TierPool, tenancy.TierDatabase} {
		slug := "doomed-" + string(tier)
		tn, err := c.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: tier})
		if err != nil {
			t.Fatal(err)
		}
		fillItems(t, c, tn, 9)
		if _, err := c.DomainAdd(ctx, slug, slug+".example.org", nil); err != nil {
			t.Fatal(err)
		}
		want := snapshot(t, c, tn)

		err = c.TenantDelete(ctx, slug, &tenancy.TenantDeleteOpts{Hard: true, Backup: &failingWriter{n: 100}})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("%s: delete with a failing backup: %v", tier, err)
		}
		checkAtRest(t, db, slug, want)

		var archive bytes.Buffer
		if err := c.TenantDelete(ctx, slug, &tenancy.TenantDeleteOpts{Hard: true, Backup: &archive}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.TenantGet(ctx, slug); !errors.Is(err, tenancy.ErrTenantNotFound) {
			t.Fatalf("%s after a hard delete: %v", slug, err)
		}
		if h := holders(t, db, tn.ID); len(h) != 0 {
			t.Fatalf("%s: still held by %v", slug, h)
		}
		back, err := c.Restore(ctx, &archive, &tenancy.RestoreOpts{Domains: true})
		if err != nil {
			t.Fatal(err)
		}
		if back.Slug != slug || back.Tier != tier || len(back.Domains) != 1 || back.Domains[0] != slug+".example.org" {
			t.Fatalf("restored: %+v", back)
		}
		sameSnapshot(t, slug, want, snapshot(t, c, back))
	}
}
