package tenancycli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy/tenancycli"
)

// A program name of two words ("myapp tenancy", the tree run under an application's own
// command) is the start of every usage line, not just its first word.
func TestProgramNameTwoWords(t *testing.T) {
	t.Parallel()
	run := func(args ...string) result {
		var stdout, stderr bytes.Buffer
		code := tenancycli.Run(context.Background(), args, nil, &stdout, &stderr,
			&tenancycli.Options{ProgramName: "myapp tenancy", Getenv: func(string) string { return "" }})
		return result{code, stdout.String(), stderr.String()}
	}
	if r := run("tenants", "create", "--help"); r.code != 0 || !strings.Contains(r.stdout, "\n  myapp tenancy tenants create SLUG [flags]\n") {
		t.Fatalf("tenants create --help: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := run("frob"); r.code != 2 || !strings.Contains(r.stderr, "Run 'myapp tenancy --help' for usage.") {
		t.Fatalf("unknown command: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, args := range [][]string{{"tenants", "create"}, {"migrate"}, {"backup"}, {"move"}, {"exec"}} {
		if r := run(append(args, "--help")...); r.code != 0 || !strings.Contains(r.stdout, "Examples:\n  myapp tenancy "+args[0]) {
			t.Errorf("%q --help: exit %d, no examples naming the program: %q", args, r.code, r.stdout)
		}
	}
	if r := run("tenants", "show"); r.code != 2 || !strings.Contains(r.stderr, "Run 'myapp tenancy tenants show --help' for usage.") {
		t.Fatalf("missing argument: exit %d, stderr %q", r.code, r.stderr)
	}
}

// An application mounts the tree under its own root: `myapp tenancy ...` beside its own
// commands, with its migrations compiled in, run by Execute (Run's exit codes and error lines)
// or by cobra itself.
func TestCommandMounted(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	myapp := func() *cobra.Command {
		root := &cobra.Command{Use: "myapp"}
		root.AddCommand(&cobra.Command{Use: "hello", RunE: func(cmd *cobra.Command, args []string) error {
			cmd.Println("hello from myapp")
			return nil
		}})
		root.AddCommand(tenancycli.Command(&tenancycli.Options{
			ProgramName:      "myapp tenancy",
			SharedMigrations: os.DirFS(migrationsDir + "/shared"),
			TenantMigrations: os.DirFS(migrationsDir + "/tenant"),
			Getenv:           func(string) string { return "" },
		}))
		return root
	}
	conn := []string{"--database-url", tg.db.AdminURL, "--app-url", tg.db.AppURL}
	run := func(args ...string) result {
		var stdout, stderr bytes.Buffer
		code := tenancycli.Execute(context.Background(), myapp(), args, nil, &stdout, &stderr)
		return result{code, stdout.String(), stderr.String()}
	}
	if r := run("hello"); r.code != 0 || r.stdout != "hello from myapp\n" {
		t.Fatalf("hello: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := run(append([]string{"tenancy", "tenants", "create", "acme", "--json"}, conn...)...); r.code != 0 || !strings.Contains(r.stdout, `"version": 1`) {
		t.Fatalf("tenancy tenants create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := run(append([]string{"tenancy", "tenants", "create", "acme"}, conn...)...); r.code != 1 || r.stderr != "myapp: tenant already exists: acme\n" {
		t.Fatalf("duplicate: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run("tenancy", "frob"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "frob" for "myapp tenancy"`) || !strings.Contains(r.stderr, "Run 'myapp tenancy --help' for usage.") {
		t.Fatalf("unknown tenancy command: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run("frob"); r.code != 2 || !strings.Contains(r.stderr, "Run 'myapp --help' for usage.") {
		t.Fatalf("unknown myapp command: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run("tenancy", "tenants", "list", "--frob"); r.code != 2 || !strings.Contains(r.stderr, "Run 'myapp tenancy tenants list --help' for usage.") {
		t.Fatalf("unknown flag: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run("tenancy", "tenants", "create", "--help"); r.code != 0 || !strings.Contains(r.stdout, "myapp tenancy tenants create SLUG [flags]") || !strings.Contains(r.stdout, "--database-url") {
		t.Fatalf("help: exit %d, stdout %q", r.code, r.stdout)
	}

	// Plain cobra: the output goes where the parent's SetOut says.
	root := myapp()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(append([]string{"tenancy", "tenants", "list"}, conn...))
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "acme") {
		t.Fatalf("cobra Execute: %v, stdout %q", err, out.String())
	}
	if got := tenancycli.ExitCode(root.Execute()); got != tenancycli.ExitOK {
		t.Fatalf("ExitCode of a success: %d", got)
	}
	root.SetArgs([]string{"tenancy", "tenants", "show"})
	if got := tenancycli.ExitCode(root.Execute()); got != tenancycli.ExitUsage {
		t.Fatalf("ExitCode of a missing argument: %d", got)
	}
}

// Shell completion: the completion command, command names, and the values of --tier.
func TestCompletion(t *testing.T) {
	t.Parallel()
	if r := cli(t, nil, "completion", "bash"); r.code != 0 || !strings.Contains(r.stdout, "bash completion V2 for tenancy") {
		t.Fatalf("completion bash: exit %d, stdout %.200q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, shell := range []string{"zsh", "fish", "powershell"} {
		if r := cli(t, nil, "completion", shell); r.code != 0 || !strings.Contains(r.stdout, "tenancy") {
			t.Fatalf("completion %s: exit %d, stderr %q", shell, r.code, r.stderr)
		}
	}
	complete := func(args ...string) []string {
		t.Helper()
		r := cli(t, nil, append([]string{cobra.ShellCompRequestCmd}, args...)...)
		if r.code != 0 {
			t.Fatalf("complete %q: exit %d, stderr %q", args, r.code, r.stderr)
		}
		var words []string
		for _, l := range strings.Split(r.stdout, "\n") {
			if w, _, _ := strings.Cut(l, "\t"); w != "" && !strings.HasPrefix(w, ":") {
				words = append(words, w)
			}
		}
		return words
	}
	if got := complete("ten"); strings.Join(got, " ") != "tenants" {
		t.Fatalf("complete ten: %q", got)
	}
	if got := complete("tenants", "cr"); strings.Join(got, " ") != "create" {
		t.Fatalf("complete tenants cr: %q", got)
	}
	for _, args := range [][]string{{"tenants", "create", "acme", "--tier", ""}, {"move", "acme", "--tier", ""}, {"tenants", "list", "--tier", ""}} {
		if got := complete(args...); strings.Join(got, " ") != "pool schema database" {
			t.Fatalf("complete %q: %q", args, got)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := cli(t, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "github.com/tenancy-go/tenancy ") || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("version: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = cli(t, nil, "version", "--json")
	var v struct{ Module, Version, Go string }
	if err := json.Unmarshal([]byte(r.stdout), &v); r.code != 0 || err != nil || v.Module != "github.com/tenancy-go/tenancy" || v.Version == "" || !strings.HasPrefix(v.Go, "go1.") {
		t.Fatalf("version --json: exit %d, %v, stdout %q", r.code, err, r.stdout)
	}
	if r := cli(t, nil, "version", "extra"); r.code != 2 {
		t.Fatalf("version extra: exit %d", r.code)
	}
}
