package tenancyhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyhttp"
)

// TestTenantSurvivesIntoJobAndLogs: a request resolved by the middleware logs a line, enqueues a
// job carrying its tenant's id, and a worker (another goroutine, a fresh context) restores the
// tenant from the cache, logs and writes through the binding. Every line names the tenant.
func TestTenantSurvivesIntoJobAndLogs(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	acme := create(t, db, "acme")
	cache := newCache(t, db.Client, nil)
	var mu sync.Mutex
	var buf bytes.Buffer
	log := slog.New(tenancy.NewLogHandler(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil)))

	type job struct {
		tenancy.JobRef
		Body string `json:"body"`
	}
	queue := make(chan []byte, 1)
	h := tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache, Resolvers: []tenancyhttp.Resolver{tenancyhttp.Subdomain("localhost")}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			log.InfoContext(r.Context(), "request")
			ref, err := tenancy.NewJobRef(r.Context())
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			b, _ := json.Marshal(job{ref, "queued"})
			queue <- b
			w.WriteHeader(http.StatusAccepted)
		}))
	if code, body, _ := do(h, req{host: "acme.localhost"}); code != http.StatusAccepted {
		t.Fatalf("%d %s", code, body)
	}
	done := make(chan error)
	go func() {
		var j job
		if err := json.Unmarshal(<-queue, &j); err != nil {
			done <- err
			return
		}
		done <- tenancy.RunJob(context.Background(), cache, j.JobRef, func(ctx context.Context) error {
			log.InfoContext(ctx, "job")
			_, err := db.Client.Exec(ctx, `INSERT INTO notes (body) VALUES ($1)`, j.Body)
			return err
		})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log:\n%s", buf.String())
	}
	for _, l := range lines {
		var rec struct {
			Msg    string
			Tenant struct {
				ID   int64
				Slug string
			}
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Tenant.ID != acme.ID || rec.Tenant.Slug != "acme" {
			t.Errorf("log line without the tenant: %s (%v)", l, err)
		}
	}
	var n int
	if err := db.Client.QueryRow(tenancy.WithTenant(context.Background(), acme), `SELECT count(*) FROM notes WHERE body = 'queued'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the job's row: %d, %v", n, err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
