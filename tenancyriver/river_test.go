package tenancyriver_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyriver"
	"github.com/tenancy-go/tenancy/tenancytest"
)

type noteArgs struct {
	Body string `json:"body"`
}

func (noteArgs) Kind() string { return "note" }

// noteWorker writes a note for the job's tenant: its Exec is bound by the middleware alone.
type noteWorker struct {
	river.WorkerDefaults[noteArgs]
	tc *tenancy.Client
}

func (w *noteWorker) Work(ctx context.Context, job *river.Job[noteArgs]) error {
	_, err := w.tc.Exec(ctx, `INSERT INTO notes (body) VALUES ($1)`, job.Args.Body)
	return err
}

func options(t *testing.T) *tenancytest.Options {
	t.Helper()
	shared, err := tenancyriver.SharedMigrations(os.DirFS("../testdata/migrations/shared"),
		tenancyriver.Migration{File: "0002_river.up.sql", From: 0, To: tenancyriver.LatestVersion()})
	if err != nil {
		t.Fatal(err)
	}
	return &tenancytest.Options{
		SharedMigrations: shared,
		TenantMigrations: os.DirFS("../testdata/migrations/tenant"),
		AppMaxConns:      8, // River's listener and producer hold some
	}
}

// startRiver starts a River client on the application pool, as the application role.
func startRiver(t *testing.T, d *tenancytest.TierDB, movingRetry time.Duration) (*river.Client[pgx.Tx], <-chan *river.Event) {
	t.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, &noteWorker{tc: d.Client})
	rc, err := river.NewClient(riverpgxv5.New(d.AppPool), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
		Workers:           workers,
		Middleware:        []rivertype.Middleware{&tenancyriver.Middleware{Loader: d.Client, MovingRetry: movingRetry}},
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		TestOnly:          true,
	})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := rc.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled, river.EventKindJobSnoozed)
	t.Cleanup(cancel)
	if err := rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		_ = rc.Stop(ctx)
	})
	return rc, events
}

// waitJobs waits for n jobs to finish and returns their events.
func waitJobs(t *testing.T, events <-chan *river.Event, n int) []*river.Event {
	t.Helper()
	var got []*river.Event
	timeout := time.After(60 * time.Second)
	for len(got) < n {
		select {
		case e := <-events:
			got = append(got, e)
		case <-timeout:
			t.Fatalf("%d of %d jobs finished", len(got), n)
		}
	}
	return got
}

func notes(t *testing.T, d *tenancytest.TierDB, tn *tenancy.Tenant) []string {
	t.Helper()
	rows, err := d.Client.Query(tenancy.WithTenant(context.Background(), tn), `SELECT body FROM notes ORDER BY body`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A real River client, as the application role, on tables made by tenancy's shared migrations:
// in every tier, a job enqueued in a tenant's transaction exists if and only if it commits, and
// is worked bound to that tenant, beside a second tenant of the same tier.
func TestRiverEveryTier(t *testing.T) {
	t.Parallel()
	tenancytest.EachTier(t, options(t), func(t *testing.T, d *tenancytest.TierDB) {
		rc, events := startRiver(t, d, 0)
		acme := d.Tenant
		globex, err := d.Client.TenantCreate(context.Background(), "globex", &tenancy.TenantCreateOpts{Tier: d.Tier})
		if err != nil {
			t.Fatal(err)
		}
		enqueue := func(tn *tenancy.Tenant, body string, fail error) error {
			return tenancyriver.Tx(tenancy.WithTenant(context.Background(), tn), d.Client, rc, func(ctx context.Context, tx pgx.Tx, q *tenancyriver.Queue) error {
				if _, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ($1)`, "written with "+body); err != nil {
					return err
				}
				if err := q.Insert(ctx, noteArgs{Body: body}, nil); err != nil {
					return err
				}
				return fail
			})
		}
		rollback := errors.New("rolled back")
		if err := enqueue(acme, "acme's job", nil); err != nil {
			t.Fatal(err)
		}
		if err := enqueue(acme, "acme's rolled-back job", rollback); !errors.Is(err, rollback) {
			t.Fatalf("rolled back: %v", err)
		}
		if err := enqueue(globex, "globex's job", nil); err != nil {
			t.Fatal(err)
		}

		done := waitJobs(t, events, 2)
		for _, e := range done {
			if e.Kind != river.EventKindJobCompleted {
				t.Fatalf("job %d (%s): %s, errors %v", e.Job.ID, e.Job.EncodedArgs, e.Kind, e.Job.Errors)
			}
			ref, ok, err := tenancyriver.JobTenant(e.Job)
			if err != nil || !ok || (ref.TenantID != acme.ID && ref.TenantID != globex.ID) {
				t.Fatalf("job %d metadata %s: %v %v %v", e.Job.ID, e.Job.Metadata, ref, ok, err)
			}
		}
		if got, want := notes(t, d, acme), []string{"acme's job", "written with acme's job"}; !slices.Equal(got, want) {
			t.Errorf("acme's notes: %q, want %q", got, want)
		}
		if got, want := notes(t, d, globex), []string{"globex's job", "written with globex's job"}; !slices.Equal(got, want) {
			t.Errorf("globex's notes: %q, want %q", got, want)
		}
		var queued int
		if err := d.AppPool.QueryRow(context.Background(), `SELECT count(*) FROM river_job`).Scan(&queued); err != nil || queued != 2 {
			t.Errorf("river_job holds %d jobs (%v), want 2: the rolled-back one must not be there", queued, err)
		}
	})
}
