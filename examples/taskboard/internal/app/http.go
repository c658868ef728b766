package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
)

const sessionCookie = "tb_session"

type ctxKey struct{ name string }

var sessionKey = &ctxKey{"session"}

func sessionFrom(ctx context.Context) *session {
	se, _ := ctx.Value(sessionKey).(*session)
	return se
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode,
	})
}

// withSession loads the session of the request's host, if any. tenantID is 0 on the public host.
func (s *Server) withSession(r *http.Request, tenantID int64) (*http.Request, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return r, nil
	}
	se, err := s.lookupSession(r.Context(), c.Value, tenantID)
	if err != nil || se == nil {
		return r, err
	}
	return r.WithContext(context.WithValue(r.Context(), sessionKey, se)), nil
}

// crossOriginProtect refuses unsafe requests (POST, ...) that a browser sent from another origin,
// another organisation's host included: the standard library's check of Sec-Fetch-Site, or of
// Origin against Host. It replaces CSRF tokens: no token to forget in a form, no cookie for
// visitors. Requests without either header (not from a browser) pass; they carry no cookies of
// a victim's.
func (s *Server) crossOriginProtect(next http.Handler) http.Handler {
	return s.crossOrigin.Handler(next)
}

// maxFormBytes limits form bodies.
const maxFormBytes = 1 << 20

// badBytes refuses form fields and query parameters with NUL bytes or invalid UTF-8, which
// PostgreSQL cannot store (it answers an error, which would be a 500): it returns the message
// of the 400, or "".
func badBytes(w http.ResponseWriter, r *http.Request) string {
	if r.Method == http.MethodPost && !isAPI(r) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return "This form could not be read."
		}
	}
	for _, vs := range []url.Values{r.URL.Query(), r.PostForm} {
		for k, v := range vs {
			if !store.CleanText(k) {
				return "A form field's name has bytes that are not text."
			}
			for _, x := range v {
				if !store.CleanText(x) {
					return "The field " + k + " has bytes that are not text (NUL or invalid UTF-8)."
				}
			}
		}
	}
	return ""
}

// ---- JSON

type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{apiErrorBody{Code: code, Message: msg}})
}

func codeFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusUnprocessableEntity:
		return "invalid"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusTooManyRequests:
		return "rate_limited"
	}
	return "internal"
}

// idParam parses the {id} path value.
func idParam(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// userID is the logged-in user's id, or 0 (API calls act as no particular user).
func userID(ctx context.Context) int64 {
	if se := sessionFrom(ctx); se != nil {
		return se.User.ID
	}
	return 0
}

// statusOf maps a data error to an HTTP status; 0 for unexpected errors.
func statusOf(err error) int {
	var inv *store.InvalidError
	var lim *store.LimitError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.As(err, &inv):
		return http.StatusUnprocessableEntity
	case errors.As(err, &lim):
		return http.StatusForbidden
	case errors.Is(err, tenancy.ErrTenantMoving):
		return http.StatusServiceUnavailable
	}
	return 0
}
