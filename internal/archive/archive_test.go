package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func table(name string, rows string) (Table, string) {
	sum := sha256.Sum256([]byte(rows))
	return Table{Name: name, Columns: []Column{{Name: "id", Type: "bigint"}, {Name: "body", Type: "text"}}, OrderBy: []string{"id"},
		Rows: int64(strings.Count(rows, "\n")), Bytes: int64(len(rows)), SHA256: hex.EncodeToString(sum[:])}, rows
}

func sample(t *testing.T) []byte {
	t.Helper()
	a, ra := table("a", "1\tone\n2\t\\N\n")
	b, rb := table("b", "")
	c, rc := table("c", "7\ttab\\there\n")
	m := &Manifest{CreatedAt: time.Unix(1700000000, 0).UTC(), Tenant: Tenant{ID: 4, Slug: "acme"}, Version: 3, Tables: []Table{a, b, c}}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, rows := range []string{ra, rb, rc} {
		if err := w.WriteTable(strings.NewReader(rows)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readAll(data []byte) (*Manifest, []string, error) {
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	var got []string
	for {
		_, rows, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		b, err := io.ReadAll(rows)
		if err != nil {
			return nil, nil, err
		}
		got = append(got, string(b))
	}
	return r.Manifest(), got, r.Close()
}

func TestRoundTrip(t *testing.T) {
	m, got, err := readAll(sample(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Tenant.Slug != "acme" || m.Version != 3 || m.FormatVersion != FormatVersion || len(got) != 3 || got[0] != "1\tone\n2\t\\N\n" || got[1] != "" || got[2] != "7\ttab\\there\n" {
		t.Fatalf("%+v %q", m, got)
	}
}

// Every truncation of an archive is refused, by NewReader, Next, a table's reader or Close.
func TestEveryTruncationRefused(t *testing.T) {
	data := sample(t)
	for n := 0; n < len(data); n++ {
		if _, _, err := readAll(data[:n]); !errors.Is(err, ErrInvalid) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(data), err)
		}
	}
}

// A single-byte change is refused, or changes nothing that is read (gzip header bytes such as
// the mtime, or deflate bits that decode to the same bytes): what is accepted is always exactly
// what was written.
func TestEveryByteFlipRefusedOrHarmless(t *testing.T) {
	data := sample(t)
	want, wantRows, err := readAll(data)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0x01
		m, rows, err := readAll(bad)
		if err != nil {
			refused++
			continue
		}
		if m.Tenant.Slug != want.Tenant.Slug || m.Tenant.ID != want.Tenant.ID || strings.Join(rows, "|") != strings.Join(wantRows, "|") {
			t.Fatalf("byte %d flipped: accepted with other contents", i)
		}
	}
	if refused < len(data)*9/10 {
		t.Fatalf("only %d of %d flips refused", refused, len(data))
	}
}

func TestWriterChecksTables(t *testing.T) {
	a, _ := table("a", "1\tone\n")
	w, err := NewWriter(io.Discard, &Manifest{Tenant: Tenant{ID: 1, Slug: "x"}, Tables: []Table{a}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTable(strings.NewReader("1\ttwo\n")); err == nil {
		t.Fatal("a table whose bytes changed was written")
	}
	if _, err := NewWriter(io.Discard, &Manifest{Format: Format, FormatVersion: FormatVersion + 1, Tenant: Tenant{ID: 1, Slug: "x"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("newer format: %v", err)
	}
	bad, _ := table("a", "")
	bad.Columns = append(bad.Columns, Column{Name: "tenant_id", Type: "bigint"})
	if _, err := NewWriter(io.Discard, &Manifest{Tenant: Tenant{ID: 1, Slug: "x"}, Tables: []Table{bad}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("tenant_id column: %v", err)
	}
}
