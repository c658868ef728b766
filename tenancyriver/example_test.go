package tenancyriver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyriver"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// A job enqueued in a database-tier tenant's transaction, and worked bound to that tenant.
func ExampleTx() {
	ctx := context.Background()
	// River's tables come with the application's shared migrations.
	shared, err := tenancyriver.SharedMigrations(os.DirFS("../testdata/migrations/shared"),
		tenancyriver.Migration{File: "0002_river.up.sql", From: 0, To: tenancyriver.LatestVersion()})
	if err != nil {
		panic(err)
	}
	db, closeDB, err := tenancytest.Open(ctx, &tenancytest.Options{
		SharedMigrations: shared,
		TenantMigrations: os.DirFS("../testdata/migrations/tenant"),
		AppMaxConns:      8,
	})
	if err != nil {
		panic(err)
	}
	defer closeDB()
	client := db.Client

	// One River client on the application pool, with the tenancy middleware.
	workers := river.NewWorkers()
	river.AddWorker(workers, &noteWorker{tc: client}) // Work: client.Exec(ctx, `INSERT INTO notes ...`)
	rc, err := river.NewClient(riverpgxv5.New(db.AppPool), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
		Workers:           workers,
		Middleware:        []rivertype.Middleware{tenancyriver.NewMiddleware(client)},
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	done, cancel := rc.Subscribe(river.EventKindJobCompleted)
	defer cancel()
	if err := rc.Start(ctx); err != nil {
		panic(err)
	}
	defer func() { _ = rc.Stop(ctx) }()

	big, err := client.TenantCreate(ctx, "bigco", &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase})
	if err != nil {
		panic(err)
	}
	ctx = tenancy.WithTenant(ctx, big)
	err = tenancyriver.Tx(ctx, client, rc, func(ctx context.Context, tx pgx.Tx, q *tenancyriver.Queue) error {
		if _, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ('signed up')`); err != nil {
			return err
		}
		return q.Insert(ctx, noteArgs{Body: "welcome mail sent"}, nil) // enqueued once the transaction commits
	})
	if err != nil {
		panic(err)
	}
	e := <-done
	ref, _, _ := tenancyriver.JobTenant(e.Job)
	fmt.Println("job for tenant", ref.TenantID == big.ID)

	rows, _ := client.Query(ctx, `SELECT body FROM notes ORDER BY id`)
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[string])
	fmt.Println(bodies, err)
	// Output:
	// job for tenant true
	// [signed up welcome mail sent] <nil>
}
