package tenancy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
)

const restoreChildApp = "tenancy-restore-child"

// TestRestoreKilled kills a process in the middle of restoring an archive under a new slug (into
// the schema, database and pool tiers in turn) at random moments, uniform in 0 to 1.2x an
// uninterrupted restore of the same tier. Once the server has ended the dead process's sessions,
// Repair must leave either nothing (no tenant of that slug, the catalog, schemas and databases as
// before the trial) or, when the child had finished, the tenant active with exactly the archived
// rows in exactly one placement; Check must find nothing wrong, and a restore again (when the
// slug is free) must succeed with the archived rows. TENANCY_RESTORE_TRIALS sets the number of
// trials (default 10).
func TestRestoreKilled(t *testing.T) {
	if os.Getenv("TENANCY_RESTORE_CHILD") != "" {
		t.Skip("in the child")
	}
	trials := 10
	if s := os.Getenv("TENANCY_RESTORE_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TENANCY_RESTORE_TRIALS=%q", s)
		}
		trials = n
	}
	t.Parallel()
	ctx := context.Background()
	db := archiveDB(t, archiveTenant)
	c := db.Client
	src, err := c.TenantCreate(ctx, "source", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	fillItems(t, c, src, 300)
	want := snapshot(t, c, src)
	data := backup(t, c, "source")
	file := filepath.Join(t.TempDir(), "source.tar.gz")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	restore := func(slug string, tier tenancy.Tier) (*tenancy.Tenant, error) {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return c.Restore(ctx, f, &tenancy.RestoreOpts{Slug: slug, Tier: tier})
	}
	// The database tier's template is made on first use (a kill while it is being made is not
	// what this tests, see TestMoveKilled); the uninterrupted restores (the second, warm, one
	// of each tier) also time each tier.
	tiers := []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase}
	est := map[tenancy.Tier]time.Duration{}
	for _, tier := range tiers {
		for i := range 2 {
			slug := fmt.Sprintf("warm-%s-%d", tier, i)
			start := time.Now()
			got, err := restore(slug, tier)
			if err != nil {
				t.Fatal(err)
			}
			est[tier] = time.Since(start)
			checkAtRest(t, db, slug, want)
			if got.Tier != tier {
				t.Fatalf("%s restored into %s, want %s", slug, got.Tier, tier)
			}
		}
	}
	t.Logf("uninterrupted restore of %d items: pool %v, schema %v, database %v", len(want["items"]),
		est[tenancy.TierPool], est[tenancy.TierSchema], est[tenancy.TierDatabase])
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 10))
	adminURL, appURL := restoreChildURL(t, db.AdminURL), restoreChildURL(t, db.AppURL)
	outcome := map[string]int{}
	repaired := 0
	for trial := range trials {
		tier := tiers[trial%len(tiers)]
		slug := fmt.Sprintf("killed-%03d", trial)
		before := catalogState(t, db)
		delay := time.Duration(rng.Int64N(int64(est[tier])*12/10 + 1))
		finished := runAndKillRestore(t, delay, "TENANCY_RESTORE_FILE="+file, "TENANCY_RESTORE_SLUG="+slug,
			"TENANCY_RESTORE_TIER="+string(tier), "TENANCY_RESTORE_ADMIN="+adminURL, "TENANCY_RESTORE_APP="+appURL)
		status := "absent"
		var moving bool
		var id int64
		err := db.OwnerPool.QueryRow(ctx, `SELECT id, status, EXISTS (SELECT 1 FROM tenancy.moves m WHERE m.tenant_id = t.id) FROM tenancy.tenants t WHERE slug = $1`, slug).
			Scan(&id, &status, &moving)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		what := fmt.Sprintf("trial %d (%s, %s after a kill at %v)", trial, tier, status, delay)
		if finished && status != string(tenancy.StatusActive) {
			t.Fatalf("%s: the child reported the restore done", what)
		}
		if status == string(tenancy.StatusActive) && moving {
			t.Fatalf("%s: an active tenant still has its restore record", what)
		}
		if status != "absent" && status != string(tenancy.StatusActive) && !moving {
			t.Fatalf("%s: a half-restored tenant without its restore record", what)
		}
		key := string(tier) + " " + status
		if status == string(tenancy.StatusProvisioning) {
			// What of the placement was there already (committed) when the child died.
			key += fmt.Sprintf(" %v", holders(t, db, id))
		}
		if finished {
			key += " (child finished)"
		}
		outcome[key]++
		res, err := c.Repair(ctx)
		if err != nil || len(res.Failed) > 0 || len(res.Provisioned) > 0 || len(res.Deleted) > 0 {
			t.Fatalf("%s: repair %+v %v", what, res, err)
		}
		if len(res.Moves) > 0 {
			repaired++
		}
		if status == string(tenancy.StatusActive) {
			// Finished before the kill: the tenant stays, with the archive's rows.
			checkAtRest(t, db, slug, want)
			if _, err := restore(slug, tier); !errors.Is(err, tenancy.ErrTenantExists) {
				t.Fatalf("%s: restore again over the finished tenant: %v", what, err)
			}
		} else {
			// Killed before the end: nothing of it is left.
			if _, err := c.TenantGet(ctx, slug); !errors.Is(err, tenancy.ErrTenantNotFound) {
				t.Fatalf("%s: after repair the slug is not free: %v", what, err)
			}
			if after := catalogState(t, db); after != before {
				t.Fatalf("%s: left behind: %+v -> %+v", what, before, after)
			}
			if res := mustCheck(t, c); !res.OK() {
				for _, p := range res.Problems {
					t.Errorf("%s: check before the restore again: %s", what, p)
				}
				t.FailNow()
			}
			got, err := restore(slug, tier)
			if err != nil {
				t.Fatalf("%s: restore again: %v", what, err)
			}
			if got.Tier != tier {
				t.Fatalf("%s: restored again into %s", what, got.Tier)
			}
			checkAtRest(t, db, slug, want)
		}
		if res := mustCheck(t, c); !res.OK() {
			for _, p := range res.Problems {
				t.Errorf("%s: check: %s", what, p)
			}
			t.FailNow()
		}
	}
	t.Logf("%d trials, %d half-restored tenants removed by repair; state found after the kill (tier, status): %v", trials, repaired, outcome)
}

// restoreChildURL names the child's sessions, so that the parent can wait for them to end.
func restoreChildURL(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", restoreChildApp)
	u.RawQuery = q.Encode()
	return u.String()
}

// runAndKillRestore starts TestRestoreChild with env, waits for it to print "go", sleeps delay
// and kills it with SIGKILL; then it waits until the server has ended every session of the
// child. It reports whether the child had printed "done" (the restore returned) before.
func runAndKillRestore(t *testing.T, delay time.Duration, env ...string) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), "TENANCY_RESTORE_CHILD=1"), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var mu sync.Mutex
	finished := false
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			switch sc.Text() {
			case "go":
				close(started)
			case "done":
				mu.Lock()
				finished = true
				mu.Unlock()
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(2 * time.Minute): // a hang guard
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the child did not begin")
	}
	time.Sleep(delay)
	_ = cmd.Process.Kill() // SIGKILL: no deferred cleanup runs
	_ = cmd.Wait()
	mu.Lock()
	done := finished
	mu.Unlock()
	waitSessionsGone(t, restoreChildApp, 2*time.Minute) // also frees its operation lock
	return done
}

// TestRestoreChild is the process TestRestoreKilled kills; it does nothing on its own.
func TestRestoreChild(t *testing.T) {
	if os.Getenv("TENANCY_RESTORE_CHILD") == "" {
		t.Skip("run by TestRestoreKilled")
	}
	ctx := context.Background()
	admin, app := childPools(t, "TENANCY_RESTORE_ADMIN", "TENANCY_RESTORE_APP")
	c, err := tenancy.New(&tenancy.Config{AppPool: app, OwnerPool: admin, SharedMigrations: archiveShared, TenantMigrations: archiveTenant})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(os.Getenv("TENANCY_RESTORE_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Println("go")
	if _, err := c.Restore(ctx, f, &tenancy.RestoreOpts{Slug: os.Getenv("TENANCY_RESTORE_SLUG"), Tier: tenancy.Tier(os.Getenv("TENANCY_RESTORE_TIER"))}); err != nil {
		t.Fatal(err)
	}
	fmt.Println("done")
}
