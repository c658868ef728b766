package tenancy

import (
	"context"
	"fmt"
	"sort"

	"strings"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// Check compares the catalog with the placements it describes (nothing half-made is ever served;
// docs/reliability.md §4): it is what crash tests use as their oracle, and `tenancy check` runs it.

// Problems reported by Check (CheckProblem.Problem).
const (
	ProblemStuck        = "stuck"         // provisioning, deleting or moving with nothing under way: a crash; Repair finishes it
	ProblemNoPlacement  = "no-placement"  // the catalog names no placement, or its schema or database is gone
	ProblemNotOwned     = "not-owned"     // the schema or database lacks the mark tenancy writes on what it creates
	ProblemLedger       = "ledger"        // the placement's version disagrees with its migration ledger
	ProblemShape        = "shape"         // the tables differ from the shape schema at the same version
	ProblemRLS          = "rls"           // a table without forced row-level security and a policy
	ProblemGrants       = "grants"        // the application role cannot use a table
	ProblemOrphan       = "orphan"        // a schema or database made by tenancy that no tenant uses
	ProblemUnreachable  = "unreachable"   // the placement's server or database could not be reached
	ProblemMoveRecorded = "move-recorded" // a move or restore record for a tenant that is not moving
	ProblemForeignRows  = "foreign-rows"  // a dedicated placement holds rows tagged with another tenant's id
)

// CheckProblem is one disagreement between the catalog and a placement.
type CheckProblem struct {
	Tenant   string `json:"tenant,omitempty"`    // the slug; empty for an orphan no tenant owns
	TenantID int64  `json:"tenant_id,omitempty"` // the id (an orphan's, from its mark)
	Problem  string `json:"problem"`             // one of the Problem... constants
	Detail   string `json:"detail"`
	// Repairable: Repair (`tenancy repair`) fixes it. The others need a person: a schema dropped
	// by hand is restored from a backup, an orphan is dropped or adopted after a look.
	Repairable bool `json:"repairable"`
}

func (p CheckProblem) String() string {
	who := p.Tenant
	if who == "" {
		who = "(no tenant)"
	}
	return who + ": " + p.Problem + ": " + p.Detail
}

// CheckResult is the report of Check. OK reports whether it found nothing wrong.
type CheckResult struct {
	Tenants    int            `json:"tenants"`    // tenants checked
	Placements int            `json:"placements"` // placements checked
	Problems   []CheckProblem `json:"problems"`
}

// OK reports whether the catalog and the placements agree.
func (r *CheckResult) OK() bool { return len(r.Problems) == 0 }

// Damaged returns the slugs of the tenants with a problem, sorted.
func (r *CheckResult) Damaged() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range r.Problems {
		if p.Tenant != "" && !seen[p.Tenant] {
			seen[p.Tenant] = true
			out = append(out, p.Tenant)
		}
	}
	sort.Strings(out)
	return out
}

// checkPlacement is one placement row with what the catalog's database knows of it.
type checkPlacement struct {
	id                     int64
	kind                   string
	server, database, sch  string
	version, ledger        int64
	owned                  bool
	uid                    string
	exists                 bool
	comment                string
	tenants                []checkTenant // who lives there
	sig                    string        // column signature of its tables ("" if none)
	rlsOK, grantsOK, found bool          // found: sig was read
}

type checkTenant struct {
	id     int64
	slug   string
	status Status
	tier   Tier
	moving bool // a tenancy.moves row exists
}

// Check verifies that the catalog and the placements agree: every tenant that is not being
// created, moved or deleted has a placement that exists, carries tenancy's ownership mark, has
// the tables of the shape schema at its version (with forced row-level security, a policy and
// the application role's grants), and a version that matches its migration ledger. Tenants left
// in provisioning, deleting or moving by a crash, move records left behind, and schemas or
// databases tenancy made that no tenant uses are reported too, and so are rows of a schema or
// database placement tagged with another tenant's id (checkForeignRows). It changes nothing.
//
// A tenant being created or moved by another process at the same moment is reported as stuck:
// run Check when no such operation is under way, or run it twice.
func (c *Client) Check(ctx context.Context) (*CheckResult, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	run := &checkRun{c: c, res: &CheckResult{Problems: []CheckProblem{}}, byID: map[int64]*checkPlacement{}}
	// Statuses first: what a crash left in the middle is repaired, not inspected. Then each
	// placement is read (those in the catalog's database in one query, the others one database
	// at a time), and each tenant's placement judged.
	if err := run.load(ctx, admin); err != nil {
		return nil, err
	}
	if err := run.inspect(ctx, admin); err != nil {
		return nil, err
	}
	if err := run.judge(ctx); err != nil {
		return nil, err
	}
	if err := c.checkOrphans(ctx, run.byID, run.add); err != nil {
		return nil, err
	}
	res := run.res
	sort.SliceStable(res.Problems, func(i, j int) bool { return res.Problems[i].Tenant < res.Problems[j].Tenant })
	return res, nil
}

// checkRun is one Check: the placements, who lives where, and the problems found so far.
type checkRun struct {
	c            *Client
	res          *CheckResult
	byID         map[int64]*checkPlacement
	order        []*checkPlacement
	shapeVersion int64
	shapeSig     string
}

func (r *checkRun) add(t *checkTenant, problem, detail string, repairable bool) {
	p := CheckProblem{Problem: problem, Detail: detail, Repairable: repairable}
	if t != nil {
		p.Tenant, p.TenantID = t.slug, t.id
	}
	r.res.Problems = append(r.res.Problems, p)
}

// load reads every placement with its ledger (and its schema when it is in the catalog's
// database) and every tenant, reports the tenants a crash left in the middle of an operation,
// and seats the others in their placements.
func (r *checkRun) load(ctx context.Context, admin catalog.DB) error {
	placements, err := catalog.CheckPlacements(ctx, admin)
	if err != nil {
		return notFoundOr(err, ErrTenantNotFound, "")
	}
	for _, row := range placements {
		p := &checkPlacement{id: row.ID, kind: row.Kind, server: row.Server, database: row.Database, sch: row.Schema, version: row.Version,
			owned: row.Owned, uid: row.UID, ledger: row.Ledger, exists: row.Exists, comment: row.Comment}
		r.byID[p.id] = p
		r.order = append(r.order, p)
		if p.kind == "shape" {
			r.shapeVersion = p.version
		}
	}
	rows, err := catalog.CheckTenants(ctx, admin)
	if err != nil {
		return err
	}
	r.res.Tenants = len(rows)
	for _, row := range rows {
		t := &checkTenant{id: row.ID, slug: row.Slug, status: Status(row.Status), tier: Tier(row.Tier), moving: row.Moving}
		switch t.status {
		case StatusProvisioning, StatusDeleting:
			what := "provisioning"
			if t.status == StatusDeleting {
				what = "deleting"
			} else if t.moving {
				what = "provisioning (restore interrupted)"
			}
			r.add(t, ProblemStuck, "left in "+what+" (run repair)", true)
			continue
		case StatusMoving:
			if t.moving {
				r.add(t, ProblemStuck, "left moving (run repair)", true)
			} else {
				r.add(t, ProblemStuck, "moving, with no move under way (run repair, or resume)", false)
			}
			continue
		}
		if t.moving {
			r.add(t, ProblemMoveRecorded, "a move record remains for a tenant that is "+string(t.status)+" (run repair)", true)
		}
		p := r.byID[row.PlacementID]
		if p == nil {
			r.add(t, ProblemNoPlacement, "the catalog names no placement", false)
			continue
		}
		p.tenants = append(p.tenants, *t)
	}
	return nil
}

// inspect reads the tables of every placement: in the catalog's database in one query, elsewhere
// on one owner connection per database.
func (r *checkRun) inspect(ctx context.Context, admin catalog.DB) error {
	var local []string
	for _, p := range r.order {
		if p.server == "" && p.database == "" && p.exists {
			local = append(local, p.sch)
		}
	}
	sigs, err := placement.Signatures(ctx, admin, r.c.appRole, append(local, catalog.ShapeSchema))
	if err != nil {
		return err
	}
	r.shapeSig = sigs[catalog.ShapeSchema].Sig
	for _, p := range r.order {
		if p.server == "" && p.database == "" {
			s := sigs[p.sch]
			p.sig, p.rlsOK, p.grantsOK, p.found = s.Sig, s.RLSOK, s.GrantsOK, true
			continue
		}
		if len(p.tenants) == 0 {
			continue
		}
		if err := r.c.checkRemote(ctx, p); err != nil {
			for i := range p.tenants {
				r.add(&p.tenants[i], ProblemUnreachable, err.Error(), false)
			}
			p.found = false
			p.exists = true // reported already
			p.tenants = nil
		}
	}
	return nil
}

// judge compares each tenant's placement with what it should be.
func (r *checkRun) judge(ctx context.Context) error {
	for _, p := range r.order {
		if len(p.tenants) == 0 {
			continue
		}
		r.res.Placements++
		where := checkLabel(p)
		for i := range p.tenants {
			t := &p.tenants[i]
			if !p.exists {
				r.add(t, ProblemNoPlacement, where+" does not exist", false)
				continue
			}
			mark, err := r.c.env.TenantMark(ctx, t.id, placement.Placement{Server: p.server, UID: p.uid})
			if err != nil {
				return err
			}
			if p.kind == placement.KindPool {
				mark = placement.PoolMark(strings.TrimPrefix(p.sch, "pool_"))
			}
			if p.owned && p.comment != mark {
				r.add(t, ProblemNotOwned, fmt.Sprintf("%s carries the mark %q, want %q", where, p.comment, mark), false)
			}
			if p.version != p.ledger {
				r.add(t, ProblemLedger, fmt.Sprintf("%s is at version %d but its ledger's newest migration is %d", where, p.version, p.ledger), false)
			}
			if !p.found {
				continue
			}
			if p.version == r.shapeVersion && p.sig != r.shapeSig {
				r.add(t, ProblemShape, fmt.Sprintf("%s at version %d does not have the tables of the shape schema (%s)", where, p.version, sigDiff(r.shapeSig, p.sig)), false)
			}
			if p.sig != "" && !p.rlsOK {
				r.add(t, ProblemRLS, where+" has a table without forced row-level security or without a policy", false)
			}
			if p.sig != "" && !p.grantsOK {
				r.add(t, ProblemGrants, where+" has a table the application role cannot read or write", false)
			}
			if p.kind != placement.KindPool && p.sig != "" && len(p.tenants) == 1 {
				r.c.checkForeignRows(ctx, p, t, r.add)
			}
		}
	}
	return nil
}

func checkLabel(p *checkPlacement) string {
	switch {
	case p.kind == "database":
		return fmt.Sprintf("database %s on server %s", p.database, placement.ServerLabel(p.server))
	case p.server != "":
		return fmt.Sprintf("schema %s on server %s", p.sch, p.server)
	case p.kind == "pool":
		return "pool schema " + p.sch
	}
	return "schema " + p.sch
}

// sigDiff names the first few columns one signature has and the other lacks.
func sigDiff(want, got string) string {
	split := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, c := range strings.Split(s, ", ") {
			if c != "" {
				m[c] = true
			}
		}
		return m
	}
	w, g := split(want), split(got)
	var missing, extra []string
	for c := range w {
		if !g[c] {
			missing = append(missing, c)
		}
	}
	for c := range g {
		if !w[c] {
			extra = append(extra, c)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	cut := func(s []string) string {
		if len(s) > 4 {
			return strings.Join(s[:4], ", ") + fmt.Sprintf(" and %d more", len(s)-4)
		}
		return strings.Join(s, ", ")
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+cut(missing))
	}
	if len(extra) > 0 {
		parts = append(parts, "extra "+cut(extra))
	}
	return strings.Join(parts, "; ")
}

// checkRemote fills in what a placement outside the catalog's database holds (placement.Inspect).
func (c *Client) checkRemote(ctx context.Context, p *checkPlacement) error {
	in, err := c.env.Inspect(ctx, p.placement(), p.ledger)
	if err != nil {
		return err
	}
	p.exists, p.comment, p.ledger = in.Exists, in.Comment, in.Ledger
	p.sig, p.rlsOK, p.grantsOK, p.found = in.Sig, in.RLSOK, in.GrantsOK, in.Found
	return nil
}

// placement is p as the tiers know it.
func (p *checkPlacement) placement() placement.Placement {
	return placement.Placement{ID: p.id, Kind: p.kind, Server: p.server, Database: p.database, Schema: p.sch, UID: p.uid, Owned: p.owned}
}

// checkOrphans reports schemas in the catalog's database and databases named after it on every
// server that carry tenancy's mark (or a tenant database's name) but that no placement row
// describes: a crash between creating one and recording it, a catalog row removed by hand, an
// earlier catalog of the same database (dropped and recreated, or restored from an older
// backup), or a template an earlier catalog made. Each says whether DropOrphans may remove it.
func (c *Client) checkOrphans(ctx context.Context, byID map[int64]*checkPlacement, add func(*checkTenant, string, string, bool)) error {
	known := map[string]bool{}
	for _, p := range byID {
		known[p.server+"\x00"+p.database+"\x00"+p.sch] = true
		if p.kind == "database" {
			known[p.server+"\x00"+p.database] = true
		}
	}
	orphans, unreachable, err := c.findOrphans(ctx, known)
	if err != nil {
		return err
	}
	for _, u := range unreachable {
		add(nil, ProblemUnreachable, u, false)
	}
	for _, o := range orphans {
		detail := o.what
		switch {
		case o.removable:
			detail += " (" + OrphanCommand + " drops it)"
		case o.foreign.Catalog != "":
			detail += " (" + OrphanCommand + " drops it once no database on the server holds that catalog)"
		}
		add(&checkTenant{id: o.tenantID}, ProblemOrphan, detail, false)
	}
	return nil
}

// checkForeignRows reports rows of a dedicated placement (schema or database tier) tagged with
// another tenant's id than its own, t's (placement.ForeignRows).
func (c *Client) checkForeignRows(ctx context.Context, p *checkPlacement, t *checkTenant, add func(*checkTenant, string, string, bool)) {
	counts, err := c.env.ForeignRows(ctx, p.placement(), t.id)
	if err != nil {
		add(t, ProblemUnreachable, fmt.Sprintf("the rows of %s could not be inspected: %v", checkLabel(p), err), false)
		return
	}
	if len(counts) == 0 {
		return
	}
	var parts []string
	for table, n := range counts {
		parts = append(parts, fmt.Sprintf("%s (%d)", table, n))
	}
	sort.Strings(parts)
	add(t, ProblemForeignRows, fmt.Sprintf("%s holds rows tagged with another tenant's id in %s", checkLabel(p), strings.Join(parts, ", ")), false)
}
