package tenancyhttp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyhttp"
)

// childEnv names the database a child process serves; see TestMain.
const childEnv = "TENANCYHTTP_TEST_SERVE_URL"

// TestMain doubles as a second application process: with childEnv set, the test binary serves
// tenants from that database on a loopback port (printed on stdout) until stdin closes.
func TestMain(m *testing.M) {
	if url := os.Getenv(childEnv); url != "" {
		if err := serveChild(url); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func serveChild(url string) error {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	tenancy.ConfigurePool(cfg, "")
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	client, err := tenancy.New(&tenancy.Config{AppPool: pool})
	if err != nil {
		return err
	}
	cache := tenancyhttp.NewCache(client, &tenancyhttp.CacheConfig{TTL: time.Hour})
	if err := cache.Start(ctx); err != nil {
		return err
	}
	defer cache.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: tenancyhttp.NewRouter(&tenancyhttp.Config{
		Tenants:     cache,
		Resolvers:   []tenancyhttp.Resolver{tenancyhttp.Subdomain("localhost")},
		PublicHosts: []string{"localhost"},
	}, public, echo)}
	go srv.Serve(ln)
	fmt.Printf("LISTENING http://%s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	return srv.Close()
}

// TestSuspendReachesSecondProcess: a suspend made through the catalog by this process changes
// the answer of another process (its own pool, cache and listener, serving real HTTP); how soon
// is logged, not asserted.
func TestSuspendReachesSecondProcess(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	create(t, db, "acme")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+db.AppURL)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "LISTENING ") {
		t.Fatalf("child said %q, %v", line, err)
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "LISTENING "))
	if code, body := get(t, base, "acme.localhost", "/x"); code != 200 || body != "acme /x" {
		t.Fatalf("child: %d %q", code, body)
	}
	if _, err := db.Client.TenantSuspend(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, func() bool { code, _ := get(t, base, "acme.localhost", "/x"); return code == 403 })
	if _, err := db.Client.TenantResume(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	took2 := waitFor(t, func() bool { code, _ := get(t, base, "acme.localhost", "/x"); return code == 200 })
	t.Logf("the other process answered 403 %v after the suspend, 200 %v after the resume", took, took2)
}
