package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/web/board"
)

// The board view (GET /board): a page for members whose content is a React application
// (examples/taskboard/web/board) that reads and writes through /graphql with Apollo Client.
//
// /graphql is the API, authenticated by API tokens. The board has none: it calls /graphql with
// the browser's session cookie, so a session's request must prove it comes from this host's own
// pages, with two walls (no token to keep: sessions have none since forms moved to
// CrossOriginProtection):
//   - the pages' http.CrossOriginProtection: a browser's unsafe request from another origin,
//     another organisation's host included, is refused by Sec-Fetch-Site or Origin;
//   - boardHeader, which the view sets on every call. A cross-site form or "simple" fetch cannot
//     carry a custom header; a fetch that sets one needs a CORS preflight, which this server
//     never answers. This also covers GET /graphql, which CrossOriginProtection lets through as
//     a safe method.

// boardHeader must be on a session's /graphql request, with the value boardHeaderValue.
const (
	boardHeader      = "X-Taskboard-Client"
	boardHeaderValue = "board"
)

// boardJSTag is the bundle's ETag: browsers revalidate it and get a 304 until it changes.
var boardJSTag = func() string {
	sum := sha256.Sum256(board.JS)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// boardCSP allows the page's own scripts and API calls only; styles inline (the layout's).
const boardCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (s *Server) boardPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", boardCSP)
	s.render(w, r, "board.html", map[string]any{"Title": "Board"})
}

func (s *Server) boardJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", boardJSTag)
	http.ServeContent(w, r, "board.js", time.Time{}, bytes.NewReader(board.JS))
}

// sessionGraphQL serves a /graphql request that carries no Authorization header but a session
// cookie, as the session's member, if it passes the cross-origin check and carries boardHeader.
// It reports false, having written nothing, when there is no session cookie (the API token check
// then answers).
func (s *Server) sessionGraphQL(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
	if c, err := r.Cookie(sessionCookie); err != nil || c.Value == "" {
		return false
	}
	if err := s.crossOrigin.Check(r); err != nil {
		writeError(w, http.StatusForbidden, "forbidden", "a session's request must come from this organisation's own pages")
		return true
	}
	if r.Header.Get(boardHeader) != boardHeaderValue {
		writeError(w, http.StatusForbidden, "forbidden", "a session's request must carry "+boardHeader+": "+boardHeaderValue+", as the board view sends it")
		return true
	}
	r, err := s.withSession(r, tenancy.MustFromContext(r.Context()).ID)
	if err != nil {
		s.apiFail(w, r, err)
		return true
	}
	se := sessionFrom(r.Context())
	if se == nil {
		writeError(w, http.StatusUnauthorized, "unauthorized", "this session has ended: log in again, or send an API token (Authorization: Bearer TOKEN)")
		return true
	}
	next.ServeHTTP(w, r)
	return true
}
