package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowser drives a real headless Chromium through sign-up (and its mailed link), creating a project and a task, and
// checks that another organisation does not see them. Screenshots go to the test's artifact
// folder (go test -artifacts keeps them); with TASKBOARD_SCREENSHOTS=DIR the README's screenshots
// (tenant-app.png, console.png, taken on the demo data) are written to DIR as well:
//
//	TASKBOARD_SCREENSHOTS=$PWD/docs/screenshots go test -run TestBrowser ./examples/taskboard/...
func TestBrowser(t *testing.T) {
	chrome := chromiumPath()
	if chrome == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed, and CI must run the browser test (apt-get install chromium)")
		}
		t.Skip("chromium is not installed (apt-get install chromium); skipping the browser test")
	}
	e := newEnv(t)
	if _, err := SeedDemo(context.Background(), e.db.Client, 4); err != nil {
		t.Fatal(err)
	}
	out := t.ArtifactDir()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profileDir(t)),
		chromedp.Flag("host-resolver-rules", "MAP *.localhost 127.0.0.1, MAP localhost 127.0.0.1"),
		chromedp.WindowSize(1280, 860),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 5*time.Minute) // a hang guard: Chromium is slow on a busy machine
	defer cancel()

	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 90).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(out, name), buf, 0o644)
		})
	}
	var location, dashboard, projectPage string
	// Sign up: the public site mails a link (the outbox) and makes nothing yet.
	err := chromedp.Run(ctx,
		chromedp.Navigate(e.url("", "/")),
		chromedp.WaitVisible(`#signup-submit`, chromedp.ByID),
		chromedp.SendKeys(`#name`, "Robin Browser", chromedp.ByID),
		chromedp.SendKeys(`#email`, "robin@example.com", chromedp.ByID),
		chromedp.SendKeys(`#password`, "a long password", chromedp.ByID),
		chromedp.SendKeys(`#org`, "Robin's Roasters", chromedp.ByID),
		chromedp.SendKeys(`#slug`, "roasters", chromedp.ByID),
		shot("01-signup.png"),
		chromedp.Click(`#signup-submit`, chromedp.ByID),
		chromedp.WaitVisible(`#signup-sent`, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("sign-up: %v", err)
	}
	// Following the link with the password creates the organisation and hands the browser to
	// its host.
	err = chromedp.Run(ctx,
		chromedp.Navigate(e.mailedLink("robin@example.com")),
		chromedp.WaitVisible(`#confirm-submit`, chromedp.ByID),
		chromedp.SendKeys(`#password`, "a long password", chromedp.ByID),
		chromedp.Click(`#confirm-submit`, chromedp.ByID),
		chromedp.WaitVisible(`#project-submit`, chromedp.ByID),
		chromedp.Location(&location),
		chromedp.Text(`#org-name`, &dashboard, chromedp.ByID),
		shot("02-dashboard.png"),
	)
	if err != nil {
		t.Fatalf("sign-up: %v", err)
	}
	if location != e.url("roasters", "/") || dashboard != "Robin's Roasters" {
		t.Fatalf("after sign-up: at %s, organisation %q", location, dashboard)
	}
	// Create a project, then a task in it, and see the task listed.
	err = chromedp.Run(ctx,
		chromedp.SendKeys(`#project-name`, "Spring blend", chromedp.ByID),
		chromedp.SendKeys(`#project-description`, "Launch the spring blend", chromedp.ByID),
		chromedp.Click(`#project-submit`, chromedp.ByID),
		chromedp.WaitVisible(`#task-submit`, chromedp.ByID),
		chromedp.SendKeys(`#task-title`, "Taste-test three roasts", chromedp.ByID),
		chromedp.Click(`#task-submit`, chromedp.ByID),
		chromedp.WaitVisible(`//table[@id="tasks"]//a[text()="Taste-test three roasts"]`),
		chromedp.Text(`#tasks`, &projectPage, chromedp.ByID),
		shot("03-project.png"),
	)
	if err != nil {
		t.Fatalf("project and task: %v", err)
	}
	if !strings.Contains(projectPage, "Taste-test three roasts") || !strings.Contains(projectPage, "todo") {
		t.Fatalf("task not listed: %q", projectPage)
	}
	browserBoard(t, ctx, e, shot) // the React view (board_browser_test.go)
	// Another organisation (the demo's acme, logged in on its own host) sees none of it.
	var acmeText, acmeProject string
	err = chromedp.Run(ctx,
		chromedp.Navigate(e.url("acme", "/login")),
		chromedp.WaitVisible(`#login-submit`, chromedp.ByID),
		chromedp.SendKeys(`#email`, "demo@example.com", chromedp.ByID),
		chromedp.SendKeys(`#password`, DemoPassword, chromedp.ByID),
		chromedp.Click(`#login-submit`, chromedp.ByID),
		chromedp.WaitVisible(`#projects`, chromedp.ByID),
		chromedp.Text(`body`, &acmeText, chromedp.ByQuery),
		chromedp.Navigate(e.url("acme", "/projects/1")),
		chromedp.WaitVisible(`#project-title`, chromedp.ByID),
		chromedp.Text(`body`, &acmeProject, chromedp.ByQuery),
		shot("04-other-organisation.png"),
	)
	if err != nil {
		t.Fatalf("other organisation: %v", err)
	}
	if !strings.Contains(acmeText, "Website relaunch") || strings.Contains(acmeText, "Spring blend") ||
		strings.Contains(acmeProject, "Taste-test") {
		t.Fatalf("acme's pages show the other organisation's data, or not its own:\n%s", acmeText)
	}
	// Robin (member of roasters only) is refused on acme.
	var refused string
	err = chromedp.Run(ctx,
		chromedp.Navigate(e.url("globex", "/login")),
		chromedp.WaitVisible(`#login-submit`, chromedp.ByID),
		chromedp.SendKeys(`#email`, "robin@example.com", chromedp.ByID),
		chromedp.SendKeys(`#password`, "a long password", chromedp.ByID),
		chromedp.Click(`#login-submit`, chromedp.ByID),
		chromedp.WaitVisible(`#error`, chromedp.ByID),
		chromedp.Text(`#error`, &refused, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("refusal: %v", err)
	}
	if !strings.Contains(refused, "not a member") {
		t.Fatalf("Robin on globex: %q", refused)
	}
	// The operator console.
	var console string
	err = chromedp.Run(ctx,
		chromedp.Navigate(e.url("", "/admin/login")),
		chromedp.WaitVisible(`#admin-submit`, chromedp.ByID),
		chromedp.SendKeys(`#admin-password`, testOperatorPassword, chromedp.ByID),
		chromedp.Click(`#admin-submit`, chromedp.ByID),
		chromedp.WaitVisible(`#tenants`, chromedp.ByID),
		chromedp.Text(`#tenants`, &console, chromedp.ByID),
		shot("05-console.png"),
	)
	if err != nil {
		t.Fatalf("console: %v", err)
	}
	for _, slug := range []string{"acme", "globex", "initech", "roasters"} {
		if !strings.Contains(console, slug) {
			t.Errorf("console does not list %s", slug)
		}
	}
	if dir := os.Getenv("TASKBOARD_SCREENSHOTS"); dir != "" {
		readme(t, ctx, e, dir)
	}
	t.Logf("screenshots in %s", out)
}

// readme takes the README's screenshots: the demo's acme project page and the console.
func readme(t *testing.T, ctx context.Context, e *env, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	save := func(name string, sel string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.Screenshot(sel, &buf, chromedp.ByQuery).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, name), buf, 0o644)
		})
	}
	err := chromedp.Run(ctx,
		chromedp.EmulateViewport(1200, 800),
		chromedp.Navigate(e.url("acme", "/projects/1")),
		chromedp.WaitVisible(`#tasks`, chromedp.ByID),
		save("tenant-app.png", "body"),
		chromedp.Navigate(e.url("", "/admin")),
		chromedp.WaitVisible(`#tenants`, chromedp.ByID),
		save("console.png", "body"),
	)
	if err != nil {
		t.Fatalf("README screenshots: %v", err)
	}
}

// profileDir is a folder for Chromium's profile. Not t.TempDir: Chromium's helper processes may
// still be writing to it for a moment after the browser is closed, which fails t.TempDir's
// cleanup; this one is removed with a few retries.
func profileDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "taskboard-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 20; i++ {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove Chromium's profile %s", dir)
	})
	return dir
}

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}
