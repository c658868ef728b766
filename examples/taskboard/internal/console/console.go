// Package console is taskboard's operator console, under /admin on the public host, behind the
// operator password. It lists the tenants with their tier, status, migration version and size,
// and acts on them through the tenancy library: create, suspend/resume, migrate (Client.Migrate,
// the fleet or one tenant), back up (Client.Backup, downloaded as the tenant's archive) and move
// to another tier (Client.Move).
//
// Its pages (admin.html, admin_login.html) are rendered by the application (Site), inside the
// application's layout; the application also throttles log-ins and protects forms from other
// origins before they reach the console.
package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store/shareddb"
)

// Site is what the console needs of the application around it.
type Site interface {
	// RenderStatus answers one of the application's pages with status and data.
	RenderStatus(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any)
	// Refuse answers an error page.
	Refuse(w http.ResponseWriter, r *http.Request, status int, msg string)
	// InternalError logs err and answers 500.
	InternalError(w http.ResponseWriter, r *http.Request, err error)
	// AllowLogIn takes one operator log-in attempt from the rate limits; refused, it has
	// answered (429) and returns false.
	AllowLogIn(w http.ResponseWriter, r *http.Request) bool
	// Secure reports whether r came over https (Secure cookies).
	Secure(r *http.Request) bool
}

// Sessions keeps the operators' sessions, by the SHA-256 of their cookie.
type Sessions interface {
	Add(key [32]byte, expires time.Time)
	// Valid reports whether key is a live session, forgetting it if it has expired.
	Valid(key [32]byte) bool
	Delete(key [32]byte)
}

// Config configures a Console.
type Config struct {
	Client *tenancy.Client
	Site   Site

	// OperatorPassword protects the console; empty disables it.
	OperatorPassword string

	// Sessions keeps the operators' sessions; nil keeps them in memory (MemorySessions).
	Sessions Sessions

	Logger *slog.Logger
}

// Console serves /admin.
type Console struct {
	db       *tenancy.Client
	site     Site
	sessions Sessions
	opHash   [32]byte // sha256 of the operator password; zero: console disabled
	log      *slog.Logger
}

// New returns the console of cfg.
func New(cfg *Config) (*Console, error) {
	if cfg == nil || cfg.Client == nil || cfg.Site == nil {
		return nil, errors.New("console: Config.Client and Site are required")
	}
	c := &Console{db: cfg.Client, site: cfg.Site, sessions: cfg.Sessions, log: cfg.Logger}
	if c.sessions == nil {
		c.sessions = &MemorySessions{}
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if cfg.OperatorPassword != "" {
		c.opHash = sha256.Sum256([]byte(cfg.OperatorPassword))
	}
	return c, nil
}

// MemorySessions are Sessions in a map.
type MemorySessions struct {
	mu sync.Mutex
	m  map[[32]byte]time.Time
}

func (m *MemorySessions) Add(key [32]byte, expires time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[[32]byte]time.Time{}
	}
	m.m[key] = expires
}

func (m *MemorySessions) Valid(key [32]byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.m[key]
	if ok && time.Now().After(exp) {
		delete(m.m, key)
		ok = false
	}
	return ok
}

func (m *MemorySessions) Delete(key [32]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, key)
}

// operatorOK compares a password with the operator's in constant time.
func (s *Console) operatorOK(password string) bool {
	if s.opHash == [32]byte{} {
		return false
	}
	h := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(h[:], s.opHash[:]) == 1
}

// Enabled says whether /admin is served.
func (s *Console) Enabled() bool { return s.opHash != [32]byte{} }

const adminCookie = "tb_admin"

// moveTimeout bounds a move started from the console; like a migration, it is not cut short by
// the operator's browser going away (Move is crash-safe, but a finished move is better).
const moveTimeout = 30 * time.Minute

// migrateTimeout bounds a migration started from the console. The run goes on if the operator's
// browser gives up (a half-finished run is safe, but pointless to cause); a fleet too large to
// migrate within a request is migrated with `taskboard migrate`, which shows progress.
const migrateTimeout = 10 * time.Minute

// statsLimit caps the tenants whose size is measured one bound query each (pool and database
// tiers); beyond it the console shows no size for them, to stay fast on a large fleet.
const statsLimit = 200

// Routes mounts the console on mux.
func (s *Console) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/login", s.adminLoginPage)
	mux.HandleFunc("POST /admin/login", s.adminLogin)
	mux.HandleFunc("POST /admin/logout", s.requireOperator(s.adminLogout))
	mux.HandleFunc("GET /admin", s.requireOperator(s.adminHome))
	mux.HandleFunc("POST /admin/tenants", s.requireOperator(s.adminCreate))
	mux.HandleFunc("POST /admin/tenants/{slug}/suspend", s.requireOperator(s.adminStatus((*tenancy.Client).TenantSuspend)))
	mux.HandleFunc("POST /admin/tenants/{slug}/resume", s.requireOperator(s.adminStatus((*tenancy.Client).TenantResume)))
	mux.HandleFunc("POST /admin/migrate", s.requireOperator(s.adminMigrate))
	mux.HandleFunc("POST /admin/tenants/{slug}/migrate", s.requireOperator(s.adminMigrate))
	mux.HandleFunc("POST /admin/tenants/{slug}/backup", s.requireOperator(s.adminBackup))
	mux.HandleFunc("POST /admin/tenants/{slug}/move", s.requireOperator(s.adminMove))
}

// adminSession reports whether the request has a live operator session, and its key.
func (s *Console) adminSession(r *http.Request) (bool, [32]byte) {
	c, err := r.Cookie(adminCookie)
	if err != nil {
		return false, [32]byte{}
	}
	key := sha256.Sum256([]byte(c.Value))
	return s.sessions.Valid(key), key
}

// requireOperator lets through requests with an operator session. Posts from other origins never
// get here (crossOriginProtect).
func (s *Console) requireOperator(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.Enabled() {
			s.site.Refuse(w, r, http.StatusNotFound, "The operator console is disabled.")
			return
		}
		if ok, _ := s.adminSession(r); !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
				return
			}
			s.site.Refuse(w, r, http.StatusUnauthorized, "Log in to the console first.")
			return
		}
		h(w, r)
	}
}

func (s *Console) adminLoginPage(w http.ResponseWriter, r *http.Request) {
	s.site.RenderStatus(w, r, http.StatusOK, "admin_login.html", map[string]any{"Title": "Console", "Admin": true, "Disabled": !s.Enabled()})
}

func (s *Console) adminLogin(w http.ResponseWriter, r *http.Request) {
	if !s.Enabled() {
		s.site.Refuse(w, r, http.StatusNotFound, "The operator console is disabled.")
		return
	}
	// Per client, and for the console as a whole: parallel guesses from many addresses
	// still share the one password's budget.
	if !s.site.AllowLogIn(w, r) {
		return
	}
	if !s.operatorOK(r.PostFormValue("password")) {
		s.site.RenderStatus(w, r, http.StatusUnauthorized, "admin_login.html", map[string]any{"Title": "Console", "Admin": true, "Error": "Wrong operator password."})
		return
	}
	tok, _ := store.NewToken("")
	s.sessions.Add(sha256.Sum256([]byte(tok)), time.Now().Add(8*time.Hour))
	http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: tok, Path: "/admin", HttpOnly: true, Secure: s.site.Secure(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

func (s *Console) adminLogout(w http.ResponseWriter, r *http.Request) {
	_, key := s.adminSession(r)
	s.sessions.Delete(key)
	http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: "", Path: "/admin", MaxAge: -1, HttpOnly: true, Secure: s.site.Secure(r)})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

type adminRow struct {
	T       *tenancy.Tenant
	Plan    string
	Size    tenantSize
	Members int
	Use     tenancy.TenantUsage // calls, errors, timeouts, refusals (Client.Usage)
}

// tenantSize is what the console knows of a tenant's size: bytes on disk for a schema or a
// database of its own, rows for a tenant in the shared pool (its bytes are not its own).
type tenantSize struct {
	Known bool
	Bytes int64
	Rows  int64
}

// adminPage is what the console shows besides the tenants: a message, and a migration's result.
type adminPage struct {
	Flash, Error string
	Failed       []*tenancy.TenantError // tenants a migration could not bring up to date
}

type tierOption struct {
	Name      string
	Available bool
}

func (s *Console) adminHome(w http.ResponseWriter, r *http.Request) {
	s.renderAdmin(w, r, http.StatusOK, "", "")
}

func (s *Console) renderAdmin(w http.ResponseWriter, r *http.Request, status int, flash, msg string) {
	s.renderAdminPage(w, r, status, adminPage{Flash: flash, Error: msg})
}

func (s *Console) renderAdminPage(w http.ResponseWriter, r *http.Request, status int, pg adminPage) {
	ctx := r.Context()
	var all []*tenancy.Tenant
	opts := &tenancy.TenantListOpts{Limit: 500}
	for {
		pageT, err := s.db.TenantList(ctx, opts)
		if err != nil {
			s.site.InternalError(w, r, err)
			return
		}
		all = append(all, pageT...)
		if len(pageT) < opts.Limit || len(all) >= 5000 {
			break
		}
		opts.After = pageT[len(pageT)-1].Slug
	}
	st, err := s.tenantStats(r, all)
	if err != nil {
		s.site.InternalError(w, r, err)
		return
	}
	// This process's counts first, so that the page is up to date; other processes' arrive
	// with their next flush.
	_ = s.db.FlushUsage(ctx)
	usage, err := s.db.Usage(ctx, nil)
	if err != nil {
		s.site.InternalError(w, r, err)
		return
	}
	warm, err := s.db.WarmStatus(ctx)
	if err != nil {
		s.site.InternalError(w, r, err)
		return
	}
	use := make(map[string]tenancy.TenantUsage, len(usage))
	for _, u := range usage {
		use[u.Tenant] = u
	}
	rows := make([]adminRow, len(all))
	total := st.poolBytes
	active, behind := 0, 0
	latest := s.db.LatestVersion()
	for i, t := range all {
		rows[i] = adminRow{T: t, Plan: store.PlanOf(t), Size: st.sizes[t.ID], Members: st.members[t.ID], Use: use[t.Slug]}
		if t.Tier != tenancy.TierPool {
			total += rows[i].Size.Bytes
		}
		if t.Status == tenancy.StatusActive {
			active++
		}
		if t.Version < latest {
			behind++
		}
	}
	data := map[string]any{
		"Title": "Console", "Admin": true, "Rows": rows, "Latest": latest, "Active": active, "Behind": behind,
		"TotalSize": total, "Warm": warm, "Flash": pg.Flash, "Error": pg.Error, "Failed": pg.Failed,
		// Every tier is offered: the library refuses one it cannot place yet, and says so.
		"Tiers": []tierOption{{"schema", true}, {"pool", true}, {"database", true}},
	}
	s.site.RenderStatus(w, r, status, "admin.html", data)
}

// consoleStats are the tenants' sizes and member counts.
type consoleStats struct {
	sizes     map[int64]tenantSize // by tenant id
	members   map[int64]int        // by tenant id
	poolBytes int64                // the pool schemas on the catalog's database, each counted once
}

// tenantTables are the tenant migrations' tables, whose rows make a pool tenant's size.
var tenantTables = []string{"projects", "tasks", "comments", "labels", "task_labels", "api_tokens", "activity"}

// poolRowsSQL counts the bound tenant's rows in every tenant table: in the pool tier, row-level
// security shows it only its own.
var poolRowsSQL = func() string {
	parts := make([]string, len(tenantTables))
	for i, t := range tenantTables {
		parts[i] = "(SELECT count(*) FROM " + t + ")"
	}
	return "SELECT " + strings.Join(parts, " + ")
}()

// placementBytesSQL sums the tables of the bound tenant's placement schema, wherever it lives (a
// database-tier tenant's schema is in its own database, perhaps on another server).
const placementBytesSQL = `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
	FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'm')`

// tenantStats measures the tenants: schema-tier tenants (and the pools) in one query on the
// catalog's database; pool and database tenants in one bound query each (up to statsLimit of
// them), since only a binding reaches their rows or their database; members in one query.
func (s *Console) tenantStats(r *http.Request, ts []*tenancy.Tenant) (*consoleStats, error) {
	ctx := r.Context()
	st := &consoleStats{sizes: map[int64]tenantSize{}, members: map[int64]int{}}
	var schemas []string
	bySchema := map[string]int64{} // schema-tier tenants' schemas
	pools := map[string]bool{}
	ids := make([]int64, 0, len(ts))
	bound := 0
	for _, t := range ts {
		ids = append(ids, t.ID)
		switch {
		case t.Tier == tenancy.TierSchema && t.Placement.Server == "" && t.Placement.Schema != "":
			schemas = append(schemas, t.Placement.Schema)
			bySchema[t.Placement.Schema] = t.ID
		case t.Tier == tenancy.TierPool && t.Placement.Server == "" && !pools[t.Placement.Schema]:
			pools[t.Placement.Schema] = true
			schemas = append(schemas, t.Placement.Schema)
		}
		if t.Tier == tenancy.TierSchema && t.Placement.Server == "" {
			continue
		}
		if (t.Status != tenancy.StatusActive && t.Status != tenancy.StatusSuspended) || bound >= statsLimit {
			continue
		}
		bound++
		sql := placementBytesSQL
		if t.Tier == tenancy.TierPool {
			sql = poolRowsSQL
		}
		var n int64
		if err := s.db.QueryRow(tenancy.WithTenant(ctx, t), sql).Scan(&n); err != nil {
			// One unreachable placement must not take the console down: its size stays unknown.
			s.log.WarnContext(ctx, "console: tenant size", "tenant", t.Slug, "err", err)
			continue
		}
		if t.Tier == tenancy.TierPool {
			st.sizes[t.ID] = tenantSize{Known: true, Rows: n}
		} else {
			st.sizes[t.ID] = tenantSize{Known: true, Bytes: n}
		}
	}
	rows, err := s.db.AppPool().Query(ctx, `
		SELECT n.nspname, coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'm') GROUP BY n.nspname`, schemas)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n string
		var sz int64
		if err := rows.Scan(&n, &sz); err != nil {
			return nil, err
		}
		if id, ok := bySchema[n]; ok {
			st.sizes[id] = tenantSize{Known: true, Bytes: sz}
		} else {
			st.poolBytes += sz
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	counts, err := shareddb.New(s.db.AppPool()).MemberCounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, c := range counts {
		st.members[c.TenantID] = int(c.Members)
	}
	return st, nil
}

// stillBehind lists the servable tenants (those named, or all) below version latest.
func (s *Console) stillBehind(ctx context.Context, slugs []string, latest int64) ([]string, error) {
	var ts []*tenancy.Tenant
	if len(slugs) > 0 {
		for _, slug := range slugs {
			t, err := s.db.TenantGet(ctx, slug)
			if err != nil {
				return nil, err
			}
			ts = append(ts, t)
		}
	} else {
		opts := &tenancy.TenantListOpts{Limit: 500}
		for {
			page, err := s.db.TenantList(ctx, opts)
			if err != nil {
				return nil, err
			}
			ts = append(ts, page...)
			if len(page) < opts.Limit || len(ts) >= 5000 {
				break
			}
			opts.After = page[len(page)-1].Slug
		}
	}
	var behind []string
	for _, t := range ts {
		if t.Version < latest && (t.Status == tenancy.StatusActive || t.Status == tenancy.StatusSuspended) {
			behind = append(behind, t.Slug)
		}
	}
	return behind, nil
}

// adminMigrate migrates the fleet, or the one tenant named in the path, with Client.Migrate: the
// shared schema first, then every placement behind, a failed tenant not stopping the others. The
// console shows the summary and names each failed tenant with its error.
func (s *Console) adminMigrate(w http.ResponseWriter, r *http.Request) {
	opts := &tenancy.MigrateOpts{}
	what := "every tenant"
	if slug := r.PathValue("slug"); slug != "" {
		opts.Tenants = []string{slug}
		what = slug
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), migrateTimeout)
	defer cancel()
	res, err := s.db.Migrate(ctx, opts)
	latest := s.db.LatestVersion()
	var partial *tenancy.PartialError
	switch {
	case err == nil:
		// Trust, but verify: say which tenants are still behind after a run that succeeded.
		behind, err := s.stillBehind(ctx, opts.Tenants, latest)
		if err != nil {
			s.site.InternalError(w, r, err)
			return
		}
		msg := fmt.Sprintf("Migrated %s to version %d: %d placement(s) in %s.", what, latest, res.Applied, res.Duration.Round(time.Millisecond))
		if res.Total == 0 {
			msg = fmt.Sprintf("Nothing to migrate: %s is at version %d.", what, latest)
			if len(behind) > 0 {
				msg = "Client.Migrate found nothing to apply."
			}
		}
		if res.Skipped > 0 {
			msg += fmt.Sprintf(" %d tenant(s) still provisioning or deleting were left alone.", res.Skipped)
		}
		warn := ""
		if len(behind) > 0 {
			warn = fmt.Sprintf("%d tenant(s) are still behind version %d after the run (Client.Migrate did not reach their placements): %s.",
				len(behind), latest, strings.Join(behind, ", "))
		}
		s.renderAdmin(w, r, http.StatusOK, msg, warn)
	case errors.As(err, &partial):
		msg := fmt.Sprintf("Migration of %s incomplete: %d placement(s) migrated, %d failed", what, partial.Applied, len(partial.Failed))
		if partial.Err != nil {
			msg += " (" + strings.TrimPrefix(partial.Err.Error(), "tenancy: ") + ")"
		}
		msg += ". Fix the cause and migrate again: the run resumes where it stopped."
		s.renderAdminPage(w, r, http.StatusInternalServerError, adminPage{Error: msg, Failed: partial.Failed})
	case errors.Is(err, tenancy.ErrMigrationLocked):
		s.renderAdmin(w, r, http.StatusConflict, "", "Another migration is running: "+strings.TrimPrefix(err.Error(), "tenancy: "))
	case errors.Is(err, tenancy.ErrTenantNotFound):
		s.renderAdmin(w, r, http.StatusNotFound, "", strings.TrimPrefix(err.Error(), "tenancy: "))
	default:
		s.log.ErrorContext(r.Context(), "console: migrate", "err", err)
		s.renderAdmin(w, r, http.StatusInternalServerError, "", "Migration failed: "+strings.TrimPrefix(err.Error(), "tenancy: "))
	}
}

func (s *Console) adminCreate(w http.ResponseWriter, r *http.Request) {
	slug := strings.ToLower(strings.TrimSpace(r.PostFormValue("slug")))
	name := strings.TrimSpace(r.PostFormValue("name"))
	tier, err := tenancy.ParseTier(r.PostFormValue("tier"))
	if err != nil {
		s.renderAdmin(w, r, http.StatusUnprocessableEntity, "", err.Error())
		return
	}
	plan := r.PostFormValue("plan")
	switch plan {
	case "free", "team", "enterprise":
	default:
		plan = "free"
	}
	settings, _ := json.Marshal(map[string]string{"plan": plan})
	t, err := s.db.TenantCreate(r.Context(), slug, &tenancy.TenantCreateOpts{Name: name, Tier: tier, Settings: settings})
	if err != nil {
		status := http.StatusUnprocessableEntity
		if !errors.Is(err, tenancy.ErrInvalidSlug) && !errors.Is(err, tenancy.ErrReservedSlug) &&
			!errors.Is(err, tenancy.ErrTenantExists) && !errors.Is(err, tenancy.ErrTierNotAvailable) {
			s.site.InternalError(w, r, err)
			return
		}
		s.renderAdmin(w, r, status, "", strings.TrimPrefix(err.Error(), "tenancy: "))
		return
	}
	s.renderAdmin(w, r, http.StatusOK, "Created tenant "+t.Slug+" ("+string(t.Tier)+" tier).", "")
}

func (s *Console) adminStatus(change func(*tenancy.Client, context.Context, string) (*tenancy.Tenant, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := change(s.db, r.Context(), r.PathValue("slug"))
		if err != nil {
			if errors.Is(err, tenancy.ErrTenantNotFound) || errors.Is(err, tenancy.ErrTenantNotActive) {
				s.renderAdmin(w, r, http.StatusUnprocessableEntity, "", strings.TrimPrefix(err.Error(), "tenancy: "))
				return
			}
			s.site.InternalError(w, r, err)
			return
		}
		s.renderAdmin(w, r, http.StatusOK, "Tenant "+t.Slug+" is now "+string(t.Status)+".", "")
	}
}

// adminBackup answers the tenant's archive (Client.Backup) as a download. The archive is written
// to a temporary file first, so that a failure is shown in the console rather than cutting a
// download short, and the download has a length.
func (s *Console) adminBackup(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	f, err := os.CreateTemp("", "taskboard-backup-*.tar.gz")
	if err != nil {
		s.site.InternalError(w, r, err)
		return
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	res, err := s.db.Backup(r.Context(), slug, f, nil)
	if err != nil {
		s.renderAdminError(w, r, "Back up "+slug, err)
		return
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		s.site.InternalError(w, r, err)
		return
	}
	name := fmt.Sprintf("%s-%s.tar.gz", res.Tenant, time.Now().UTC().Format("20060102-150405"))
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Length", strconv.FormatInt(res.Bytes, 10))
	w.Header().Set("Cache-Control", "no-store")
	if _, err := io.Copy(w, f); err != nil {
		s.log.WarnContext(r.Context(), "console: backup download", "tenant", slug, "err", err)
	}
}

// adminMove moves the tenant to the tier chosen in the form (Client.Move). While it runs the
// tenant's requests get 503 with Retry-After.
func (s *Console) adminMove(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	tier, err := tenancy.ParseTier(r.PostFormValue("tier"))
	if err != nil {
		s.renderAdmin(w, r, http.StatusUnprocessableEntity, "", strings.TrimPrefix(err.Error(), "tenancy: "))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), moveTimeout)
	defer cancel()
	start := time.Now()
	t, err := s.db.Move(ctx, slug, &tenancy.MoveOpts{Tier: tier})
	if err != nil {
		s.renderAdminError(w, r, "Move "+slug, err)
		return
	}
	s.renderAdmin(w, r, http.StatusOK, fmt.Sprintf("Moved %s to the %s tier in %s.", t.Slug, t.Tier, time.Since(start).Round(time.Millisecond)), "")
}

// renderAdminError shows a failed action in the console: the operator's mistakes (unknown
// tenant, wrong status or tier) as 4xx, the rest as 500, logged.
func (s *Console) renderAdminError(w http.ResponseWriter, r *http.Request, what string, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, tenancy.ErrTenantNotFound):
		status = http.StatusNotFound
	case errors.Is(err, tenancy.ErrTenantNotActive), errors.Is(err, tenancy.ErrTenantMoving),
		errors.Is(err, tenancy.ErrInvalidTier), errors.Is(err, tenancy.ErrTierNotAvailable):
		status = http.StatusUnprocessableEntity
	default:
		s.log.ErrorContext(r.Context(), "console: "+what, "err", err)
	}
	s.renderAdmin(w, r, status, "", what+" failed: "+strings.TrimPrefix(err.Error(), "tenancy: "))
}
