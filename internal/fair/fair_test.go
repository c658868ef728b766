package fair

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitQueued waits until n callers wait at g.
func waitQueued(t *testing.T, g *Gate, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); g.Waiting() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting, want %d", g.Waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// acquireAsync starts Acquire for tenant and sends its tenant on got when granted.
func acquireAsync(t *testing.T, g *Gate, tenant int64, got chan<- int64) {
	go func() {
		if err := g.Acquire(context.Background(), tenant, 0, 0); err != nil {
			t.Error(err)
			return
		}
		got <- tenant
	}()
}

// With the slots saturated by tenant 1, a later waiter of tenant 2 (holding none) goes ahead of
// tenant 1's earlier waiters.
func TestFewerInFlightGoFirst(t *testing.T) {
	t.Parallel()
	g := New(2)
	ctx := context.Background()
	for range 2 {
		if err := g.Acquire(ctx, 1, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan int64, 10)
	for i := range 3 {
		acquireAsync(t, g, 1, got)
		waitQueued(t, g, i+1)
	}
	acquireAsync(t, g, 2, got)
	waitQueued(t, g, 4)
	g.Release(1)
	if first := <-got; first != 2 {
		t.Fatalf("first granted: tenant %d, want 2 (it held none; tenant 1 held 1)", first)
	}
	// Then tenant 1's waiters, as slots come back.
	g.Release(2)
	for range 3 {
		if x := <-got; x != 1 {
			t.Fatalf("granted %d, want 1", x)
		}
		g.Release(1)
	}
}

// No starvation: tenant 1 waits while tenants 2.. keep arriving and leaving; it is served once its
// count is not above theirs, before anyone who arrived after it.
func TestNoStarvation(t *testing.T) {
	t.Parallel()
	g := New(2)
	ctx := context.Background()
	for range 2 { // tenant 1 holds both slots
		if err := g.Acquire(ctx, 1, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan int64, 10)
	acquireAsync(t, g, 1, got) // tenant 1 waits
	waitQueued(t, g, 1)
	acquireAsync(t, g, 2, got) // tenant 2 arrives later
	waitQueued(t, g, 2)
	g.Release(1) // tenant 1 holds 1, tenant 2 none: tenant 2 goes first
	if x := <-got; x != 2 {
		t.Fatalf("granted %d, want 2", x)
	}
	acquireAsync(t, g, 3, got) // tenant 3 arrives after tenant 1's waiter
	waitQueued(t, g, 2)
	g.Release(1) // both hold none now: the earlier arrival goes
	if x := <-got; x != 1 {
		t.Fatalf("granted %d, want 1 (it arrived before tenant 3 and holds as few)", x)
	}
	g.Release(2)
	if x := <-got; x != 3 {
		t.Fatalf("granted %d, want 3", x)
	}
	g.Release(1)
	g.Release(3)
	if g.Waiting() != 0 || g.Held(1)+g.Held(2)+g.Held(3) != 0 {
		t.Fatal("state left behind")
	}
}

// A tenant at its cap waits busyWait, then gets ErrBusy, and holds nothing more.
func TestCapBusy(t *testing.T) {
	t.Parallel()
	g := New(0)
	ctx := context.Background()
	for range 2 {
		if err := g.Acquire(ctx, 7, 2, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := g.Acquire(ctx, 7, 2, 50*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("third acquire: %v, want ErrBusy", err)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("ErrBusy before the wait was over")
	}
	if err := g.Acquire(ctx, 8, 2, 0); err != nil { // another tenant is not held up
		t.Fatal(err)
	}
	if h := g.Held(7); h != 2 {
		t.Fatalf("tenant 7 holds %d, want 2", h)
	}
	// A waiter within its wait gets the slot a release frees.
	done := make(chan error)
	go func() { done <- g.Acquire(ctx, 7, 2, 5*time.Second) }()
	waitQueued(t, g, 1)
	g.Release(7)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g.Waiting() != 0 || g.Held(7) != 2 {
		t.Fatalf("waiting %d, held %d", g.Waiting(), g.Held(7))
	}
}

// A waiter whose context ends leaves the queue and holds nothing.
func TestCancelLeavesQueue(t *testing.T) {
	t.Parallel()
	g := New(1)
	if err := g.Acquire(context.Background(), 1, 0, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Acquire(ctx, 2, 0, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if g.Waiting() != 0 || g.Held(2) != 0 {
		t.Fatal("the cancelled waiter left state behind")
	}
	g.Release(1)
	if err := g.Acquire(context.Background(), 2, 0, 0); err != nil {
		t.Fatal(err)
	}
}
