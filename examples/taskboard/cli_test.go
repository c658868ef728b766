package main

import (
	"io"
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
