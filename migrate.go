package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// MigrateOpts are the options of Migrate. The zero value (or nil) migrates every tenant to the
// latest version.
type MigrateOpts struct {
	Tenants     []string // only these tenants (the shape schema and the shared line are migrated anyway)
	To          int64    // target tenant version; 0 = the latest file
	Concurrency int      // placements migrated at once; 0 = the admin pool's size, capped to half the server's free connections
	Canary      int      // migrate this many tenants first and stop if any fails
	FailFast    bool     // stop at the first failed tenant (the ones under way finish)
	DryRun      bool     // report the plan (EventPlanned per placement) and change nothing
	// OnEvent receives progress, one event at a time (never concurrently).
	OnEvent func(MigrateEvent)
}

// MigrateEventKind says what a MigrateEvent reports.
type MigrateEventKind string

const (
	MigrateEventStart   MigrateEventKind = "start"   // the run begins; Total is known
	MigrateEventPlanned MigrateEventKind = "planned" // dry run: the tenant would get Versions
	MigrateEventDone    MigrateEventKind = "done"    // one tenant finished; Err if it failed
	MigrateEventFinish  MigrateEventKind = "finish"  // the run is over
)

// MigrateEvent is the progress of a run.
type MigrateEvent struct {
	Kind     MigrateEventKind `json:"event"`
	Tenant   string           `json:"tenant,omitempty"` // slug, "(shape)", "(shared)", "pool:<schema>"
	Schema   string           `json:"schema,omitempty"`
	From     int64            `json:"from,omitempty"`
	To       int64            `json:"to,omitempty"`
	Versions []int64          `json:"versions,omitempty"`
	Duration time.Duration    `json:"-"`
	Err      error            `json:"-"`
	Done     int              `json:"done"`
	Total    int              `json:"total"`
	Failed   int              `json:"failed"`
}

// MigrateResult sums up a run. Per-tenant results are delivered as events, so the result does
// not grow with the fleet, only with its failures.
type MigrateResult struct {
	SharedFrom, SharedTo int64 // the shared line's version before and after
	Total                int   // placements behind when the run began (the shape schema included)
	Applied              int   // placements migrated
	Skipped              int   // tenants behind but still provisioning or deleting: left alone
	Failed               []*TenantError
	Concurrency          int
	Duration             time.Duration
	// Queries is the number of catalog queries spent planning: 1 when there is nothing to do.
	Queries int
}

// Migrate brings the shared schema, then the shape schema, then every tenant placement to the
// latest migration (or opts.To), a transaction per placement, opts.Concurrency at a time, under
// an advisory lock that admits one migrator per database (ErrMigrationLocked for a second one).
// When nothing is to be applied it costs one query and takes no lock.
//
// A failing tenant does not stop the others unless opts.FailFast; the error is then a
// *PartialError naming each failed tenant, and a rerun picks up exactly those. Files edited
// after they were applied are refused before anything runs (ErrMigrationChanged).
func (c *Client) Migrate(ctx context.Context, opts *MigrateOpts) (*MigrateResult, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &MigrateOpts{}
	}
	if err := c.checkSlugs(ctx, opts.Tenants); err != nil {
		return nil, err
	}
	ro := migrate.RunOpts{
		SharedSchema:  c.shared,
		Shared:        c.sharedMigs,
		Tenant:        c.tenantMigs,
		To:            opts.To,
		Tenants:       opts.Tenants,
		Concurrency:   opts.Concurrency,
		Canary:        opts.Canary,
		FailFast:      opts.FailFast,
		DryRun:        opts.DryRun,
		AfterApply:    c.afterMigrate,
		Remote:        c.migrateRemote,
		BeforeTenants: c.migrateServerShapes,
	}
	if opts.OnEvent != nil {
		ro.OnEvent = func(e migrate.Event) {
			opts.OnEvent(MigrateEvent{
				Kind: MigrateEventKind(e.Kind), Tenant: e.Target.Label(), Schema: e.Target.Schema,
				From: e.From, To: e.To, Versions: e.Versions, Duration: e.Duration, Err: e.Err,
				Done: e.Done, Total: e.Total, Failed: e.Failed,
			})
		}
	}
	r, err := migrate.Run(ctx, admin, ro)
	if r == nil {
		return nil, notFoundOr(err, ErrTenantNotFound, "")
	}
	res := &MigrateResult{
		SharedFrom: r.Shared[0], SharedTo: r.Shared[1], Total: r.Total, Applied: r.Applied,
		Skipped: r.Skipped, Concurrency: r.Concurrency, Duration: r.Duration, Queries: r.Queries,
	}
	for _, f := range r.Failed {
		res.Failed = append(res.Failed, &TenantError{Tenant: f.Target.Label(), Schema: f.Target.Schema, Version: f.Version, Err: f.Err})
	}
	if err != nil || len(res.Failed) > 0 {
		return res, &PartialError{Applied: res.Applied, Failed: res.Failed, Err: err}
	}
	return res, nil
}

// afterMigrate runs in a placement's transaction after migrations were applied to it.
func (c *Client) afterMigrate(ctx context.Context, tx pgx.Tx, t *migrate.Target) error {
	switch t.Kind {
	case migrate.KindShape:
		// The shape stays unreadable by the application role (no grants) and must follow the
		// RLS convention, or no tenant gets the migration.
		return catalog.CheckRLS(ctx, tx, catalog.ShapeSchema)
	default:
		return c.grantMissing(ctx, tx, t.Schema)
	}
}

// grantMissing gives the application role row access to the tables and sequences of schema that
// it cannot use yet (new ones), without rewriting the privileges of every table of every tenant.
// The schema's relations are found through pg_depend's index on the referenced namespace:
// pg_class has no index on relnamespace, and scanning it (as GRANT ... ON ALL TABLES IN SCHEMA
// does) costs time in proportion to the whole fleet's tables, for each tenant.
func (c *Client) grantMissing(ctx context.Context, tx pgx.Tx, schema string) error {
	return grantMissingTo(ctx, tx, schema, c.appRole)
}

// grantMissingTo is grantMissing for any role (another server's application role).
func grantMissingTo(ctx context.Context, tx pgx.Tx, schema, role string) error {
	rows, err := tx.Query(ctx, `
		SELECT c.relkind = 'S', c.relname
		FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
		WHERE d.refclassid = 'pg_namespace'::regclass AND d.classid = 'pg_class'::regclass
		  AND d.refobjid = (SELECT oid FROM pg_namespace WHERE nspname = $1)
		  AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
		  AND NOT CASE WHEN c.relkind = 'S' THEN has_sequence_privilege($2, c.oid, 'USAGE')
		               ELSE has_table_privilege($2, c.oid, 'SELECT') END
		ORDER BY 2`, schema, role)
	if err != nil {
		return err
	}
	var tables, seqs []string
	var isSeq bool
	var name string
	if _, err := pgx.ForEachRow(rows, []any{&isSeq, &name}, func() error {
		id := pgx.Identifier{schema, name}.Sanitize()
		if isSeq {
			seqs = append(seqs, id)
		} else {
			tables = append(tables, id)
		}
		return nil
	}); err != nil {
		return err
	}
	app := pgx.Identifier{role}.Sanitize()
	var sql []string
	if len(tables) > 0 {
		sql = append(sql, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s", strings.Join(tables, ", "), app))
	}
	if len(seqs) > 0 {
		sql = append(sql, fmt.Sprintf("GRANT USAGE, SELECT ON SEQUENCE %s TO %s", strings.Join(seqs, ", "), app))
	}
	if len(sql) == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, strings.Join(sql, "; "), pgx.QueryExecModeSimpleProtocol)
	return err
}

// checkSlugs refuses unknown or malformed slugs before anything runs.
func (c *Client) checkSlugs(ctx context.Context, slugs []string) error {
	if len(slugs) == 0 {
		if slugs != nil {
			return errors.New("tenancy: an empty tenant list selects no tenant")
		}
		return nil
	}
	for _, s := range slugs {
		if err := ValidateSlug(s); err != nil && !errors.Is(err, ErrReservedSlug) {
			return err
		}
	}
	missing, err := catalog.TenantsMissing(ctx, c.app, slugs)
	if err != nil {
		return notFoundOr(err, ErrTenantNotFound, "")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrTenantNotFound, strings.Join(missing, ", "))
	}
	return nil
}

// MigrateStatusResult says which tenants are at which version.
type MigrateStatusResult struct {
	Latest       int64          `json:"latest"`        // the newest tenant migration this client has
	SharedLatest int64          `json:"shared_latest"` // the newest shared migration
	Shared       int64          `json:"shared"`        // the shared schema's version
	Shape        int64          `json:"shape"`         // the shape schema's version
	Versions     []VersionCount `json:"versions"`      // tenants per version, oldest version first
	Behind       int            `json:"behind"`        // tenants below Latest (provisioning ones included)
}

// VersionCount is the number of tenants at one migration version.
type VersionCount struct {
	Version  int64          `json:"version"`
	Tenants  int            `json:"tenants"`
	ByStatus map[Status]int `json:"by_status"`
}

// MigrateStatus reports, in one query, how many tenants are at each tenant migration version.
// List each tenant's version with TenantList (Tenant.Version).
func (c *Client) MigrateStatus(ctx context.Context) (*MigrateStatusResult, error) {
	counts, err := catalog.VersionCounts(ctx, c.app, c.shared)
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, "")
	}
	res := &MigrateStatusResult{Latest: migrate.Latest(c.tenantMigs), SharedLatest: migrate.Latest(c.sharedMigs), Versions: []VersionCount{}}
	for _, r := range counts {
		switch r.Kind {
		case migrate.KindShape:
			res.Shape = r.Version
			continue
		case migrate.KindShared:
			res.Shared = r.Version
			continue
		}
		if k := len(res.Versions); k == 0 || res.Versions[k-1].Version != r.Version {
			res.Versions = append(res.Versions, VersionCount{Version: r.Version, ByStatus: map[Status]int{}})
		}
		vc := &res.Versions[len(res.Versions)-1]
		vc.Tenants += r.Tenants
		vc.ByStatus[Status(r.Status)] += r.Tenants
		if r.Version < res.Latest {
			res.Behind += r.Tenants
		}
	}
	return res, nil
}
