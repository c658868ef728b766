package tenancy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The SIGKILL proofs of issue 8 (docs/reliability.md, section 4): a child process (this test
// binary, re-executed with TENANCY_CRASH_CHILD set) runs TenantCreate or Migrate and is killed
// with SIGKILL after a random delay; then a rerun (TenantCreate again, Repair, Migrate again)
// must converge and Client.Check must find the catalog and the placements in agreement.
// TENANCY_CRASH_TRIALS sets the number of trials of each (default 3).

const crashChildApp = "tenancy-crash-child"

func crashTrials(t *testing.T) int {
	t.Helper()
	if s := os.Getenv("TENANCY_CRASH_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TENANCY_CRASH_TRIALS=%q", s)
		}
		return n
	}
	return 3
}

// crashFiles is tenant migration line 1..v: v1 is migV1, each later version adds a column and
// sleeps a little, so that a fleet migration lasts long enough to be killed in the middle.
func crashFiles(v int) fstest.MapFS {
	files := map[string]string{}
	for i := 2; i <= v; i++ {
		files[fmt.Sprintf("%04d_c%d.up.sql", i, i)] = fmt.Sprintf("ALTER TABLE notes ADD COLUMN c%d int;\nSELECT pg_sleep(0.01);\n", i)
	}
	return withFiles(migV1, files)
}

// crashChildURL names the child's sessions, so that the parent can wait for them to end.
func crashChildURL(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", crashChildApp)
	u.RawQuery = q.Encode()
	return u.String()
}

// killResult is what one killed child did before it died.
type killResult struct {
	finished bool          // the child reported the operation done before the kill
	delay    time.Duration // when the kill was sent, after the child began the operation
}

// runAndKill starts the child with env, waits for it to print "go" (its pools are connected and
// the operation begins), sleeps delay and kills it with SIGKILL; then it waits until the server
// has ended every session of the child.
func runAndKill(t *testing.T, delay time.Duration, env ...string) killResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProofCrashChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), "TENANCY_CRASH_CHILD=1"), env...)
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
	res := killResult{finished: finished, delay: delay}
	mu.Unlock()
	waitSessionsGone(t, crashChildApp, 2*time.Minute)
	return res
}

// TestProofCrashChild is the process the crash proofs kill; it does nothing on its own.
func TestProofCrashChild(t *testing.T) {
	if os.Getenv("TENANCY_CRASH_CHILD") == "" {
		t.Skip("run by TestProofCrashCreate and TestProofCrashMigrate")
	}
	ctx := context.Background()
	admin, app := childPools(t, "TENANCY_CRASH_ADMIN", "TENANCY_CRASH_APP")
	var shared, tenant fs.FS
	if v := os.Getenv("TENANCY_CRASH_VERSION"); v != "" {
		n, _ := strconv.Atoi(v)
		tenant = crashFiles(n)
	} else {
		shared, tenant = sharedMigrations, tenantMigrations
	}
	c, err := tenancy.New(&tenancy.Config{AppPool: app, OwnerPool: admin, SharedMigrations: shared, TenantMigrations: tenant})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("go")
	switch op := os.Getenv("TENANCY_CRASH_OP"); op {
	case "create":
		_, err = c.TenantCreate(ctx, os.Getenv("TENANCY_CRASH_SLUG"), &tenancy.TenantCreateOpts{Tier: tenancy.Tier(os.Getenv("TENANCY_CRASH_TIER"))})
	case "migrate":
		_, err = c.Migrate(ctx, &tenancy.MigrateOpts{Concurrency: 2})
	default:
		t.Fatalf("TENANCY_CRASH_OP=%q", op)
	}
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("done")
}

// checkUsable asserts that tn is active at the latest version and serves a write and a read
// through the binding.
func checkUsable(t *testing.T, c *tenancy.Client, slug string) {
	t.Helper()
	ctx := context.Background()
	tn, err := c.TenantGet(ctx, slug)
	if err != nil {
		t.Fatalf("%s: %v", slug, err)
	}
	if tn.Status != tenancy.StatusActive || tn.Version != c.LatestVersion() {
		t.Fatalf("%s: status %s, version %d; want active at %d", slug, tn.Status, tn.Version, c.LatestVersion())
	}
	bctx := tenancy.WithTenant(ctx, tn)
	if _, err := c.Exec(bctx, `INSERT INTO notes (body) VALUES ('after the crash')`); err != nil {
		t.Fatalf("%s: write after the crash: %v", slug, err)
	}
	var n int
	if err := c.QueryRow(bctx, `SELECT count(*) FROM notes WHERE body = 'after the crash'`).Scan(&n); err != nil || n < 1 {
		t.Fatalf("%s: read after the crash: %d rows, %v", slug, n, err)
	}
}

// TestProofCrashCreate kills TenantCreate (schema, database and pool tiers) at random moments;
// TenantCreate again or Repair finishes the tenant, and Check finds nothing wrong.
func TestProofCrashCreate(t *testing.T) {
	if os.Getenv("TENANCY_CRASH_CHILD") != "" {
		t.Skip("in the child")
	}
	t.Parallel()
	trials := crashTrials(t)
	ctx := context.Background()
	db := newDB(t, 2)
	c := db.Client
	// The database tier's template is made on first use (a kill while it is being made is not
	// what this tests, see TestMoveKilled); the uninterrupted creates also time each tier.
	est := map[tenancy.Tier]time.Duration{}
	tiers := []tenancy.Tier{tenancy.TierSchema, tenancy.TierDatabase, tenancy.TierSchema, tenancy.TierPool}
	for _, tier := range []tenancy.Tier{tenancy.TierSchema, tenancy.TierDatabase, tenancy.TierPool} {
		for i := range 2 {
			start := time.Now()
			if _, err := c.TenantCreate(ctx, fmt.Sprintf("warm-%s-%d", tier, i), &tenancy.TenantCreateOpts{Tier: tier}); err != nil {
				t.Fatal(err)
			}
			est[tier] = time.Since(start) // the second, warm, one counts
		}
	}
	t.Logf("uninterrupted create: schema %v, database %v, pool %v", est[tenancy.TierSchema], est[tenancy.TierDatabase], est[tenancy.TierPool])
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 8))
	adminURL, appURL := crashChildURL(t, db.AdminURL), crashChildURL(t, db.AppURL)
	outcome := map[string]int{}
	for trial := range trials {
		tier := tiers[trial%len(tiers)]
		slug := fmt.Sprintf("crash-%03d", trial)
		// Up to 1.5x the uninterrupted time: most kills land mid-create, some after it.
		delay := time.Duration(rng.Int64N(int64(est[tier])*3/2 + 1))
		kr := runAndKill(t, delay, "TENANCY_CRASH_OP=create", "TENANCY_CRASH_SLUG="+slug, "TENANCY_CRASH_TIER="+string(tier),
			"TENANCY_CRASH_ADMIN="+adminURL, "TENANCY_CRASH_APP="+appURL)
		var status string
		err := db.OwnerPool.QueryRow(ctx, `SELECT status FROM tenancy.tenants WHERE slug = $1`, slug).Scan(&status)
		switch {
		case err != nil && strings.Contains(err.Error(), "no rows"):
			status = "absent"
		case err != nil:
			t.Fatal(err)
		}
		if kr.finished && status != "active" {
			t.Fatalf("trial %d: the child reported %s created, but it is %s", trial, slug, status)
		}
		outcome[string(tier)+" "+status]++
		if trial%2 == 0 {
			if _, err := c.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: tier}); err != nil && !errors.Is(err, tenancy.ErrTenantExists) {
				t.Fatalf("trial %d (%s, %s after a kill at %v): create again: %v", trial, tier, status, delay, err)
			}
			if errors.Is(err, tenancy.ErrTenantExists) && status != "active" {
				t.Fatalf("trial %d: create again says %s exists, but it was %s", trial, slug, status)
			}
		} else {
			res, err := c.Repair(ctx)
			if err != nil || len(res.Failed) > 0 {
				t.Fatalf("trial %d (%s, %s after a kill at %v): repair: %v %v", trial, tier, status, delay, err, res.Failed)
			}
			if status == "absent" {
				// Killed before the catalog row: nothing to repair, and the slug is free.
				if _, err := c.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: tier}); err != nil {
					t.Fatalf("trial %d: create after a kill before the catalog row: %v", trial, err)
				}
			}
		}
		checkUsable(t, c, slug)
		if res := mustCheck(t, c); !res.OK() {
			for _, p := range res.Problems {
				t.Errorf("trial %d (%s, %s after a kill at %v): check: %s", trial, tier, status, delay, p)
			}
			t.FailNow()
		}
	}
	t.Logf("%d trials; state found after the kill (tier, status): %v", trials, outcome)
}

// TestProofCrashMigrate kills a fleet migration (schema, database and pool tiers, each trial a
// new version) at random moments; Migrate again brings every tenant to the latest version and
// Check finds nothing wrong.
func TestProofCrashMigrate(t *testing.T) {
	if os.Getenv("TENANCY_CRASH_CHILD") != "" {
		t.Skip("in the child")
	}
	t.Parallel()
	trials := crashTrials(t)
	ctx := context.Background()
	db := tenancytest.New(t, &tenancytest.Options{TenantMigrations: migV1})
	var slugs []string
	for i, tier := range []tenancy.Tier{tenancy.TierSchema, tenancy.TierSchema, tenancy.TierSchema, tenancy.TierSchema,
		tenancy.TierSchema, tenancy.TierSchema, tenancy.TierDatabase, tenancy.TierDatabase, tenancy.TierPool, tenancy.TierPool} {
		slug := fmt.Sprintf("m%02d", i)
		if _, err := db.Client.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: tier}); err != nil {
			t.Fatal(err)
		}
		slugs = append(slugs, slug)
	}
	migrate := func(c *tenancy.Client) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute) // a hang guard
		for {
			_, err := c.Migrate(ctx, &tenancy.MigrateOpts{Concurrency: 2})
			if err == nil {
				return
			}
			// The killed migrator's lock goes with its session; wait for the server to notice.
			if !errors.Is(err, tenancy.ErrMigrationLocked) || time.Now().After(deadline) {
				t.Fatalf("migrate: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	start := time.Now()
	migrate(clientWith(t, db, crashFiles(2), nil))
	est := time.Since(start)
	t.Logf("uninterrupted fleet migration (%d tenants, one version): %v", len(slugs), est)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	adminURL, appURL := crashChildURL(t, db.AdminURL), crashChildURL(t, db.AppURL)
	midway, finished := 0, 0
	for trial := range trials {
		v := trial + 3
		delay := time.Duration(rng.Int64N(int64(est)*11/10 + 1))
		kr := runAndKill(t, delay, "TENANCY_CRASH_OP=migrate", "TENANCY_CRASH_VERSION="+strconv.Itoa(v),
			"TENANCY_CRASH_ADMIN="+adminURL, "TENANCY_CRASH_APP="+appURL)
		if kr.finished {
			finished++
		}
		var behind int
		if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM tenancy.placements WHERE kind NOT IN ('shape', 'shared') AND version < $1`, v).Scan(&behind); err != nil {
			t.Fatal(err)
		}
		var total int
		if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM tenancy.placements WHERE kind NOT IN ('shape', 'shared')`).Scan(&total); err != nil {
			t.Fatal(err)
		}
		t.Logf("trial %d: kill at %v, finished %v, %d of %d placements behind", trial, delay, kr.finished, behind, total)
		if kr.finished && behind > 0 {
			t.Fatalf("trial %d: the child reported the migration done, but %d placements are behind", trial, behind)
		}
		if behind > 0 && behind < total {
			midway++
		}
		c := clientWith(t, db, crashFiles(v), nil)
		migrate(c)
		for _, slug := range slugs {
			checkUsable(t, c, slug)
		}
		if res := mustCheck(t, c); !res.OK() {
			for _, p := range res.Problems {
				t.Errorf("trial %d (version %d, kill at %v, %d of %d placements behind): check: %s", trial, v, delay, behind, total, p)
			}
			t.FailNow()
		}
	}
	t.Logf("%d trials: %d killed with the fleet partly migrated, %d after the child finished", trials, midway, finished)
}
