package tenancy_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

func TestJobCarriesTenant(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: os.DirFS("testdata/migrations/shared"),
		TenantMigrations: os.DirFS("testdata/migrations/tenant"),
	})
	ctx := context.Background()
	var ids = map[string]int64{}
	for _, slug := range []string{"acme", "sleepy", "mover", "gone"} {
		tn, err := db.Client.TenantCreate(ctx, slug, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[slug] = tn.ID
	}
	if _, err := db.Client.TenantSuspend(ctx, "sleepy"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.OwnerPool.Exec(ctx, `UPDATE tenancy.tenants SET status = 'moving' WHERE slug = 'mover'`); err != nil {
		t.Fatal(err)
	}
	if err := db.Client.TenantDelete(ctx, "gone", nil); err != nil {
		t.Fatal(err)
	}

	// Enqueue: the payload carries the id of the tenant in the request's context.
	type payload struct {
		tenancy.JobRef
		Body string `json:"body"`
	}
	acme, err := db.Client.TenantGet(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := tenancy.NewJobRef(tenancy.WithTenant(ctx, acme))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(payload{ref, "from the job"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"tenant_id":` + itoa(acme.ID) + `,"body":"from the job"}`; string(data) != want {
		t.Fatalf("payload %s, want %s", data, want)
	}

	// Work, in a fresh context (another goroutine, as a worker would be): the job writes a row
	// through the binding, and only acme sees it.
	done := make(chan error)
	go func() {
		var p payload
		if err := json.Unmarshal(data, &p); err != nil {
			done <- err
			return
		}
		done <- tenancy.RunJob(context.Background(), db.Client, p.JobRef, func(ctx context.Context) error {
			if tn := tenancy.MustFromContext(ctx); tn.Slug != "acme" {
				return errors.New("job runs as " + tn.Slug)
			}
			_, err := db.Client.Exec(ctx, `INSERT INTO notes (body) VALUES ($1)`, p.Body)
			return err
		})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Client.QueryRow(tenancy.WithTenant(ctx, acme), `SELECT count(*) FROM notes WHERE body = 'from the job'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("acme sees %d rows, %v; want 1", n, err)
	}

	if _, err := tenancy.NewJobRef(ctx); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Errorf("NewJobRef without a tenant: %v", err)
	}
	for _, tc := range []struct {
		ref  tenancy.JobRef
		want error
	}{
		{tenancy.JobRef{TenantID: ids["sleepy"]}, nil}, // suspended tenants' jobs run: the data is still theirs
		{tenancy.JobRef{TenantID: ids["mover"]}, tenancy.ErrTenantMoving},
		{tenancy.JobRef{TenantID: ids["gone"]}, tenancy.ErrTenantNotActive},
		{tenancy.JobRef{TenantID: 1 << 40}, tenancy.ErrTenantNotFound},
		{tenancy.JobRef{}, tenancy.ErrNoTenant},
	} {
		ran := false
		err := tenancy.RunJob(ctx, db.Client, tc.ref, func(context.Context) error { ran = true; return nil })
		if tc.want == nil && (err != nil || !ran) || tc.want != nil && (!errors.Is(err, tc.want) || ran) {
			t.Errorf("job for %d: ran %v, %v; want %v", tc.ref.TenantID, ran, err, tc.want)
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
