package app

import (
	"net/http"
	"time"

	"github.com/tenancy-go/tenancy/examples/taskboard/internal/console"
)

// The operator console (package console) under /admin on the public host. The application
// renders its pages in the site's layout, throttles its log-ins, and keeps its sessions, which
// the hourly purge (accounts.go) clears with the users' expired ones.

type adminSession struct {
	expires time.Time
}

func (s *Server) adminRoutes(mux *http.ServeMux) { s.op.Routes(mux) }

// consoleSite is the Server as the console's console.Site.
type consoleSite struct{ s *Server }

var (
	_ console.Site     = consoleSite{}
	_ console.Sessions = consoleSessions{}
)

func (c consoleSite) RenderStatus(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	c.s.renderStatus(w, r, status, page, data)
}

func (c consoleSite) Refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.s.refuse(w, r, status, msg)
}

func (c consoleSite) InternalError(w http.ResponseWriter, r *http.Request, err error) {
	c.s.internalError(w, r, err)
}

// AllowLogIn limits guesses per client, and for the console as a whole: parallel guesses from
// many addresses still share the one password's budget.
func (c consoleSite) AllowLogIn(w http.ResponseWriter, r *http.Request) bool {
	return c.s.allowAll(w, r, c.s.console, "ip:"+c.s.clientAddr(r), "console")
}

func (c consoleSite) Secure(r *http.Request) bool { return c.s.secure(r) }

// consoleSessions are the Server's operator sessions as console.Sessions.
type consoleSessions struct{ s *Server }

func (c consoleSessions) Add(key [32]byte, expires time.Time) {
	c.s.adminMu.Lock()
	defer c.s.adminMu.Unlock()
	c.s.adminSessions[key] = adminSession{expires: expires}
}

func (c consoleSessions) Valid(key [32]byte) bool {
	c.s.adminMu.Lock()
	defer c.s.adminMu.Unlock()
	a, ok := c.s.adminSessions[key]
	if !ok || time.Now().After(a.expires) {
		delete(c.s.adminSessions, key)
		return false
	}
	return true
}

func (c consoleSessions) Delete(key [32]byte) {
	c.s.adminMu.Lock()
	defer c.s.adminMu.Unlock()
	delete(c.s.adminSessions, key)
}
