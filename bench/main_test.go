package main

import (
	"context"
	"strings"
	"testing"
)

// TestUsage: a missing or unknown command, a bad flag, a stray argument and bad soak flag values
// exit 2 with one clear line before anything is set up (DATABASE_URL points nowhere: set-up
// would fail with a connection error instead).
func TestUsage(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nowhere?connect_timeout=1")
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage: go run ./bench <command>"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"archive", "-nope"}, "flag provided but not defined: -nope"},
		{[]string{"migrate", "stray"}, `unexpected argument "stray"`},
		{[]string{"soak", "-tenants", "2", "-schema", "3", "-database", "1"}, "-schema 3 + -database 1 exceed -tenants 2"},
		{[]string{"soak", "-mode", "turbo"}, `-mode "turbo" is not a pgx exec mode`},
	} {
		var stdout, stderr strings.Builder
		if code := run(context.Background(), c.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}
