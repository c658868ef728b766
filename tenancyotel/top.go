package tenancyotel

import (
	"cmp"
	"container/heap"
	"slices"
	"sync"
	"time"
)

// OtherTenants is the tenant label of every tenant outside the top ones. It cannot be a slug:
// slugs start with a letter.
const OtherTenants = "_other"

// topTenants chooses the tenants that get a metric label of their own: at most n at any time.
// The first n tenants seen take the places at once; from then on, every window, the places go
// to the n tenants with the most calls. Calls are counted with the Space-Saving algorithm
// (Metwally et al., 2005) in a fixed number of counters, so memory does not grow with the
// number of tenants, and the counts are halved every window so that the choice follows recent
// activity.
type topTenants struct {
	n        int
	capacity int
	window   time.Duration
	now      func() time.Time

	mu    sync.Mutex
	seen  map[int64]*counted
	heap  countHeap // the counters, least count first
	named map[int64]string
	next  time.Time
}

type counted struct {
	id    int64
	slug  string
	count uint64
	index int // in the heap
}

func newTopTenants(n int, window time.Duration, now func() time.Time) *topTenants {
	return &topTenants{
		n: n, capacity: max(8*n, 64), window: window, now: now,
		seen: map[int64]*counted{}, named: map[int64]string{},
	}
}

// label counts a call of tenant id and returns its label: its slug if it is one of the top
// tenants, else OtherTenants.
func (t *topTenants) label(id int64, slug string) string {
	if t.n <= 0 {
		return OtherTenants
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.count(id, slug)
	if now := t.now(); t.next.IsZero() {
		t.next = now.Add(t.window)
	} else if !now.Before(t.next) {
		t.choose()
		t.next = now.Add(t.window)
	}
	if s, ok := t.named[id]; ok {
		return s
	}
	if len(t.named) < t.n {
		t.named[id] = slug
		return slug
	}
	return OtherTenants
}

func (t *topTenants) count(id int64, slug string) {
	if e, ok := t.seen[id]; ok {
		e.count++
		heap.Fix(&t.heap, e.index)
		return
	}
	if len(t.heap) < t.capacity {
		e := &counted{id: id, slug: slug, count: 1}
		t.seen[id] = e
		heap.Push(&t.heap, e)
		return
	}
	// The new tenant takes the counter of the least counted one and its count: an
	// over-estimate by at most that count, which is what keeps memory fixed.
	e := t.heap[0]
	delete(t.seen, e.id)
	e.id, e.slug = id, slug
	e.count++
	t.seen[id] = e
	heap.Fix(&t.heap, 0)
}

// choose gives the places to the n most counted tenants and halves every count.
func (t *topTenants) choose() {
	top := slices.Clone(t.heap)
	slices.SortFunc(top, func(a, b *counted) int { return cmp.Compare(b.count, a.count) })
	named := make(map[int64]string, t.n)
	for _, e := range top[:min(t.n, len(top))] {
		named[e.id] = e.slug
	}
	t.named = named
	for _, e := range t.heap {
		e.count /= 2 // order-preserving: the heap stays a heap
	}
}

// countHeap is a min-heap of counters (container/heap).
type countHeap []*counted

func (h countHeap) Len() int           { return len(h) }
func (h countHeap) Less(i, j int) bool { return h[i].count < h[j].count }
func (h countHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *countHeap) Push(x any) {
	e := x.(*counted)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *countHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
