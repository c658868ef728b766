package tenancyhttp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/tenancy-go/tenancy/tenancytest"
)

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
		if n := c.hosts.len(); n > 16 {
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
	c.storeTenant(gen, tn, nil)
	if n := c.slugs.len() + c.ids.len(); n != 0 {
		t.Fatalf("a load that raced an invalidation was stored (%d entries)", n)
	}
	c.storeTenant(c.gen.Load(), tn, nil)
	if c.slugs.len() != 1 || c.ids.len() != 1 {
		t.Fatal("a load after the invalidation was not stored")
	}
}

// TestIndexMatchesMap: random stores, deletes and compactions of an index agree with a plain map,
// while readers run (go test -race checks that reads need no lock).
func TestIndexMatchesMap(t *testing.T) {
	t.Parallel()
	var x index[int64]
	want := map[int64]*entry{}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if e, ok := x.load(i % 3000); ok && (e == nil || e == tombstone) {
					panic("load returned a deleted entry")
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50_000; i++ {
		k := rng.Int64N(3000)
		switch rng.IntN(10) {
		case 0, 1, 2:
			x.delete(k)
			delete(want, k)
		case 3:
			if e, ok := want[k]; ok && rng.IntN(2) == 0 {
				x.compareAndDelete(k, e)
				delete(want, k)
			} else {
				x.compareAndDelete(k, &entry{}) // never matches
			}
		default:
			e := &entry{}
			x.store(k, e)
			want[k] = e
		}
	}
	close(stop)
	readers.Wait()
	for k := int64(0); k < 3000; k++ {
		got, ok := x.load(k)
		if w, wok := want[k]; ok != wok || got != w && wok {
			t.Fatalf("key %d: got %p %v, want %p %v", k, got, ok, w, wok)
		}
	}
	if x.len() != len(want) {
		t.Fatalf("len %d, want %d", x.len(), len(want))
	}
}
