package main

import (
	"context"
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
