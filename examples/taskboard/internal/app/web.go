package app

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
)

// The organisation's app, on <slug>.<base>: pages for members (session cookie, forms refused
// from other origins), the REST API and the GraphQL API (API tokens; the board view's session,
// board.go).

func (s *Server) tenantRoutes() http.Handler {
	pagesMux := http.NewServeMux()
	pagesMux.HandleFunc("GET /auth/start", s.handoffStart)
	pagesMux.HandleFunc("GET /auth/handoff", s.handoffLogin)
	pagesMux.HandleFunc("GET /login", s.tenantLoginPage)
	pagesMux.HandleFunc("POST /login", s.tenantLogin)
	pagesMux.HandleFunc("POST /logout", s.logout)
	member := func(h http.HandlerFunc) http.HandlerFunc { return s.requireMember(h) }
	pagesMux.HandleFunc("GET /{$}", member(s.dashboard))
	pagesMux.HandleFunc("GET /board", member(s.boardPage))
	pagesMux.HandleFunc("GET /board/board.js", member(s.boardJS))
	pagesMux.HandleFunc("POST /projects", member(s.projectCreate))
	pagesMux.HandleFunc("GET /projects/{id}", member(s.projectPage))
	pagesMux.HandleFunc("POST /projects/{id}", member(s.projectEdit))
	pagesMux.HandleFunc("POST /projects/{id}/delete", member(s.projectDelete))
	pagesMux.HandleFunc("POST /projects/{id}/tasks", member(s.taskCreate))
	pagesMux.HandleFunc("GET /tasks/{id}", member(s.taskPage))
	pagesMux.HandleFunc("POST /tasks/{id}", member(s.taskEdit))
	pagesMux.HandleFunc("POST /tasks/{id}/delete", member(s.taskDelete))
	pagesMux.HandleFunc("POST /tasks/{id}/comments", member(s.commentCreate))
	pagesMux.HandleFunc("GET /members", member(s.membersPage))
	pagesMux.HandleFunc("POST /members/invitations", member(s.invitationCreate))
	pagesMux.HandleFunc("GET /settings/tokens", member(s.tokensPage))
	pagesMux.HandleFunc("POST /settings/tokens", member(s.tokenCreate))
	pagesMux.HandleFunc("POST /settings/tokens/{id}/delete", member(s.tokenDelete))
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, http.StatusNotFound, "There is no such page.")
	})
	typed := s.typePages(member, notFound) // types.go
	pagesMux.Handle("/clients", typed)
	pagesMux.Handle("/", notFound)
	pages := s.crossOriginProtect(pagesMux)
	api := s.apiRoutes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAPI(r) {
			api.ServeHTTP(w, r)
			return
		}
		r, err := s.withSession(r, tenancy.MustFromContext(r.Context()).ID)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		pages.ServeHTTP(w, r)
	})
}

// requireMember lets through members of the organisation with a session on its host; others go
// to its log-in page. Sessions are per host and checked against memberships on every request.
func (s *Server) requireMember(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if sessionFrom(r.Context()) == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			s.refuse(w, r, http.StatusUnauthorized, "Log in first.")
			return
		}
		h(w, r)
	}
}

// handoffCookie holds the state that binds a hand-off to the browser that started it.
const handoffCookie = "tb_handoff"

// handoffStart begins a hand-off (see Server.handOff): it sets the state cookie and asks the
// public host for a login token bound to it.
func (s *Server) handoffStart(w http.ResponseWriter, r *http.Request) {
	t := tenancy.MustFromContext(r.Context())
	state, _ := store.NewToken("")
	s.setCookie(w, r, handoffCookie, state, int((loginTokenTTL + time.Minute).Seconds()))
	http.Redirect(w, r, s.publicURL(r)+"/auth/grant?org="+url.QueryEscape(t.Slug)+"&state="+url.QueryEscape(state), http.StatusSeeOther)
}

func (s *Server) handoffLogin(w http.ResponseWriter, r *http.Request) {
	t := tenancy.MustFromContext(r.Context())
	var state string
	if c, err := r.Cookie(handoffCookie); err == nil {
		state = c.Value
	}
	uid := int64(0)
	var err error
	if state != "" {
		uid, err = s.consumeLoginToken(r.Context(), r.URL.Query().Get("token"), t.ID, state)
		s.setCookie(w, r, handoffCookie, "", -1)
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if uid == 0 {
		s.refuse(w, r, http.StatusForbidden, "This login link has expired, or was made for another organisation or another browser. Log in again.")
		return
	}
	s.startTenantSession(w, r, uid, t)
}

func (s *Server) startTenantSession(w http.ResponseWriter, r *http.Request, uid int64, t *tenancy.Tenant) {
	role, err := s.roleIn(r.Context(), uid, t.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if role == "" {
		s.refuse(w, r, http.StatusForbidden, "You are not a member of "+t.Name+".")
		return
	}
	tok, err := s.createSession(r.Context(), uid, t.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.setCookie(w, r, sessionCookie, tok, int(sessionTTL.Seconds()))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) tenantLoginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "login.html", map[string]any{"Title": "Log in"})
}

func (s *Server) tenantLogin(w http.ResponseWriter, r *http.Request) {
	t := tenancy.MustFromContext(r.Context())
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
	role, err := s.roleIn(r.Context(), u.ID, t.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if role == "" {
		s.renderStatus(w, r, http.StatusForbidden, "login.html", map[string]any{"Title": "Log in", "Email": email,
			"Error": "You are not a member of " + t.Name + "."})
		return
	}
	s.startTenantSession(w, r, u.ID, t)
}

// fail answers a data error on a page: bad input back to the form's page, the rest as errors.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch statusOf(err) {
	case http.StatusNotFound:
		s.refuse(w, r, http.StatusNotFound, "There is no such page.")
	case 0:
		s.internalError(w, r, err)
	default:
		s.refuse(w, r, statusOf(err), err.Error())
	}
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	projects, err := s.store.ListProjects(ctx, store.Page{Limit: 200})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	activity, err := s.store.RecentActivity(ctx, 12)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	members, err := s.members(ctx, tenancy.MustFromContext(ctx).ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	open := 0
	for _, p := range projects {
		open += p.OpenCount
	}
	s.render(w, r, "dashboard.html", map[string]any{"Projects": projects, "Activity": activity, "Open": open, "Members": len(members)})
}

func (s *Server) projectCreate(w http.ResponseWriter, r *http.Request) {
	p, err := s.store.CreateProject(r.Context(), userID(r.Context()), r.PostFormValue("name"), r.PostFormValue("description"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/projects/"+strconv.FormatInt(p.ID, 10), http.StatusSeeOther)
}

func (s *Server) projectPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, ok := idParam(r)
	if !ok {
		s.fail(w, r, store.ErrNotFound)
		return
	}
	p, err := s.store.GetProject(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tasks, err := s.store.ListTasks(ctx, id, "", store.Page{Limit: 500})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	members, err := s.members(ctx, tenancy.MustFromContext(ctx).ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	custom, err := s.store.ProjectCustomFields(ctx, id) // columns of the organisation's own migrations
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, "project.html", map[string]any{"Title": p.Name, "Project": p, "Tasks": tasks, "Members": members, "Custom": custom})
}

func (s *Server) projectEdit(w http.ResponseWriter, r *http.Request) {
	id, _ := idParam(r)
	name, desc := r.PostFormValue("name"), r.PostFormValue("description")
	if _, err := s.store.UpdateProject(r.Context(), userID(r.Context()), id, &name, &desc); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/projects/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

func (s *Server) projectDelete(w http.ResponseWriter, r *http.Request) {
	id, _ := idParam(r)
	if err := s.store.DeleteProject(r.Context(), userID(r.Context()), id); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// formTask reads a task form; fields absent from the form stay nil.
func formTask(r *http.Request) store.TaskInput {
	var in store.TaskInput
	str := func(name string) *string {
		if _, ok := r.PostForm[name]; !ok {
			return nil
		}
		v := r.PostFormValue(name)
		return &v
	}
	in.Title, in.Description, in.Status, in.DueDate = str("title"), str("description"), str("status"), str("due_date")
	if v := str("assignee_id"); v != nil {
		id, err := strconv.ParseInt(strings.TrimSpace(*v), 10, 64)
		if err != nil {
			id = 0
		}
		in.AssigneeID = &id
	}
	return in
}

func (s *Server) taskCreate(w http.ResponseWriter, r *http.Request) {
	pid, _ := idParam(r)
	_ = r.ParseForm()
	if _, err := s.store.CreateTask(r.Context(), userID(r.Context()), pid, formTask(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/projects/"+strconv.FormatInt(pid, 10), http.StatusSeeOther)
}

func (s *Server) taskPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, ok := idParam(r)
	if !ok {
		s.fail(w, r, store.ErrNotFound)
		return
	}
	t, err := s.store.GetTask(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.store.GetProject(ctx, t.ProjectID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	comments, err := s.store.ListComments(ctx, id, store.Page{Limit: 500})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	members, err := s.members(ctx, tenancy.MustFromContext(ctx).ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, "task.html", map[string]any{"Title": t.Title, "Task": t, "Project": p, "Comments": comments, "Members": members})
}

func (s *Server) taskEdit(w http.ResponseWriter, r *http.Request) {
	id, _ := idParam(r)
	_ = r.ParseForm()
	if _, err := s.store.UpdateTask(r.Context(), userID(r.Context()), id, formTask(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/tasks/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

func (s *Server) taskDelete(w http.ResponseWriter, r *http.Request) {
	id, _ := idParam(r)
	t, err := s.store.GetTask(r.Context(), id)
	if err == nil {
		err = s.store.DeleteTask(r.Context(), userID(r.Context()), id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/projects/"+strconv.FormatInt(t.ProjectID, 10), http.StatusSeeOther)
}

func (s *Server) commentCreate(w http.ResponseWriter, r *http.Request) {
	id, _ := idParam(r)
	if _, err := s.store.CreateComment(r.Context(), userID(r.Context()), id, r.PostFormValue("body")); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/tasks/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

func (s *Server) membersPage(w http.ResponseWriter, r *http.Request) {
	s.renderMembers(w, r, http.StatusOK, "", "")
}

func (s *Server) renderMembers(w http.ResponseWriter, r *http.Request, status int, invitation, msg string) {
	members, err := s.members(r.Context(), tenancy.MustFromContext(r.Context()).ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderStatus(w, r, status, "members.html", map[string]any{"Title": "Members", "Members": members, "Invitation": invitation, "Error": msg})
}

// invitationCreate makes an invitation link and shows it once; the member passes it on.
func (s *Server) invitationCreate(w http.ResponseWriter, r *http.Request) {
	tok, err := s.createInvitation(r.Context(), tenancy.MustFromContext(r.Context()).ID, userID(r.Context()))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderMembers(w, r, http.StatusOK, s.publicURL(r)+"/invitations?token="+url.QueryEscape(tok), "")
}

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request) {
	s.renderTokens(w, r, "")
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, newToken string) {
	toks, err := s.store.ListAPITokens(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, "tokens.html", map[string]any{"Title": "API tokens", "Tokens": toks, "NewToken": newToken})
}

func (s *Server) tokenCreate(w http.ResponseWriter, r *http.Request) {
	t := tenancy.MustFromContext(r.Context())
	if !s.allowAll(w, r, s.apiToken, "org:"+strconv.FormatInt(t.ID, 10), "ip:"+s.clientAddr(r)) {
		return
	}
	tok, err := s.store.CreateAPIToken(r.Context(), userID(r.Context()), r.PostFormValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderTokens(w, r, tok)
}

func (s *Server) tokenDelete(w http.ResponseWriter, r *http.Request) {
	id, _ := idParam(r)
	if err := s.store.DeleteAPIToken(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/tokens", http.StatusSeeOther)
}
