package tenancyriver_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyriver"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The worker refuses what a binding refuses: a job of a tenant being moved waits (snoozed) and
// runs once the move is over, a deleted tenant's job is cancelled, and a job enqueued without a
// tenant runs without one (here the worker's bound Exec fails with ErrNoTenant).
func TestMiddlewareTenantStates(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, options(t))
	ctx := context.Background()
	acme, err := db.Client.TenantCreate(ctx, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := db.Client.TenantCreate(ctx, "gone", nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, events := startRiver(t, &tenancytest.TierDB{DB: db, Tier: tenancy.TierSchema, Tenant: acme}, 100*time.Millisecond)
	owner, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	setStatus := func(tn *tenancy.Tenant, s tenancy.Status) {
		t.Helper()
		if _, err := owner.Exec(ctx, `UPDATE tenancy.tenants SET status = $1 WHERE id = $2`, string(s), tn.ID); err != nil {
			t.Fatal(err)
		}
	}
	insert := func(tn *tenancy.Tenant, body string) *rivertype.JobRow {
		t.Helper()
		ictx := ctx
		if tn != nil {
			ictx = tenancy.WithTenant(ctx, tn)
		}
		res, err := rc.Insert(ictx, noteArgs{Body: body}, &river.InsertOpts{MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		return res.Job
	}

	setStatus(acme, tenancy.StatusMoving)
	moving := insert(acme, "while moving")
	if e := waitJobs(t, events, 1)[0]; e.Kind != river.EventKindJobSnoozed || e.Job.ID != moving.ID {
		t.Fatalf("moving: %s for job %d", e.Kind, e.Job.ID)
	}
	setStatus(acme, tenancy.StatusActive)
	for {
		e := waitJobs(t, events, 1)[0]
		if e.Kind == river.EventKindJobSnoozed && e.Job.ID == moving.ID {
			continue // retried before the status changed
		}
		if e.Kind != river.EventKindJobCompleted || e.Job.ID != moving.ID {
			t.Fatalf("after the move: %s for job %d, errors %v", e.Kind, e.Job.ID, e.Job.Errors)
		}
		break
	}
	if got := notes(t, &tenancytest.TierDB{DB: db}, acme); len(got) != 1 || got[0] != "while moving" {
		t.Fatalf("acme's notes: %q", got)
	}

	if err := db.Client.TenantDelete(ctx, gone.Slug, nil); err != nil {
		t.Fatal(err)
	}
	deleted := insert(gone, "for a deleted tenant")
	if e := waitJobs(t, events, 1)[0]; e.Kind != river.EventKindJobCancelled || e.Job.ID != deleted.ID ||
		len(e.Job.Errors) != 1 || !strings.Contains(e.Job.Errors[0].Error, "gone is deleted") {
		t.Fatalf("deleted: %s for job %d, errors %v", e.Kind, e.Job.ID, e.Job.Errors)
	}

	nobody := insert(nil, "for nobody")
	if _, ok, err := tenancyriver.JobTenant(nobody); ok || err != nil {
		t.Fatalf("a job enqueued without a tenant has one: %s (%v)", nobody.Metadata, err)
	}
	if e := waitJobs(t, events, 1)[0]; e.Kind != river.EventKindJobFailed || e.Job.ID != nobody.ID ||
		len(e.Job.Errors) != 1 || !strings.Contains(e.Job.Errors[0].Error, tenancy.ErrNoTenant.Error()) {
		t.Fatalf("no tenant: %s for job %d, errors %v", e.Kind, e.Job.ID, e.Job.Errors)
	}
}

// The tenant goes into the job's metadata beside the application's own keys, and a job that
// claims another tenant than the inserting context's is refused.
func TestMiddlewareMetadata(t *testing.T) {
	t.Parallel()
	m := tenancyriver.NewMiddleware(tenancyLoaderFunc(nil))
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: 7, Slug: "acme"})
	params := []*rivertype.JobInsertParams{{Kind: "a"}, {Kind: "b", Metadata: []byte(`{"trace":"x"}`)}}
	if _, err := m.InsertMany(ctx, params, func(context.Context) ([]*rivertype.JobInsertResult, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`{"tenancy":{"tenant_id":7}}`, `{"tenancy":{"tenant_id":7},"trace":"x"}`} {
		if got := string(params[i].Metadata); got != want {
			t.Errorf("metadata %d: %s, want %s", i, got, want)
		}
		ref, ok, err := tenancyriver.JobTenant(&rivertype.JobRow{Metadata: params[i].Metadata})
		if err != nil || !ok || ref.TenantID != 7 {
			t.Errorf("JobTenant %d: %v %v %v", i, ref, ok, err)
		}
	}
	other := []*rivertype.JobInsertParams{{Kind: "c", Metadata: []byte(`{"tenancy":{"tenant_id":8}}`)}}
	if _, err := m.InsertMany(ctx, other, func(context.Context) ([]*rivertype.JobInsertResult, error) {
		t.Fatal("inserted")
		return nil, nil
	}); err == nil || !strings.Contains(err.Error(), "the context's tenant is 7") {
		t.Fatalf("another tenant's job: %v", err)
	}
	for _, md := range []string{`{"tenancy":0}`, `{"tenancy":{"tenant_id":-1}}`, `[1]`} {
		if _, _, err := tenancyriver.JobTenant(&rivertype.JobRow{Metadata: []byte(md)}); err == nil {
			t.Errorf("JobTenant %s: no error", md)
		}
	}
	var js map[string]any
	if err := json.Unmarshal(params[1].Metadata, &js); err != nil {
		t.Fatal(err)
	}
}

type tenancyLoaderFunc func(ctx context.Context, id int64) (*tenancy.Tenant, error)

func (f tenancyLoaderFunc) TenantGetByID(ctx context.Context, id int64) (*tenancy.Tenant, error) {
	return f(ctx, id)
}

// Bad Migrations are refused with one error naming the field, before anything is applied.
func TestSharedMigrationsRefused(t *testing.T) {
	t.Parallel()
	latest := tenancyriver.LatestVersion()
	if latest < 8 {
		t.Fatalf("LatestVersion %d", latest)
	}
	shared := tenancytest.Options{}.SharedMigrations // nil: no application migrations
	for _, c := range []struct {
		ms   []tenancyriver.Migration
		want string
	}{
		{nil, "at least one Migration"},
		{[]tenancyriver.Migration{{File: "0002_river.up.sql", From: 1, To: latest}}, "want From 0"},
		{[]tenancyriver.Migration{{File: "0002_river.up.sql", From: 0, To: latest + 1}}, "River's newest"},
		{[]tenancyriver.Migration{{File: "0002_river.up.sql", From: 0, To: 3}, {File: "0003_river.up.sql", From: 4, To: latest}}, "want From 3"},
		{[]tenancyriver.Migration{{File: "river.sql", From: 0, To: latest}}, "NNNN_name.up.sql"},
		{[]tenancyriver.Migration{{File: "0002_river.up.sql", To: 3}, {File: "0002_river.up.sql", From: 3, To: latest}}, "have 0002_river.up.sql"},
	} {
		if _, err := tenancyriver.SharedMigrations(shared, c.ms...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.ms, err, c.want)
		}
	}
}

// River's migrations split over two files install River, and River's own ledger has them all.
func TestSharedMigrationsSplit(t *testing.T) {
	t.Parallel()
	latest := tenancyriver.LatestVersion()
	shared, err := tenancyriver.SharedMigrations(os.DirFS("../testdata/migrations/shared"),
		tenancyriver.Migration{File: "0002_river.up.sql", To: 4},
		tenancyriver.Migration{File: "0003_river_5.up.sql", From: 4, To: latest})
	if err != nil {
		t.Fatal(err)
	}
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: shared, TenantMigrations: os.DirFS("../testdata/migrations/tenant")})
	var versions []int64
	if err := db.AppPool.QueryRow(context.Background(), `SELECT array_agg(version ORDER BY version) FROM river_migration WHERE line = 'main'`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if len(versions) != latest || versions[0] != 1 || versions[latest-1] != int64(latest) {
		t.Fatalf("river_migration: %v, want 1 to %d", versions, latest)
	}
}
