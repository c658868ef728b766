// Command tenancy manages the tenants of a multi-tenant PostgreSQL application: tenancy init,
// tenancy tenants create|list|show|..., tenancy domains add|remove|list, and more. Run
// `tenancy --help`. Applications embed the same commands with package tenancycli.
package main

import (
	"context"
	"os"

	"github.com/tenancy-go/tenancy/tenancycli"
)

func main() {
	os.Exit(tenancycli.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil))
}
