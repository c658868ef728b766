// Package pglocal starts and stops a PostgreSQL cluster from the server binaries installed on the
// machine. It is what the tests, the CLI and the demo use when no database is named.
//
// A cluster lives in one folder: the data directory (pgdata/), the server log (server.log) and a
// small state file (cluster.json) with the port and the superuser password. Start reuses a
// cluster that is already initialised or running, so that every test binary of one `go test ./...`
// run and every CLI invocation share it. When the caller is root the server runs as an
// unprivileged system user, because PostgreSQL refuses to run as root.
package pglocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoBinaries is returned when no PostgreSQL server binaries can be found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found (install them: Debian/Ubuntu `apt-get install postgresql`, macOS `brew install postgresql`; or set DATABASE_URL to an existing server)")

// Options tune a cluster. The zero value is a durable cluster for development data.
type Options struct {
	// Fast turns off fsync and friends: for throwaway test clusters only.
	Fast bool
	// Settings are extra postgresql.conf lines (name -> value), applied at every start.
	Settings map[string]string
	// Log receives progress lines ("initialising ...", "starting ..."); nil for silence.
	Log func(format string, args ...any)
}

// Cluster is a local PostgreSQL cluster.
type Cluster struct {
	Dir      string // the cluster folder
	BinDir   string // where initdb, pg_ctl and postgres were found
	Port     int
	Password string // the superuser's password (superuser name: postgres)
	// Started is true when this call started the server (false: it was already running).
	Started bool

	runAs *syscall.Credential
}

type state struct {
	Port     int    `json:"port"`
	Password string `json:"password"`
	BinDir   string `json:"bin_dir"`
}

// Superuser is the name of the cluster's superuser.
const Superuser = "postgres"

// URL returns a connection string for the superuser and database db over loopback TCP.
func (c *Cluster) URL(db string) string {
	return c.URLFor(Superuser, c.Password, db)
}

// URLFor returns a connection string for any role and database of the cluster.
func (c *Cluster) URLFor(role, password, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(role, password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// FindBinaries returns the folder holding initdb, pg_ctl and postgres: PATH, `pg_config --bindir`,
// /usr/lib/postgresql/*/bin (newest first), /usr/local/pgsql/bin and Homebrew's folders.
func FindBinaries() (string, error) {
	var candidates []string
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	candidates = append(candidates, newestFirst("/usr/lib/postgresql/*/bin")...)
	candidates = append(candidates, "/usr/local/pgsql/bin")
	candidates = append(candidates, newestFirst("/opt/homebrew/opt/postgresql@*/bin")...)
	candidates = append(candidates, newestFirst("/usr/local/opt/postgresql@*/bin")...)
	candidates = append(candidates, "/opt/homebrew/bin", "/usr/local/bin")
	for _, dir := range candidates {
		if isExec(filepath.Join(dir, "initdb")) && isExec(filepath.Join(dir, "pg_ctl")) && isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

// newestFirst expands a glob whose wildcard is a version number and sorts it newest first.
func newestFirst(pattern string) []string {
	dirs, _ := filepath.Glob(pattern)
	version := func(dir string) float64 {
		for _, part := range strings.Split(dir, string(filepath.Separator)) {
			if i := strings.IndexByte(part, '@'); i >= 0 {
				part = part[i+1:]
			}
			if v, err := strconv.ParseFloat(part, 64); err == nil {
				return v
			}
		}
		return 0
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return dirs
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start initialises the cluster in dir if needed and starts it unless it is already running.
// Concurrent callers (other processes included) are serialised by a lock file in dir.
func Start(ctx context.Context, dir string, opts *Options) (*Cluster, error) {
	if opts == nil {
		opts = &Options{}
	}
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("local postgres: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	c := &Cluster{Dir: dir}
	if os.Geteuid() == 0 {
		cred, err := unprivilegedUser()
		if err != nil {
			return nil, err
		}
		c.runAs = cred
		if err := checkReachable(dir, cred); err != nil {
			return nil, err
		}
	}

	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	pgdata := filepath.Join(dir, "pgdata")
	if st != nil && fileExists(filepath.Join(pgdata, "PG_VERSION")) {
		c.Port, c.Password, c.BinDir = st.Port, st.Password, st.BinDir
		if !isExec(filepath.Join(c.BinDir, "pg_ctl")) {
			if c.BinDir, err = FindBinaries(); err != nil {
				return nil, err
			}
		}
		if c.running(ctx) {
			return c, nil
		}
	} else {
		if c.BinDir, err = FindBinaries(); err != nil {
			return nil, err
		}
		logf("initialising a PostgreSQL cluster in %s", pgdata)
		if err := c.initdb(ctx, pgdata); err != nil {
			return nil, err
		}
	}

	// Pick a free port each start: the previous one may have been taken meanwhile.
	for attempt := 0; ; attempt++ {
		if c.Port == 0 || attempt > 0 || !portFree(c.Port) {
			if c.Port, err = freePort(); err != nil {
				return nil, err
			}
		}
		if err := writeState(dir, &state{Port: c.Port, Password: c.Password, BinDir: c.BinDir}); err != nil {
			return nil, err
		}
		if err := c.writeConf(pgdata, opts); err != nil {
			return nil, err
		}
		logf("starting PostgreSQL on 127.0.0.1:%d", c.Port)
		err = c.pgctl(ctx, "start", "-w", "-t", "60", "-D", pgdata, "-l", filepath.Join(dir, "server.log"))
		if err == nil {
			c.Started = true
			return c, nil
		}
		if attempt >= 2 {
			return nil, fmt.Errorf("local postgres: start failed (see %s): %w", filepath.Join(dir, "server.log"), err)
		}
	}
}

// Stop stops the cluster in dir if it is running. A folder with no cluster is not an error.
func Stop(ctx context.Context, dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	st, err := readState(dir)
	if err != nil || st == nil {
		return err
	}
	c := &Cluster{Dir: dir, Port: st.Port, Password: st.Password, BinDir: st.BinDir}
	if os.Geteuid() == 0 {
		if c.runAs, err = unprivilegedUser(); err != nil {
			return err
		}
	}
	if !c.running(ctx) {
		return nil
	}
	return c.pgctl(ctx, "stop", "-w", "-m", "fast", "-D", filepath.Join(dir, "pgdata"))
}

// Status reports whether the cluster in dir exists and is running.
func Status(ctx context.Context, dir string) (c *Cluster, running bool, err error) {
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, false, err
	}
	st, err := readState(dir)
	if err != nil || st == nil {
		return nil, false, err
	}
	c = &Cluster{Dir: dir, Port: st.Port, Password: st.Password, BinDir: st.BinDir}
	if os.Geteuid() == 0 {
		if c.runAs, err = unprivilegedUser(); err != nil {
			return nil, false, err
		}
	}
	return c, c.running(ctx), nil
}

func (c *Cluster) running(ctx context.Context) bool {
	pgdata := filepath.Join(c.Dir, "pgdata")
	if !fileExists(filepath.Join(pgdata, "postmaster.pid")) {
		return false
	}
	return c.pgctl(ctx, "status", "-D", pgdata) == nil
}

func (c *Cluster) initdb(ctx context.Context, pgdata string) error {
	c.Password = randomHex(16)
	pwfile := filepath.Join(c.Dir, ".pwfile")
	if err := os.WriteFile(pwfile, []byte(c.Password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	_ = os.RemoveAll(pgdata)
	if c.runAs != nil {
		if err := os.Chown(pwfile, int(c.runAs.Uid), int(c.runAs.Gid)); err != nil {
			return err
		}
		if err := os.Mkdir(pgdata, 0o700); err != nil {
			return err
		}
		if err := os.Chown(pgdata, int(c.runAs.Uid), int(c.runAs.Gid)); err != nil {
			return err
		}
		// The server writes its log here.
		if err := os.Chown(c.Dir, int(c.runAs.Uid), int(c.runAs.Gid)); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "initdb"),
		"-D", pgdata, "-U", Superuser, "--pwfile", pwfile, "-E", "UTF8", "--locale", "C",
		"--auth-local", "scram-sha-256", "--auth-host", "scram-sha-256")
	if out, err := c.run(cmd); err != nil {
		return fmt.Errorf("local postgres: initdb: %w\n%s", err, out)
	}
	return nil
}

func (c *Cluster) writeConf(pgdata string, opts *Options) error {
	settings := map[string]string{
		"port":                      strconv.Itoa(c.Port),
		"listen_addresses":          "'127.0.0.1'",
		"unix_socket_directories":   "''",
		"max_connections":           "300",
		"shared_buffers":            "'256MB'",
		"max_locks_per_transaction": "256",
	}
	// The socket lives in the cluster folder when its path fits the 107-byte limit.
	if sock := filepath.Join(c.Dir, ".s.PGSQL."+strconv.Itoa(c.Port)); len(sock) < 100 {
		settings["unix_socket_directories"] = quoteConf(c.Dir)
	}
	if opts.Fast {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# written by tenancy at every start; edit postgresql.conf instead\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, settings[k])
	}
	path := filepath.Join(pgdata, "tenancy.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	conf := filepath.Join(pgdata, "postgresql.conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), "include_if_exists = 'tenancy.conf'") {
		data = append(data, []byte("\ninclude_if_exists = 'tenancy.conf'\n")...)
		if err := os.WriteFile(conf, data, 0o600); err != nil {
			return err
		}
	}
	if c.runAs != nil {
		_ = os.Chown(path, int(c.runAs.Uid), int(c.runAs.Gid))
	}
	return nil
}

func quoteConf(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (c *Cluster) pgctl(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "pg_ctl"), args...)
	out, err := c.run(cmd)
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w: %s", args[0], err, strings.TrimSpace(out))
	}
	return nil
}

func (c *Cluster) run(cmd *exec.Cmd) (string, error) {
	if c.runAs != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.runAs}
		cmd.Env = append(os.Environ(), "HOME=/tmp")
		cmd.Dir = "/"
	}
	// pg_ctl start leaves the server running with our stdout open unless it is a file; use
	// temporary files, not pipes, so that Wait does not block on the server.
	f, err := os.CreateTemp("", "tenancy-pgctl-*.log")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	return string(out), err
}

// unprivilegedUser returns the credentials the server runs under when we are root.
func unprivilegedUser() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("local postgres: running as root, and there is no 'postgres' user to run the server as (PostgreSQL refuses to run as root)")
}

// checkReachable makes sure the unprivileged user can reach dir: every parent must be searchable.
func checkReachable(dir string, cred *syscall.Credential) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		perm := fi.Mode().Perm()
		reachable := perm&0o001 != 0 ||
			(ok && st.Uid == cred.Uid && perm&0o100 != 0) ||
			(ok && st.Gid == cred.Gid && perm&0o010 != 0)
		if !reachable {
			return fmt.Errorf("local postgres: the server runs as an unprivileged user (PostgreSQL refuses root), which cannot enter %s; use a folder it can reach or set DATABASE_URL", p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func readState(dir string) (*state, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("local postgres: %s: %w", filepath.Join(dir, "cluster.json"), err)
	}
	return &st, nil
}

func writeState(dir string, st *state) error {
	data, _ := json.MarshalIndent(st, "", "  ")
	tmp := filepath.Join(dir, "cluster.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "cluster.json"))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// lockFile takes an exclusive flock on path, waiting for ctx.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
