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
	mux.HandleFunc("GET /signup/confirm", s.signupConfirmPage)
	mux.HandleFunc("POST /signup/confirm", s.signupConfirm)
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

// signup answers every well-formed request alike, whoever has the address: it hashes the
// password, keeps the request and mails a one-time link to the address. Nothing is made until
// the address's owner follows the link (signupConfirm), so the answer cannot tell who has an
// account; only an organisation address already taken, which its host shows anyway, is refused.
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
	// Per client, and per address so that nobody can flood someone's mailbox.
	if !s.allowAll(w, r, s.signUps, "ip:"+s.clientAddr(r), "mail:"+strings.ToLower(form["email"])) {
		return
	}
	ctx := r.Context()
	if _, err := s.db.TenantGet(ctx, form["slug"]); err == nil {
		fail(http.StatusConflict, "The address "+form["slug"]+"."+s.base+" is taken; choose another.")
		return
	} else if !errors.Is(err, tenancy.ErrTenantNotFound) {
		s.internalError(w, r, err)
		return
	}
	tok, err := s.createSignup(ctx, form["email"], form["name"], r.PostFormValue("password"), form["org"], form["slug"])
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	link := s.publicURL(r) + "/signup/confirm?token=" + url.QueryEscape(tok)
	err = s.mail.Send(ctx, Mail{To: form["email"], Subject: "Confirm your organisation " + form["org"],
		Body: "If you did not sign up, ignore this message: nothing is made without it. To create " + form["org"] + " at " +
			form["slug"] + "." + s.base + ", open this link (it works once, within an hour):\n" + link})
	if err != nil {
		// Logged, not shown: the answer stays the same for every address.
		s.log.ErrorContext(ctx, "send the sign-up link", "err", err)
	}
	s.render(w, r, "signup_sent.html", map[string]any{"Title": "Check your email", "Email": form["email"], "Org": form["org"],
		"Slug": form["slug"], "Base": s.base})
}

// signupConfirmPage shows what a sign-up link will create. A link is spent only by the form
// it shows, so that mail scanners that open links do not use it up.
func (s *Server) signupConfirmPage(w http.ResponseWriter, r *http.Request) {
	s.confirmPage(w, r, http.StatusOK, r.URL.Query().Get("token"), "")
}

func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request, status int, tok, msg string) {
	p, err := s.pendingSignup(r.Context(), tok)
	if errors.Is(err, store.ErrNotFound) {
		s.refuse(w, r, http.StatusNotFound, "This link has expired or was already used.")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	owner, err := s.userByEmail(r.Context(), p.Email)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	// Only the holder of the link, who reads the address's mail, learns that it has an account.
	s.renderStatus(w, r, status, "signup_confirm.html", map[string]any{"Title": "Create your organisation", "Signup": p,
		"Token": tok, "Base": s.base, "Registered": owner != nil, "LoggedIn": owner != nil && isUser(r, owner.ID), "Error": msg})
}

// signupConfirm spends a sign-up link: it makes the account (for a new address) and the
// organisation, and hands the browser to it. It asks for the password chosen at sign-up; an
// address that already has an account gets the organisation on that account, for its owner
// only: logged in as it, or with its password.
func (s *Server) signupConfirm(w http.ResponseWriter, r *http.Request) {
	ctx, tok := r.Context(), r.PostFormValue("token")
	p, err := s.pendingSignup(ctx, tok)
	if errors.Is(err, store.ErrNotFound) {
		s.refuse(w, r, http.StatusNotFound, "This link has expired or was already used.")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	u, err := s.userByEmail(ctx, p.Email)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if u == nil || !isUser(r, u.ID) {
		// The password proves the link is followed by whoever signed up, not by someone who was
		// sent it to be logged in to the sender's account.
		if !s.allowLogIn(w, r, p.Email) {
			return
		}
		if err := s.checkSignupPassword(ctx, p, u, r.PostFormValue("password")); errors.Is(err, errBadCredentials) {
			s.confirmPage(w, r, http.StatusUnauthorized, tok, err.Error())
			return
		} else if err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	sp, err := s.spendSignup(ctx, tok)
	if errors.Is(err, store.ErrNotFound) {
		s.refuse(w, r, http.StatusNotFound, "This link has expired or was already used.")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if u == nil {
		u, err = s.insertUser(ctx, sp.Email, sp.Name, sp.PasswordHash)
		if errors.Is(err, errEmailTaken) {
			// Registered between the look-up and now; the link holder owns the address.
			s.refuse(w, r, http.StatusConflict, "This address has just got an account. Log in, then add the organisation from your organisations page.")
			return
		}
		if err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	if !isUser(r, u.ID) {
		sess, err := s.createSession(ctx, u.ID, 0)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		s.setCookie(w, r, sessionCookie, sess, int(sessionTTL.Seconds()))
	}
	t, status, msg := s.createOrg(ctx, u.ID, sp.OrgName, sp.Slug)
	if t == nil {
		if status == http.StatusInternalServerError {
			s.internalError(w, r, errors.New(msg))
			return
		}
		// The address is confirmed and the account stays; the organisation's address was
		// taken meanwhile, so the user picks another.
		ms, _ := s.memberships(ctx, u.ID)
		s.renderStatus(w, r, status, "orgs.html", map[string]any{"Title": "Your organisations", "Memberships": ms, "Base": s.base, "Error": msg})
		return
	}
	s.handOff(w, r, t)
}

// isUser says whether the request comes from a session of that user.
func isUser(r *http.Request, userID int64) bool {
	se := sessionFrom(r.Context())
	return se != nil && se.User.ID == userID
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
	t, ok := s.memberOrg(w, r, se, r.URL.Query().Get("org"))
	if !ok {
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
	if t, ok := s.memberOrg(w, r, sessionFrom(r.Context()), r.PathValue("slug")); ok {
		s.handOff(w, r, t)
	}
}

// memberOrg returns the organisation slug if the session's user is a member of it; otherwise it
// answers (404, 403 or 500) and reports false.
func (s *Server) memberOrg(w http.ResponseWriter, r *http.Request, se *session, slug string) (*tenancy.Tenant, bool) {
	t, err := s.db.TenantGet(r.Context(), slug)
	if err != nil {
		s.refuse(w, r, http.StatusNotFound, "No such organisation.")
		return nil, false
	}
	role, err := s.roleIn(r.Context(), se.User.ID, t.ID)
	if err != nil {
		s.internalError(w, r, err)
		return nil, false
	}
	if role == "" {
		s.refuse(w, r, http.StatusForbidden, "You are not a member of this organisation.")
		return nil, false
	}
	return t, true
}
