// Command taskboard is tenancy's reference application: a multi-tenant SaaS (organisations with
// projects, tasks and comments; one login for many organisations) with a public site, a web app
// per organisation on <slug>.localhost, REST and GraphQL APIs, and an operator console.
//
//	go run ./examples/taskboard demo     # local PostgreSQL, four demo organisations, http://localhost:8080
//	taskboard serve --addr :8080        # the application
//	taskboard tokens create acme --json # an API token for organisation acme
//	taskboard tenants list              # every `tenancy` command, with taskboard's migrations built in
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
