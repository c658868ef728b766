package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// fuzzSeed is a valid archive made by the package's own writer: three tables, one empty, with
// escapes and NULLs in the rows.
func fuzzSeed(tb testing.TB) []byte {
	tb.Helper()
	a, ra := table("a", "1\tone\n2\t\\N\n")
	b, rb := table("b", "")
	c, rc := table("c", "7\ttab\\there\n8\tline\\nbreak\n")
	m := &Manifest{CreatedAt: time.Unix(1700000000, 0).UTC(), Tenant: Tenant{ID: 4, Slug: "acme"}, Version: 3, Tables: []Table{a, b, c}}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, m)
	if err != nil {
		tb.Fatal(err)
	}
	for _, rows := range []string{ra, rb, rc} {
		if err := w.WriteTable(strings.NewReader(rows)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// hostileSeed is well formed but hostile: a shared table's name, a sequence at 2^63-2 and an
// id of 2^63-2. The reader accepts it (the manifest says nothing about a database); restore
// refuses it (restore_hostile_test.go).
func hostileSeed(tb testing.TB) []byte {
	tb.Helper()
	u, ru := table("users", "9223372036854775806\tx\n")
	u.Sequences = []Sequence{{Column: "id", LastValue: math.MaxInt64 - 1, IsCalled: true}}
	m := &Manifest{CreatedAt: time.Unix(1700000000, 0).UTC(), Tenant: Tenant{ID: 4, Slug: "acme"}, Version: 1, Tables: []Table{u}}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, m)
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.WriteTable(strings.NewReader(ru)); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzRead feeds arbitrary bytes to the reader. It must never panic; whatever it refuses it
// refuses with ErrInvalid; and whatever it accepts is a well-formed archive: writing the manifest
// and rows it read with the package's writer and reading that back gives the same manifest and
// the same rows.
//
//	go test -run '^$' -fuzz FuzzRead -fuzztime 120s ./internal/archive
func FuzzRead(f *testing.F) {
	seed := fuzzSeed(f)
	f.Add(seed)
	for _, n := range []int{0, 1, 10, 18, len(seed) / 4, len(seed) / 2, len(seed) - 9, len(seed) - 1} {
		f.Add(seed[:n])
	}
	flipped := bytes.Clone(seed)
	flipped[len(flipped)/2] ^= 0x20
	f.Add(flipped)
	f.Add(append(bytes.Clone(seed), seed...)) // a second gzip member after the first
	f.Add(hostileSeed(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, rows, err := readAll(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refused without ErrInvalid: %v", err)
			}
			return
		}
		// Accepted: it must round-trip through the writer.
		var buf bytes.Buffer
		m2 := *m
		m2.Tables = append([]Table(nil), m.Tables...)
		w, err := NewWriter(&buf, &m2)
		if err != nil {
			t.Fatalf("an accepted manifest cannot be written again: %v", err)
		}
		if len(rows) != len(m.Tables) {
			t.Fatalf("accepted with %d tables of rows for %d tables in the manifest", len(rows), len(m.Tables))
		}
		for i, r := range rows {
			if err := w.WriteTable(strings.NewReader(r)); err != nil {
				t.Fatalf("accepted rows of table %d cannot be written again: %v", i, err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		m3, rows3, err := readAll(buf.Bytes())
		if err != nil {
			t.Fatalf("the rewritten archive is refused: %v", err)
		}
		j1, _ := json.Marshal(m)
		j3, _ := json.Marshal(m3)
		if !bytes.Equal(j1, j3) {
			t.Fatalf("manifest changed in the round trip:\n%s\n%s", j1, j3)
		}
		if strings.Join(rows, "\x00|") != strings.Join(rows3, "\x00|") {
			t.Fatalf("rows changed in the round trip: %q vs %q", rows, rows3)
		}
	})
}
