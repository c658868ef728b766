package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/tenancy-go/tenancy"
)

// The public site, on the base host: landing page, sign-up, log-in, the user's organisations,
// and the operator console.

func (s *Server) publicRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.landing)
	mux.HandleFunc("POST /signup", s.signup)
	mux.HandleFunc("GET /login", s.publicLoginPage)
	mux.HandleFunc("POST /login", s.publicLogin)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /orgs", s.requirePublicUser(s.orgs))
	mux.HandleFunc("POST /orgs", s.requirePublicUser(s.newOrg))
	mux.HandleFunc("POST /orgs/{slug}/open", s.requirePublicUser(s.openOrg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.adminRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, http.StatusNotFound, "There is no such page.")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, err := s.withSession(r, 0)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/admin") {
			mux.ServeHTTP(w, r) // the console checks its own session and token
			return
		}
		s.csrfProtect(mux).ServeHTTP(w, r)
	})
}

func (s *Server) requirePublicUser(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if sessionFrom(r.Context()) == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h(w, r)
	}
}

func (s *Server) landing(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "landing.html", map[string]any{"Base": s.base, "Form": map[string]string{}})
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{
		"name": r.PostFormValue("name"), "email": strings.TrimSpace(r.PostFormValue("email")),
		"org": strings.TrimSpace(r.PostFormValue("org")), "slug": strings.ToLower(strings.TrimSpace(r.PostFormValue("slug"))),
	}
	fail := func(status int, msg string) {
		s.renderStatus(w, r, status, "landing.html", map[string]any{"Base": s.base, "Form": form, "Error": msg})
	}
	if err := validateAccount(form["email"], form["name"], r.PostFormValue("password")); err != nil {
		fail(http.StatusUnprocessableEntity, err.Error())
		return
	}
	if msg := checkOrg(form["org"], form["slug"]); msg != "" {
		fail(http.StatusUnprocessableEntity, msg)
		return
	}
	ctx := r.Context()
	u, err := s.createUser(ctx, form["email"], form["name"], r.PostFormValue("password"))
	if errors.Is(err, errEmailTaken) {
		fail(http.StatusConflict, err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	t, status, msg := s.createOrg(ctx, u.ID, form["org"], form["slug"])
	if t == nil {
		// Leave nothing behind: the account was made for this organisation.
		_ = s.deleteUser(context.WithoutCancel(ctx), u.ID)
		if status == http.StatusInternalServerError {
			s.internalError(w, r, errors.New(msg))
			return
		}
		fail(status, msg)
		return
	}
	if tok, err := s.createSession(ctx, u.ID, 0); err == nil {
		setCookie(w, r, sessionCookie, tok, int(sessionTTL.Seconds()))
	}
	s.handOff(w, r, u.ID, t)
}

// checkOrg validates a new organisation's name and address; "" means fine.
func checkOrg(name, slug string) string {
	if name == "" || len(name) > 100 {
		return "Enter the organisation's name (up to 100 characters)."
	}
	if err := tenancy.ValidateSlug(slug); err != nil {
		if errors.Is(err, tenancy.ErrReservedSlug) {
			return "The address " + slug + " is reserved; choose another."
		}
		return "The address must be 2 to 63 lower-case letters, digits and hyphens, starting with a letter."
	}
	return ""
}

// createOrg creates the tenant (its schema and tables) and makes the user its owner. It returns
// a status and a message for the user when it fails.
func (s *Server) createOrg(ctx context.Context, userID int64, name, slug string) (*tenancy.Tenant, int, string) {
	settings, _ := json.Marshal(map[string]string{"plan": "free"})
	t, err := s.db.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Name: name, Settings: settings})
	if errors.Is(err, tenancy.ErrTenantExists) {
		return nil, http.StatusConflict, "The address " + slug + "." + s.base + " is taken; choose another."
	}
	if err != nil {
		return nil, http.StatusInternalServerError, err.Error()
	}
	if err := s.addMember(ctx, userID, t.ID, "owner"); err != nil {
		return nil, http.StatusInternalServerError, err.Error()
	}
	return t, 0, ""
}

// handOff sends the browser to the organisation's host with a one-time login token: cookies do
// not cross hosts, so the tenant host opens its own session with it.
func (s *Server) handOff(w http.ResponseWriter, r *http.Request, userID int64, t *tenancy.Tenant) {
	tok, err := s.createLoginToken(r.Context(), userID, t.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	http.Redirect(w, r, s.tenantURL(r, t.Slug)+"/auth/handoff?token="+url.QueryEscape(tok), http.StatusSeeOther)
}

func (s *Server) publicLoginPage(w http.ResponseWriter, r *http.Request) {
	if sessionFrom(r.Context()) != nil {
		http.Redirect(w, r, "/orgs", http.StatusSeeOther)
		return
	}
	s.render(w, r, "login.html", map[string]any{"Title": "Log in"})
}

func (s *Server) publicLogin(w http.ResponseWriter, r *http.Request) {
	email := r.PostFormValue("email")
	u, err := s.authenticate(r.Context(), email, r.PostFormValue("password"))
	if errors.Is(err, errBadCredentials) {
		s.renderStatus(w, r, http.StatusUnauthorized, "login.html", map[string]any{"Title": "Log in", "Email": email, "Error": err.Error()})
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	tok, err := s.createSession(r.Context(), u.ID, 0)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	setCookie(w, r, sessionCookie, tok, int(sessionTTL.Seconds()))
	http.Redirect(w, r, "/orgs", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		_ = s.deleteSession(r.Context(), c.Value)
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) orgs(w http.ResponseWriter, r *http.Request) {
	ms, err := s.memberships(r.Context(), sessionFrom(r.Context()).User.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, "orgs.html", map[string]any{"Title": "Your organisations", "Memberships": ms, "Base": s.base})
}

func (s *Server) newOrg(w http.ResponseWriter, r *http.Request) {
	se := sessionFrom(r.Context())
	name, slug := strings.TrimSpace(r.PostFormValue("org")), strings.ToLower(strings.TrimSpace(r.PostFormValue("slug")))
	msg := checkOrg(name, slug)
	var t *tenancy.Tenant
	status := http.StatusUnprocessableEntity
	if msg == "" {
		t, status, msg = s.createOrg(r.Context(), se.User.ID, name, slug)
		if status == http.StatusInternalServerError {
			s.internalError(w, r, errors.New(msg))
			return
		}
	}
	if t == nil {
		ms, _ := s.memberships(r.Context(), se.User.ID)
		s.renderStatus(w, r, status, "orgs.html", map[string]any{"Title": "Your organisations", "Memberships": ms, "Base": s.base, "Error": msg})
		return
	}
	s.handOff(w, r, se.User.ID, t)
}

func (s *Server) openOrg(w http.ResponseWriter, r *http.Request) {
	se := sessionFrom(r.Context())
	t, err := s.db.TenantGet(r.Context(), r.PathValue("slug"))
	if err != nil {
		s.refuse(w, r, http.StatusNotFound, "No such organisation.")
		return
	}
	role, err := s.roleIn(r.Context(), se.User.ID, t.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if role == "" {
		s.refuse(w, r, http.StatusForbidden, "You are not a member of this organisation.")
		return
	}
	s.handOff(w, r, se.User.ID, t)
}
