package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
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
	mux.HandleFunc("GET /auth/grant", s.requirePublicUser(s.grant))
	mux.HandleFunc("GET /invitations", s.invitationPage)
	mux.HandleFunc("POST /invitations", s.requirePublicUser(s.invitationAccept))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.adminRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, http.StatusNotFound, "There is no such page.")
	})
	protected := s.crossOriginProtect(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, err := s.withSession(r, 0)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		protected.ServeHTTP(w, r)
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
	if !s.allowAll(w, r, s.signUps, "ip:"+s.clientAddr(r)) {
		return
	}
	ctx := r.Context()
	u, err := s.createUser(ctx, form["email"], form["name"], r.PostFormValue("password"))
	made := err == nil // a new account, made for this organisation
	if errors.Is(err, errEmailTaken) {
		// The owner of the address, with their password, gets the organisation on their
		// account. Anyone else is told nothing about the address; its owner is (the notice
		// stands for the email a production deployment would send).
		if !s.allowAll(w, r, s.logIns, "acct:"+strings.ToLower(form["email"])) {
			return
		}
		u, err = s.authenticate(ctx, form["email"], r.PostFormValue("password"))
		if errors.Is(err, errBadCredentials) {
			s.log.InfoContext(ctx, "notice to account owner: someone tried to sign up with your address",
				"to", form["email"], "client", s.clientAddr(r))
			fail(http.StatusUnprocessableEntity, "We could not sign you up with these details. If you have an account, log in and add the organisation from your organisations page.")
			return
		}
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	t, status, msg := s.createOrg(ctx, u.ID, form["org"], form["slug"])
	if t == nil {
		// Leave nothing behind: the account was made for this organisation.
		if made {
			_ = s.deleteUser(context.WithoutCancel(ctx), u.ID)
		}
		if status == http.StatusInternalServerError {
			s.internalError(w, r, errors.New(msg))
			return
		}
		fail(status, msg)
		return
	}
	if tok, err := s.createSession(ctx, u.ID, 0); err == nil {
		s.setCookie(w, r, sessionCookie, tok, int(sessionTTL.Seconds()))
	}
	s.handOff(w, r, t)
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

// handOff carries the logged-in user to the organisation's host, where cookies of this host do
// not go. Three redirects, like an OAuth code flow: the organisation's host sets a state cookie
// (/auth/start) and sends the browser back here (grant) to fetch a one-time login token bound
// to that state; the organisation's host opens its session with the token only in the browser
// holding the state (/auth/handoff). A hand-off link sent to someone else is worthless to them.
func (s *Server) handOff(w http.ResponseWriter, r *http.Request, t *tenancy.Tenant) {
	http.Redirect(w, r, s.tenantURL(r, t.Slug)+"/auth/start", http.StatusSeeOther)
}

// grant makes the login token of a hand-off, for a member of the organisation, bound to the
// state its host set in this browser.
func (s *Server) grant(w http.ResponseWriter, r *http.Request) {
	se := sessionFrom(r.Context())
	state := r.URL.Query().Get("state")
	if len(state) < 32 || len(state) > 100 {
		s.refuse(w, r, http.StatusBadRequest, "This login link is not valid.")
		return
	}
	t, err := s.db.TenantGet(r.Context(), r.URL.Query().Get("org"))
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
	tok, err := s.createLoginToken(r.Context(), se.User.ID, t.ID, state)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	http.Redirect(w, r, s.tenantURL(r, t.Slug)+"/auth/handoff?token="+url.QueryEscape(tok), http.StatusSeeOther)
}

// invitationPage shows an invitation: to accept it, log in (or sign up) first.
func (s *Server) invitationPage(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Title": "Invitation"}
	if sessionFrom(r.Context()) == nil {
		s.render(w, r, "invitation.html", data)
		return
	}
	tok := r.URL.Query().Get("token")
	t, err := s.invitationTenant(r.Context(), tok)
	if errors.Is(err, store.ErrNotFound) {
		s.refuse(w, r, http.StatusNotFound, "This invitation has expired or was already used.")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	data["Org"], data["Token"] = t, tok
	s.render(w, r, "invitation.html", data)
}

func (s *Server) invitationAccept(w http.ResponseWriter, r *http.Request) {
	t, err := s.acceptInvitation(r.Context(), r.PostFormValue("token"), sessionFrom(r.Context()).User.ID)
	if errors.Is(err, store.ErrNotFound) {
		s.refuse(w, r, http.StatusNotFound, "This invitation has expired or was already used.")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.handOff(w, r, t)
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
	if !s.allowLogIn(w, r, email) {
		return
	}
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
	s.setCookie(w, r, sessionCookie, tok, int(sessionTTL.Seconds()))
	http.Redirect(w, r, "/orgs", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		_ = s.deleteSession(r.Context(), c.Value)
	}
	s.setCookie(w, r, sessionCookie, "", -1)
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
	s.handOff(w, r, t)
}

// allowLogIn throttles log-in attempts per client and per account.
func (s *Server) allowLogIn(w http.ResponseWriter, r *http.Request, email string) bool {
	return s.allowAll(w, r, s.logIns, "ip:"+s.clientAddr(r), "acct:"+strings.ToLower(strings.TrimSpace(email)))
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
	s.handOff(w, r, t)
}
