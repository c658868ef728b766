package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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
func (c *Client) Migrate(ctx context.Context, opts *MigrateOpts) (res *MigrateResult, err error) {
	ctx, obs := c.observeOp(ctx, Operation{Kind: OpMigrate})
	defer func() {
		if obs != nil && res != nil {
			obs.op.Rows = int64(res.Applied)
		}
		obs.end(err)
	}()
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
		SharedSchema: c.shared,
		Shared:       c.sharedMigs,
		Tenant:       c.tenantMigs,
		To:           opts.To,
		Tenants:      opts.Tenants,
		Concurrency:  opts.Concurrency,
		Canary:       opts.Canary,
		FailFast:     opts.FailFast,
		DryRun:       opts.DryRun,
		Placements:   c.env,
		Types:        c.typeMigs,
		Custom:       c.customMigs,
		// The owner's connections are bounded as the application's are (recycle.go).
		ConnMaxPlacements: c.recycle.limit(),
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
	res = &MigrateResult{
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
	// Types counts the tenants of each type at each version of the type's line; Customized
	// lists the tenants with migrations of their own. Both are read in a second query when the
	// client has type or custom lines, or the catalog has customized tenants.
	Types      []TypeCount    `json:"types,omitempty"`
	Customized []CustomStatus `json:"customized,omitempty"`
}

// TypeCount is the number of tenants of one type at one version of that type's line.
type TypeCount struct {
	Type    string `json:"type"`
	Version int64  `json:"version"`
	Latest  int64  `json:"latest"` // the newest migration of the type's line this client has
	Tenants int    `json:"tenants"`
}

// CustomStatus is one customized tenant: the version of its own line, and the newest this
// client has (Config.CustomMigrations).
type CustomStatus struct {
	Slug    string `json:"slug"`
	Version int64  `json:"version"`
	Latest  int64  `json:"latest"`
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
	if err := c.lineStatus(ctx, res); err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, "")
	}
	return res, nil
}
