package connpool

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The registry's bookkeeping, without a server: pgxpool opens no connection until one is needed.
func testRegistry(t *testing.T, limits Limits) *Registry {
	t.Helper()
	r := NewRegistry(func(_ context.Context, k Key) (*pgxpool.Config, error) {
		return pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/" + k.Database + "?connect_timeout=1")
	}, limits)
	t.Cleanup(r.Close)
	return r
}

func TestRegistryCapsAndEvictsLeastRecentlyUsed(t *testing.T) {
	r := testRegistry(t, Limits{MaxPools: 2, MaxConnsPerPool: 1})
	ctx := context.Background()
	a, releaseA, err := r.Acquire(ctx, Key{Database: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if again, releaseAgain, err := r.Acquire(ctx, Key{Database: "a"}); err != nil || again != a {
		t.Fatalf("the same key gave another pool (%v)", err)
	} else {
		releaseAgain()
	}
	_, releaseB, err := r.Acquire(ctx, Key{Database: "b"})
	if err != nil {
		t.Fatal(err)
	}
	// Both pools held: a third key waits, and fails when its context ends.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := r.Acquire(short, Key{Database: "c"}); !errors.Is(err, ErrBusy) {
		t.Fatalf("beyond the cap: %v, want ErrBusy", err)
	}
	if st := r.Stats(); st.Pools != 2 || st.Held != 2 {
		t.Fatalf("stats %+v, want 2 pools, 2 held", st)
	}
	// Releasing a makes it the eviction victim; a waiting caller gets its place.
	type acquired struct {
		release func()
		err     error
	}
	got := make(chan acquired, 1)
	go func() {
		_, release, err := r.Acquire(ctx, Key{Database: "c"})
		got <- acquired{release, err}
	}()
	time.Sleep(20 * time.Millisecond)
	releaseA()
	c := <-got
	if c.err != nil {
		t.Fatalf("waiting caller: %v", c.err)
	}
	if st := r.Stats(); st.Pools != 2 || st.Held != 2 {
		t.Fatalf("stats %+v, want 2 pools (b and c), both held", st)
	}
	releaseB()
	c.release()
	// b was let go first, so it is the least recently used: a new key evicts it, not c.
	_, releaseD, err := r.Acquire(ctx, Key{Database: "d"})
	if err != nil {
		t.Fatal(err)
	}
	defer releaseD()
	r.mu.Lock()
	_, hasB := r.entries[Key{Database: "b"}]
	_, hasC := r.entries[Key{Database: "c"}]
	r.mu.Unlock()
	if hasB || !hasC {
		t.Fatalf("evicted the wrong pool: b present %v, c present %v", hasB, hasC)
	}
}

func TestRegistryClosesIdlePools(t *testing.T) {
	r := testRegistry(t, Limits{MaxPools: 4, IdleTimeout: 10 * time.Millisecond})
	ctx := context.Background()
	_, release, err := r.Acquire(ctx, Key{Database: "a"})
	if err != nil {
		t.Fatal(err)
	}
	release()
	time.Sleep(30 * time.Millisecond)
	// Any release sweeps pools unused for longer than IdleTimeout.
	_, release, err = r.Acquire(ctx, Key{Database: "b"})
	if err != nil {
		t.Fatal(err)
	}
	release()
	if st := r.Stats(); st.Pools != 1 {
		t.Fatalf("stats %+v, want only b open", st)
	}
	r.Evict(Key{Database: "b"})
	if st := r.Stats(); st.Pools != 0 {
		t.Fatalf("after Evict: %+v", st)
	}
}
