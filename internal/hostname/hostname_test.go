package hostname

import (
	"errors"
	"net"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		port     bool
	}{
		{"Acme.Example.COM", "acme.example.com", false},
		{"acme.example.com.", "acme.example.com", false},
		{"acme.localhost:8080", "acme.localhost", true},
		{"Bücher.example", "xn--bcher-kva.example", false},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", false},
		{"ACME.LOCALHOST.:80", "acme.localhost", true},
	} {
		got, err := Normalize(tc.in, tc.port)
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q, %v) = %q, %v; want %q", tc.in, tc.port, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", ".", "acme.localhost:8080", "a..b", "-a.b", "a-.b", "ab--c.d", "xn--zz.example", "a b.c",
		"a/b", "a_b.c", "1.2.3.4", "[::1]", "acme'; DROP TABLE tenancy.tenants; --", strings.Repeat("a", 64) + ".b",
		strings.Repeat("abcdefghi.", 26) + "com",
	} {
		if got, err := Normalize(in, false); !errors.Is(err, ErrInvalid) {
			t.Errorf("Normalize(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
}

// FuzzNormalize checks the ASCII fast path against IDNA and that a normalised host is a fixed point
// made only of lower-case letters, digits, hyphens and dots.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"acme.localhost", "ACME.example.com.", "a-b.c", "ab--c.d", "xn--bcher-kva.example",
		"Bücher.example", "1.2.3.4", "a..b", "x:80", "0.a", "9-9.z", strings.Repeat("a", 63) + ".b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		got, err := Normalize(host, false)
		if plainASCII(host) && net.ParseIP(host) == nil {
			want, werr := profile.ToASCII(host)
			if werr != nil || strings.ToLower(want) != got || err != nil {
				t.Fatalf("fast path %q = %q, %v; IDNA says %q, %v", host, got, err, want, werr)
			}
		}
		if err != nil {
			return
		}
		for i := 0; i < len(got); i++ {
			ch := got[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '.') {
				t.Fatalf("Normalize(%q) = %q contains %q", host, got, ch)
			}
		}
		again, err := Normalize(got, false)
		if err != nil || again != got {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", host, got, got, again, err)
		}
	})
}
