// Command soak runs the isolation soak (bench/soak/isolation) at full size on the test cluster
// (TEST_DATABASE_URL, or the local one tenancytest starts) and prints its report:
//
//	go run ./bench/soak -tenants 1000 -requests 1000000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/bench/soak/isolation"
	"github.com/tenancy-go/tenancy/tenancytest"
)

func main() {
	tenants := flag.Int("tenants", 1000, "tenants in all")
	schema := flag.Int("schema", 90, "of which in the schema tier")
	database := flag.Int("database", 10, "of which in the database tier (the rest: pool tier)")
	requests := flag.Int64("requests", 1000000, "requests to send")
	duration := flag.Duration("duration", time.Hour, "stop after this long even if fewer requests were sent")
	workers := flag.Int("workers", 16, "concurrent workers")
	conns := flag.Int("conns", 4, "application pool connections (small: connections are reused constantly)")
	httpShare := flag.Float64("http", 0.3, "share of requests sent through the HTTP stack")
	faults := flag.Bool("faults", true, "inject faults")
	kill := flag.Duration("kill-every", 100*time.Millisecond, "interval between pg_terminate_backend calls")
	mode := flag.String("mode", "cache_statement", "pgx exec mode of the application pool: cache_statement, cache_describe, describe_exec, exec, simple_protocol")
	asJSON := flag.Bool("json", false, "print the report as JSON")
	flag.Parse()
	if err := run(*tenants, *schema, *database, *requests, *duration, *workers, int32(*conns), *httpShare, *faults, *kill, *mode, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(tenants, schema, database int, requests int64, duration time.Duration, workers int, conns int32, httpShare float64, faults bool, kill time.Duration, mode string, asJSON bool) error {
	if schema+database > tenants {
		return fmt.Errorf("-schema %d + -database %d exceed -tenants %d", schema, database, tenants)
	}
	modes := map[string]pgx.QueryExecMode{
		"cache_statement": pgx.QueryExecModeCacheStatement, "cache_describe": pgx.QueryExecModeCacheDescribe,
		"describe_exec": pgx.QueryExecModeDescribeExec, "exec": pgx.QueryExecModeExec, "simple_protocol": pgx.QueryExecModeSimpleProtocol,
	}
	m, ok := modes[mode]
	if !ok {
		return fmt.Errorf("-mode %q is not a pgx exec mode", mode)
	}
	ctx := context.Background()
	db, cleanup, err := tenancytest.Open(ctx, isolation.Options())
	if err != nil {
		return err
	}
	defer cleanup()
	c, pool, appName, err := isolation.AppClient(ctx, db, db.AppURL, m, conns)
	if err != nil {
		return err
	}
	defer pool.Close()
	defer c.Close()
	start := time.Now()
	ts, err := isolation.Setup(ctx, c, isolation.Split{Pool: tenants - schema - database, Schema: schema, Database: database})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "soak: %d tenants (%d pool, %d schema, %d database) made in %s\n", len(ts), tenants-schema-database, schema, database, time.Since(start).Round(time.Millisecond))
	rep, err := isolation.Run(ctx, isolation.Config{
		Client: c, Super: db.Server.SuperPool(), SuperURL: db.Server.URL("", db.Name), AppName: appName,
		Tenants: ts, Requests: requests, Duration: duration, Workers: workers, HTTP: httpShare,
		Faults: faults, KillEvery: kill,
		Log: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
	})
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Printf("soak: %d tenants (%d pool, %d schema, %d database), %d workers, %d connections, exec mode %s, faults %v\n", len(ts), tenants-schema-database, schema, database, workers, conns, mode, faults)
		fmt.Print(rep)
	}
	if !rep.Clean() || len(rep.Errors) > 0 {
		return fmt.Errorf("the soak found problems")
	}
	return nil
}
