package tenancyhttp

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/tenancy-go/tenancy/tenancytest"
)

func count(m *sync.Map) (n int) {
	m.Range(func(any, any) bool { n++; return true })
	return n
}

// TestNegativeEntriesBounded: unknown names are remembered, but never more than MaxNegative.
func TestNegativeEntriesBounded(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: os.DirFS("../testdata/migrations/shared"),
		TenantMigrations: os.DirFS("../testdata/migrations/tenant"),
	})
	c := NewCache(db.Client, &CacheConfig{MaxNegative: 16})
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		if _, err := c.TenantGetByDomain(ctx, fmt.Sprintf("random-%d.example.com", i)); err == nil {
			t.Fatal("found a tenant for a random host")
		}
		if n := count(&c.hosts); n > 16 {
			t.Fatalf("after %d unknown hosts the cache holds %d, want at most 16", i+1, n)
		}
	}
	loads := c.Stats().Loads
	// The newest are still remembered.
	if _, err := c.TenantGetByDomain(ctx, "random-199.example.com"); err == nil || c.Stats().Loads != loads {
		t.Fatalf("the newest unknown host was not remembered (loads %d -> %d)", loads, c.Stats().Loads)
	}
}

// TestLoadRacingInvalidationIsNotStored: an answer loaded before an invalidation may predate the
// change, so it is returned but not stored.
func TestLoadRacingInvalidationIsNotStored(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: os.DirFS("../testdata/migrations/shared"),
		TenantMigrations: os.DirFS("../testdata/migrations/tenant"),
	})
	if _, err := db.Client.TenantCreate(context.Background(), "acme", nil); err != nil {
		t.Fatal(err)
	}
	c := NewCache(db.Client, nil)
	tn, err := c.TenantGet(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	gen := c.gen.Load()
	c.Invalidate(tn.ID, nil, nil)
	c.storeTenant(gen, tn, &c.slugs, "acme")
	if n := count(&c.slugs) + count(&c.ids); n != 0 {
		t.Fatalf("a load that raced an invalidation was stored (%d entries)", n)
	}
	c.storeTenant(c.gen.Load(), tn, &c.slugs, "acme")
	if count(&c.slugs) != 1 || count(&c.ids) != 1 {
		t.Fatal("a load after the invalidation was not stored")
	}
}
