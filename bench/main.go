// Command bench runs the load tests behind the figures of docs/benchmarks.md and
// docs/reliability.md, one subcommand per workload:
//
//	go run ./bench archive [-tenants 1000 -rows 300 -move-rows 100000 -reps 5 -creates 100 -reuse] # package bench/archive
//	go run ./bench migrate [-tenants 10000 -create 200 -naive 1000 -reuse]       # package bench/migrate
//	go run ./bench soak [-tenants 1000 -schema 90 -database 10 -requests 1000000] # package bench/soak
//	go run ./bench noisy [-quiet 100 -noisy-workers 32 -conns 8 -cap 2 -phase 10s]   # package bench/noisy
//	go run ./bench citus [-tenants 100000 -rows 5 -workers 8 -duration 10s -creates 100] # package bench/citus
//
// Each subcommand gets its database from tenancytest.Open, as the tests do: an owner role that
// is not a superuser, an application role that owns nothing and has no BYPASSRLS, the catalog
// and the workload's migrations installed; the database is dropped at the end (except migrate's
// with -reuse). The server is DATABASE_URL (a superuser) when set; otherwise, with -fast,
// tenancytest's own cluster (TEST_DATABASE_URL, or the local test cluster, fsync off), and
// without it a durable local cluster that bench starts in $TMPDIR/tenancy-bench from the
// installed PostgreSQL binaries. soak runs with -fast unless told -fast=false.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/bench/archive"
	"github.com/tenancy-go/tenancy/bench/citus"
	"github.com/tenancy-go/tenancy/bench/memory"
	"github.com/tenancy-go/tenancy/bench/migrate"
	"github.com/tenancy-go/tenancy/bench/noisy"
	"github.com/tenancy-go/tenancy/bench/soak"
	"github.com/tenancy-go/tenancy/tenancytest"
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

// reuseDatabase is the database migrate -reuse keeps its fleet in between runs;
// archiveReuseDatabase archive's.
const (
	reuseDatabase        = "bench_migrate"
	archiveReuseDatabase = "bench_archive"
)

const usage = `usage: go run ./bench <command> [flags]

commands:
  archive   backup, restore and move among a schema-tier fleet, against pg_dump and pg_restore
  memory    backend memory after serving N schema-tier tenants, without and with connection recycling
  migrate   one new migration and nothing to apply across a fleet, against psql and a naive migrator
  soak      isolation soak: tenant-bound requests in three tiers with faults, every row checked
  noisy     one tenant hammering beside quiet ones: their latency with and without limits
  citus     a pool of 100,000 tenants on Citus (two workers) against a single node: reads, creates

"go run ./bench <command> -h" lists a command's flags.
`

// run is the command line: exit code 0 ok, 1 failure, 2 usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name := args[0]
	fs := flag.NewFlagSet("bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	var (
		fastDefault bool        // soak runs with -fast unless told -fast=false
		reuse       = new(bool) // migrate and archive
		keepName    = reuseDatabase
		dbOpt       *tenancytest.Options
		work        func(ctx context.Context, db *tenancytest.DB, bin string) error
		check       = func() error { return nil } // bad flag values, found before anything is set up
	)
	switch name {
	case "archive":
		o := archive.Options{Log: logf}
		fs.IntVar(&o.Tenants, "tenants", 1000, "schema-tier tenants in the fleet")
		fs.IntVar(&o.Rows, "rows", 300, "rows per table of the tenant backed up")
		fs.IntVar(&o.MoveRows, "move-rows", 100000, "rows of the tenant moved (0: skip the move)")
		fs.IntVar(&o.Reps, "reps", 5, "repetitions of each timing (the median is reported)")
		fs.IntVar(&o.Creates, "creates", 100, "tenants made by TenantCreate, cold and from the warm pool (0: skip)")
		fs.IntVar(&o.DumpReps, "dump-reps", 0, "repetitions of pg_dump (0: -reps)")
		fs.BoolVar(reuse, "reuse", false, "keep the fleet in database "+archiveReuseDatabase+" for the next -reuse run; use the one an earlier -reuse run left")
		dbOpt = archive.DBOptions()
		keepName = archiveReuseDatabase
		work = func(ctx context.Context, db *tenancytest.DB, bin string) error {
			o.BinDir, o.Reuse = bin, *reuse
			_, err := archive.Run(ctx, db, o, stdout)
			return err
		}
	case "memory":
		o := memory.Options{Log: logf}
		counts := fs.String("counts", "100,1000,10000", "tenants touched by one connection, comma-separated (the fleet is the largest)")
		fs.IntVar(&o.MaxTenants, "max-tenants", tenancy.ConnMaxTenantsDefault, "Config.ConnMaxTenants of the recycled run")
		fs.BoolVar(reuse, "reuse", false, "use (and keep) the fleet of database "+reuseDatabase+" (go run ./bench migrate -reuse)")
		dbOpt = memory.DBOptions()
		check = func() error {
			for _, f := range strings.Split(*counts, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n <= 0 {
					return fmt.Errorf("-counts: %q is not a positive number", f)
				}
				o.Counts = append(o.Counts, n)
			}
			return nil
		}
		work = func(ctx context.Context, db *tenancytest.DB, _ string) error {
			_, err := memory.Run(ctx, db, o, stdout)
			return err
		}
	case "migrate":
		o := migrate.Options{Log: logf}
		fs.IntVar(&o.Tenants, "tenants", 10000, "tenants in the fleet")
		fs.IntVar(&o.Create, "create", 200, "tenants created with TenantCreate (timed); the rest are generated in bulk")
		fs.IntVar(&o.Naive, "naive", 1000, "tenants migrated by the naive baseline (0: skip)")
		fs.IntVar(&o.Concurrency, "concurrency", 0, "MigrateOpts.Concurrency (0: tenancy's default)")
		fs.BoolVar(reuse, "reuse", false, "keep the fleet in database "+reuseDatabase+" for the next -reuse run; use (and finish) the one an earlier -reuse run left")
		dbOpt = migrate.DBOptions()
		work = func(ctx context.Context, db *tenancytest.DB, bin string) error {
			o.PsqlDir = bin
			_, err := migrate.Run(ctx, db, o, stdout)
			return err
		}
	case "soak":
		o := soak.Options{Log: logf}
		fs.IntVar(&o.Tenants, "tenants", 1000, "tenants in all")
		fs.IntVar(&o.Schema, "schema", 90, "of which in the schema tier")
		fs.IntVar(&o.Database, "database", 10, "of which in the database tier (the rest: pool tier)")
		fs.Int64Var(&o.Requests, "requests", 1000000, "requests to send")
		fs.DurationVar(&o.Duration, "duration", time.Hour, "stop after this long even if fewer requests were sent")
		fs.IntVar(&o.Workers, "workers", 16, "concurrent workers")
		conns := fs.Int("conns", 4, "application pool connections (small: connections are reused constantly)")
		fs.Float64Var(&o.HTTP, "http", 0.3, "share of requests sent through the HTTP stack")
		fs.BoolVar(&o.Faults, "faults", true, "inject faults")
		fs.DurationVar(&o.KillEvery, "kill-every", 100*time.Millisecond, "interval between pg_terminate_backend calls")
		fs.StringVar(&o.Mode, "mode", "cache_statement", "pgx exec mode of the application pool: cache_statement, cache_describe, describe_exec, exec, simple_protocol")
		fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
		fastDefault = true
		dbOpt = soak.DBOptions()
		check = func() error {
			o.Conns = int32(*conns)
			return o.Validate()
		}
		work = func(ctx context.Context, db *tenancytest.DB, _ string) error {
			_, err := soak.Run(ctx, db, o, stdout)
			return err
		}
	case "noisy":
		o := noisy.Options{Log: logf}
		fs.IntVar(&o.Quiet, "quiet", 100, "quiet tenants")
		fs.IntVar(&o.QuietWorkers, "quiet-workers", 4, "concurrent quiet clients")
		fs.DurationVar(&o.Think, "think", 2*time.Millisecond, "pause between a quiet client's requests")
		fs.IntVar(&o.NoisyWorkers, "noisy-workers", 32, "concurrent slow calls of the noisy tenant")
		fs.DurationVar(&o.NoisySleep, "noisy-sleep", 200*time.Millisecond, "pg_sleep of each noisy call")
		conns := fs.Int("conns", 8, "application pool connections")
		fs.IntVar(&o.Cap, "cap", 2, "the noisy tenant's Limits.MaxConcurrent in the last phase")
		fs.DurationVar(&o.Phase, "phase", 10*time.Second, "length of each of the four phases")
		tier := fs.String("tier", "schema", "tier of every tenant")
		fastDefault = true
		dbOpt = noisy.DBOptions()
		check = func() error {
			o.Conns, o.Tier = int32(*conns), tenancy.Tier(*tier)
			dbOpt.AppMaxConns = o.Conns
			return o.Validate()
		}
		work = func(ctx context.Context, db *tenancytest.DB, _ string) error {
			_, err := noisy.Run(ctx, db, o, stdout)
			return err
		}
	case "citus":
		o := citus.Options{Log: logf}
		fs.IntVar(&o.Tenants, "tenants", 100000, "pool tenants, made in bulk")
		fs.IntVar(&o.Rows, "rows", 5, "rows per tenant")
		fs.IntVar(&o.Sample, "sample", 2000, "tenants the readers pick from at random")
		fs.IntVar(&o.Workers, "workers", 8, "concurrent readers")
		conns := fs.Int("conns", 8, "application pool connections")
		fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each read phase")
		fs.IntVar(&o.Creates, "creates", 100, "pool tenants made by TenantCreate, timed (0: skip)")
		// The Citus nodes run with fsync off, as tenancytest's cluster: so does the plain side.
		fastDefault = true
		dbOpt = citus.DBOptions()
		check = func() error {
			o.Conns = int32(*conns)
			dbOpt.AppMaxConns = o.Conns
			return o.Validate()
		}
		work = func(ctx context.Context, db *tenancytest.DB, _ string) error {
			_, err := citus.Run(ctx, db, o, stdout)
			return err
		}
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "bench: unknown command %q\n%s", name, usage)
		return 2
	}
	fast := fs.Bool("fast", fastDefault, "fsync off: tenancytest's cluster instead of a durable one (no effect with DATABASE_URL)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench %s: unexpected argument %q\n", name, fs.Arg(0))
		return 2
	}
	if err := check(); err != nil {
		fmt.Fprintf(stderr, "bench %s: %v\n", name, err)
		return 2
	}
	if err := setUpAndRun(ctx, *fast, *reuse, keepName, dbOpt, work); err != nil {
		fmt.Fprintf(stderr, "bench %s: %v\n", name, err)
		return 1
	}
	return 0
}
