package tenancyotel

import (
	"fmt"
	"testing"
	"time"
)

// TestTopTenants: at most n tenants have a label of their own at any time, whatever the number
// of tenants; the first n seen take the places at once; every window the places go to the most
// active tenants, so a tenant that becomes busy gets its own label and an idle one loses it.
func TestTopTenants(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	top := newTopTenants(2, time.Minute, func() time.Time { return now })
	labels := map[string]bool{}
	call := func(id int64) string {
		l := top.label(id, fmt.Sprintf("t%d", id))
		labels[l] = true
		return l
	}
	if call(1) != "t1" || call(2) != "t2" || call(3) != OtherTenants {
		t.Fatalf("the first two tenants take the places: %v", labels)
	}
	// Ten thousand tenants, one call each, and tenant 9 busy: still two labels of their own.
	for id := int64(3); id < 10_000; id++ {
		call(id)
		call(9)
	}
	if len(labels) != 3 || !labels["t1"] || !labels["t2"] || !labels[OtherTenants] {
		t.Fatalf("labels within a window: %v, want t1, t2 and %s", labels, OtherTenants)
	}
	if n := len(top.heap); n != top.capacity {
		t.Fatalf("%d counters, want the fixed %d", n, top.capacity)
	}
	// The next window: tenant 9 is the busiest; tenant 1 keeps calling, tenant 2 went quiet.
	for range 100 {
		call(1)
	}
	now = now.Add(time.Minute)
	if l := call(9); l != "t9" {
		t.Fatalf("the busiest tenant after the window: %s, want t9", l)
	}
	if l := call(1); l != "t1" {
		t.Fatalf("a busy tenant after the window: %s, want t1", l)
	}
	if l := call(2); l != OtherTenants {
		t.Fatalf("a quiet tenant after the window: %s, want %s", l, OtherTenants)
	}
	if len(top.named) > 2 {
		t.Fatalf("%d tenants named, want at most 2", len(top.named))
	}
}

// TestTopTenantsNone: a negative TopTenants names nobody.
func TestTopTenantsNone(t *testing.T) {
	t.Parallel()
	top := newTopTenants(-1, time.Minute, time.Now)
	if l := top.label(1, "acme"); l != OtherTenants {
		t.Fatalf("label %s, want %s", l, OtherTenants)
	}
}
