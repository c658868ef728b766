// Package soak runs the isolation soak (bench/soak/isolation) at full size and prints its report
// (`go run ./bench soak`).
package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/bench/soak/isolation"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// Options size a run.
type Options struct {
	Tenants, Schema, Database int // tenants in all; of which in the schema and database tiers (the rest: pool)
	Requests                  int64
	Duration                  time.Duration // stop after this long even if fewer requests were sent
	Workers                   int
	Conns                     int32   // application pool connections (small: connections are reused constantly)
	HTTP                      float64 // share of requests sent through the HTTP stack
	Faults                    bool
	KillEvery                 time.Duration // interval between pg_terminate_backend calls
	Mode                      string        // pgx exec mode of the application pool (Modes)
	JSON                      bool          // print the report as JSON
	Log                       func(format string, args ...any)
}

// Modes are the pgx exec modes Options.Mode may name.
var Modes = map[string]pgx.QueryExecMode{
	"cache_statement": pgx.QueryExecModeCacheStatement, "cache_describe": pgx.QueryExecModeCacheDescribe,
	"describe_exec": pgx.QueryExecModeDescribeExec, "exec": pgx.QueryExecModeExec, "simple_protocol": pgx.QueryExecModeSimpleProtocol,
}

// DBOptions is the database Run needs (tenancytest.New or Open).
func DBOptions() *tenancytest.Options { return isolation.Options() }

// Validate reports bad options before anything is set up.
func (o Options) Validate() error {
	if o.Schema+o.Database > o.Tenants {
		return fmt.Errorf("-schema %d + -database %d exceed -tenants %d", o.Schema, o.Database, o.Tenants)
	}
	if _, ok := Modes[o.Mode]; !ok {
		return fmt.Errorf("-mode %q is not a pgx exec mode", o.Mode)
	}
	return nil
}

// Run makes the tenants in db (made with DBOptions), runs the soak and prints its report to out.
// A run that finds a problem returns an error after printing.
func Run(ctx context.Context, db *tenancytest.DB, o Options, out io.Writer) (*isolation.Report, error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	c, pool, appName, err := isolation.AppClient(ctx, db, db.AppURL, Modes[o.Mode], o.Conns)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	defer c.Close()
	pooled := o.Tenants - o.Schema - o.Database
	start := time.Now()
	ts, err := isolation.Setup(ctx, c, isolation.Split{Pool: pooled, Schema: o.Schema, Database: o.Database})
	if err != nil {
		return nil, err
	}
	o.Log("soak: %d tenants (%d pool, %d schema, %d database) made in %s", len(ts), pooled, o.Schema, o.Database, time.Since(start).Round(time.Millisecond))
	rep, err := isolation.Run(ctx, isolation.Config{
		Client: c, Super: db.Server.SuperPool(), SuperURL: db.Server.URL("", db.Name), AppName: appName,
		Tenants: ts, Requests: o.Requests, Duration: o.Duration, Workers: o.Workers, HTTP: o.HTTP,
		Faults: o.Faults, KillEvery: o.KillEvery, Log: o.Log,
	})
	if err != nil {
		return nil, err
	}
	if o.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintf(out, "soak: %d tenants (%d pool, %d schema, %d database), %d workers, %d connections, exec mode %s, faults %v\n", len(ts), pooled, o.Schema, o.Database, o.Workers, o.Conns, o.Mode, o.Faults)
		fmt.Fprint(out, rep)
	}
	if !rep.Clean() || len(rep.Errors) > 0 {
		return rep, fmt.Errorf("the soak found problems")
	}
	return rep, nil
}
