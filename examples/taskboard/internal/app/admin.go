package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tenancy-go/tenancy"
)

// The operator console, under /admin on the public host, behind the operator password. It lists
// the tenants with their tier, status, migration version and size, and acts on them through the
// tenancy library. Back up, move and fleet migration are shown disabled until the library has them.

const adminCookie = "tb_admin"

type adminSession struct {
	csrf    string
	expires time.Time
}

// unavailable explains the disabled actions.
const unavailable = "Not wired into the console yet: back up, move and fleet migration come with the tenancy library's archive and migration APIs."

func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/login", s.adminLoginPage)
	mux.HandleFunc("POST /admin/login", s.adminLogin)
	mux.HandleFunc("POST /admin/logout", s.requireOperator(s.adminLogout))
	mux.HandleFunc("GET /admin", s.requireOperator(s.adminHome))
	mux.HandleFunc("POST /admin/tenants", s.requireOperator(s.adminCreate))
	mux.HandleFunc("POST /admin/tenants/{slug}/suspend", s.requireOperator(s.adminStatus((*tenancy.Client).TenantSuspend)))
	mux.HandleFunc("POST /admin/tenants/{slug}/resume", s.requireOperator(s.adminStatus((*tenancy.Client).TenantResume)))
	mux.HandleFunc("POST /admin/migrate", s.requireOperator(func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, http.StatusNotImplemented, unavailable)
	}))
}

func (s *Server) adminSession(r *http.Request) (*adminSession, [32]byte) {
	c, err := r.Cookie(adminCookie)
	if err != nil {
		return nil, [32]byte{}
	}
	key := sha256.Sum256([]byte(c.Value))
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	a, ok := s.adminSessions[key]
	if !ok || time.Now().After(a.expires) {
		delete(s.adminSessions, key)
		return nil, key
	}
	return &a, key
}

// requireOperator lets through requests with an operator session; posts also need its CSRF token.
func (s *Server) requireOperator(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.consoleEnabled() {
			s.refuse(w, r, http.StatusNotFound, "The operator console is disabled.")
			return
		}
		a, _ := s.adminSession(r)
		if a == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
				return
			}
			s.refuse(w, r, http.StatusUnauthorized, "Log in to the console first.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(a.csrf)) != 1 {
				s.refuse(w, r, http.StatusForbidden, "This form has expired. Reload the console and try again.")
				return
			}
		}
		h(w, r)
	}
}

func (s *Server) adminLoginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "admin_login.html", map[string]any{"Title": "Console", "Admin": true, "Disabled": !s.consoleEnabled()})
}

func (s *Server) adminLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if !checkCSRF(r) {
		s.refuse(w, r, http.StatusForbidden, "This form has expired. Reload the page and try again.")
		return
	}
	if !s.operatorOK(r.PostFormValue("password")) {
		time.Sleep(200 * time.Millisecond) // slow down guessing
		s.renderStatus(w, r, http.StatusUnauthorized, "admin_login.html", map[string]any{"Title": "Console", "Admin": true, "Error": "Wrong operator password."})
		return
	}
	tok, _ := newToken("")
	csrf, _ := newToken("")
	s.adminMu.Lock()
	s.adminSessions[sha256.Sum256([]byte(tok))] = adminSession{csrf: csrf, expires: time.Now().Add(8 * time.Hour)}
	s.adminMu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: tok, Path: "/admin", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

func (s *Server) adminLogout(w http.ResponseWriter, r *http.Request) {
	_, key := s.adminSession(r)
	s.adminMu.Lock()
	delete(s.adminSessions, key)
	s.adminMu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: "", Path: "/admin", MaxAge: -1})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

type adminRow struct {
	T       *tenancy.Tenant
	Plan    string
	Size    int64
	Members int
}

type tierOption struct {
	Name      string
	Available bool
}

func (s *Server) adminHome(w http.ResponseWriter, r *http.Request) {
	s.renderAdmin(w, r, http.StatusOK, "", "")
}

func (s *Server) renderAdmin(w http.ResponseWriter, r *http.Request, status int, flash, msg string) {
	ctx := r.Context()
	var all []*tenancy.Tenant
	opts := &tenancy.TenantListOpts{Limit: 500}
	for {
		pageT, err := s.db.TenantList(ctx, opts)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		all = append(all, pageT...)
		if len(pageT) < opts.Limit || len(all) >= 5000 {
			break
		}
		opts.After = pageT[len(pageT)-1].Slug
	}
	sizes, members, err := s.tenantStats(r, all)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	rows := make([]adminRow, len(all))
	var total int64
	active, behind := 0, 0
	latest := s.db.LatestVersion()
	for i, t := range all {
		rows[i] = adminRow{T: t, Plan: planOf(t), Size: sizes[t.Placement.Schema], Members: members[t.ID]}
		total += rows[i].Size
		if t.Status == tenancy.StatusActive {
			active++
		}
		if t.Version < latest {
			behind++
		}
	}
	var csrf string
	if a, _ := s.adminSession(r); a != nil {
		csrf = a.csrf // the console's forms carry the operator session's token
	}
	data := map[string]any{
		"CSRF": csrf, "Title": "Console", "Admin": true, "Rows": rows, "Latest": latest, "Active": active, "Behind": behind,
		"TotalSize": total, "Unavailable": unavailable, "CanMigrate": false, "Flash": flash, "Error": msg,
		// Every tier is offered: the library refuses one it cannot place yet, and says so.
		"Tiers": []tierOption{{"schema", true}, {"pool", true}, {"database", true}},
	}
	s.renderStatus(w, r, status, "admin.html", data)
}

// tenantStats returns the on-disk size of each tenant schema and the member count of each tenant.
func (s *Server) tenantStats(r *http.Request, ts []*tenancy.Tenant) (map[string]int64, map[int64]int, error) {
	ctx := r.Context()
	schemas := make([]string, 0, len(ts))
	ids := make([]int64, 0, len(ts))
	for _, t := range ts {
		if t.Placement.Schema != "" && t.Tier == tenancy.TierSchema {
			schemas = append(schemas, t.Placement.Schema)
		}
		ids = append(ids, t.ID)
	}
	sizes := map[string]int64{}
	rows, err := s.db.Pool().Query(ctx, `
		SELECT n.nspname, coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'm') GROUP BY n.nspname`, schemas)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var n string
		var sz int64
		if err := rows.Scan(&n, &sz); err != nil {
			return nil, nil, err
		}
		sizes[n] = sz
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	members := map[int64]int{}
	rows, err = s.db.Pool().Query(ctx, `SELECT tenant_id, count(*) FROM memberships WHERE tenant_id = ANY($1) GROUP BY tenant_id`, ids)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, nil, err
		}
		members[id] = n
	}
	return sizes, members, rows.Err()
}

func (s *Server) adminCreate(w http.ResponseWriter, r *http.Request) {
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
			s.internalError(w, r, err)
			return
		}
		s.renderAdmin(w, r, status, "", strings.TrimPrefix(err.Error(), "tenancy: "))
		return
	}
	s.renderAdmin(w, r, http.StatusOK, "Created tenant "+t.Slug+" ("+string(t.Tier)+" tier).", "")
}

func (s *Server) adminStatus(change func(*tenancy.Client, context.Context, string) (*tenancy.Tenant, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := change(s.db, r.Context(), r.PathValue("slug"))
		if err != nil {
			if errors.Is(err, tenancy.ErrTenantNotFound) || errors.Is(err, tenancy.ErrTenantNotActive) {
				s.renderAdmin(w, r, http.StatusUnprocessableEntity, "", strings.TrimPrefix(err.Error(), "tenancy: "))
				return
			}
			s.internalError(w, r, err)
			return
		}
		s.renderAdmin(w, r, http.StatusOK, "Tenant "+t.Slug+" is now "+string(t.Status)+".", "")
	}
}
