package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// GraphQL introspection is off in serve (production) and on in demo (to explore the API), and
// the flag reaches the application's configuration.
func TestIntrospectionFlag(t *testing.T) {
	t.Parallel()
	getenv := func(string) string { return "" }
	for _, c := range []struct {
		cmd  *cobra.Command
		want string
	}{
		{serveCommand(io.Discard, io.Discard, getenv), "false"},
		{demoCommand(io.Discard, io.Discard, getenv), "true"},
	} {
		fl := c.cmd.Flags().Lookup("graphql-introspection")
		if fl == nil || fl.DefValue != c.want {
			t.Errorf("%s --graphql-introspection: %+v, want default %s", c.cmd.Name(), fl, c.want)
		}
	}
	for _, on := range []bool{false, true} {
		f := serveFlags{introspection: on}
		if got := f.appConfig(nil, nil).GraphQLIntrospection; got != on {
			t.Errorf("appConfig: GraphQLIntrospection %v, want %v", got, on)
		}
	}
}

// --trusted-proxies takes addresses and prefixes, refuses anything else, and reaches the
// application's configuration; without it no proxy is trusted.
func TestTrustedProxiesFlag(t *testing.T) {
	t.Parallel()
	cmd := serveCommand(io.Discard, io.Discard, func(string) string { return "" })
	if err := cmd.Flags().Set("trusted-proxies", "10.0.0.1, 192.168.0.0/16,::1"); err != nil {
		t.Fatal(err)
	}
	var f serveFlags
	if err := f.proxies.Set("10.0.0.1, 192.168.7.0/16,::1"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.appConfig(nil, nil).TrustedProxies); got != "[10.0.0.1/32 192.168.0.0/16 ::1/128]" {
		t.Fatalf("TrustedProxies %s", got)
	}
	if err := f.proxies.Set("proxy.example.com"); err == nil {
		t.Fatal("a host name was taken as a proxy address")
	}
	if got := (&serveFlags{}).appConfig(nil, nil).TrustedProxies; len(got) != 0 {
		t.Fatalf("no flag: TrustedProxies %v", got)
	}
}

// The console has no built-in password, in the demo neither: without the flag or the variable
// it stays off (both commands take it through fromEnv).
func TestOperatorPasswordHasNoDefault(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	for _, cmd := range []*cobra.Command{serveCommand(io.Discard, io.Discard, none), demoCommand(io.Discard, io.Discard, none)} {
		if fl := cmd.Flags().Lookup("operator-password"); fl == nil || fl.DefValue != "" {
			t.Errorf("%s --operator-password: %+v, want no default", cmd.Name(), fl)
		}
	}
	for _, env := range []string{"", "from-env"} {
		var f serveFlags
		f.fromEnv(func(k string) string {
			if k == "TASKBOARD_OPERATOR_PASSWORD" {
				return env
			}
			return ""
		})
		if got := f.appConfig(nil, nil).OperatorPassword; got != env {
			t.Errorf("TASKBOARD_OPERATOR_PASSWORD=%q: password %q", env, got)
		}
	}
}

// taskboard's commands and tenancy's are one command tree: help lists both groups, and a usage
// error in either is exit 2 with a pointer to that command's help.
func TestCommandTree(t *testing.T) {
	t.Parallel()
	getenv := func(string) string { return "" }
	run := func(args ...string) (int, string, string) {
		var stdout, stderr strings.Builder
		code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, getenv)
		return code, stdout.String(), stderr.String()
	}
	if code, out, _ := run("--help"); code != 0 || !strings.Contains(out, "Application commands:\n  demo ") || !strings.Contains(out, "Operator commands:\n  backup ") {
		t.Fatalf("--help: exit %d, stdout %q", code, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "x"}, "Run 'taskboard serve --help'"},
		{[]string{"tokens"}, "Run 'taskboard tokens --help'"},
		{[]string{"tenants", "frob"}, "Run 'taskboard tenants --help'"},
		{[]string{"demo", "--frob"}, "Run 'taskboard demo --help'"},
		{[]string{"frob"}, "Run 'taskboard --help'"},
		{nil, "Run 'taskboard --help'"},
	} {
		if code, _, errOut := run(c.args...); code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, stderr %q", c.args, code, errOut)
		}
	}
	if code, out, _ := run("version"); code != 0 || !strings.HasPrefix(out, "github.com/tenancy-go/tenancy ") {
		t.Fatalf("version: exit %d, stdout %q", code, out)
	}
}
