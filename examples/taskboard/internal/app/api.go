package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
)

// The REST API, under /api/v1 on an organisation's host, authenticated by the organisation's API
// tokens. Errors are JSON ({"error": {"code", "message"}}) with the matching status. Request
// bodies are JSON objects with known fields only, at most MaxBodyBytes; bad input is refused
// before anything is written.

var apiTokenKey = &ctxKey{"api-token"}

func (s *Server) apiRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/projects", s.methods(map[string]http.HandlerFunc{"GET": s.apiProjectList, "POST": s.apiProjectCreate}))
	mux.HandleFunc("/api/v1/projects/{id}", s.methods(map[string]http.HandlerFunc{
		"GET": s.apiProjectGet, "PATCH": s.apiProjectUpdate, "PUT": s.apiProjectUpdate, "DELETE": s.apiProjectDelete}))
	mux.HandleFunc("/api/v1/projects/{id}/tasks", s.methods(map[string]http.HandlerFunc{"GET": s.apiTaskList, "POST": s.apiTaskCreate}))
	mux.HandleFunc("/api/v1/tasks", s.methods(map[string]http.HandlerFunc{"GET": s.apiTaskList}))
	mux.HandleFunc("/api/v1/tasks/{id}", s.methods(map[string]http.HandlerFunc{
		"GET": s.apiTaskGet, "PATCH": s.apiTaskUpdate, "PUT": s.apiTaskUpdate, "DELETE": s.apiTaskDelete}))
	mux.HandleFunc("/api/v1/tasks/{id}/comments", s.methods(map[string]http.HandlerFunc{"GET": s.apiCommentList, "POST": s.apiCommentCreate}))
	mux.HandleFunc("/api/v1/comments/{id}", s.methods(map[string]http.HandlerFunc{
		"GET": s.apiCommentGet, "PATCH": s.apiCommentUpdate, "PUT": s.apiCommentUpdate, "DELETE": s.apiCommentDelete}))
	mux.HandleFunc("/graphql", s.methods(map[string]http.HandlerFunc{"GET": s.gql.Get, "POST": s.gql.Post}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.URL.Path)
	})
	return s.requireToken(mux)
}

// methods dispatches on the method, answering 405 as JSON (ServeMux's own 405 is plain text).
func (s *Server) methods(m map[string]http.HandlerFunc) http.HandlerFunc {
	allow := make([]string, 0, len(m))
	for k := range m {
		allow = append(allow, k)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		h, ok := m[r.Method]
		if !ok {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here")
			return
		}
		h(w, r)
	}
}

// requireToken checks "Authorization: Bearer TOKEN" against the organisation's tokens. The lookup
// runs bound to the organisation of the host, so another organisation's token is not found.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/graphql" && r.Header.Get("Authorization") == "" && s.sessionGraphQL(w, r, next) {
			return // the board view, as a member (board.go)
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok = strings.TrimSpace(tok)
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="taskboard"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "send an API token of this organisation: Authorization: Bearer TOKEN")
			return
		}
		valid, err := s.store.CheckAPIToken(r.Context(), tok)
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		if !valid {
			w.Header().Set("WWW-Authenticate", `Bearer realm="taskboard", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "this token is not valid for this organisation")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), apiTokenKey, true)))
	})
}

// apiFail answers a data error.
func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	if st := statusOf(err); st != 0 {
		writeError(w, st, codeFor(st), err.Error())
		return
	}
	s.internalError(w, r, err)
}

// decode reads a JSON object into v: only known fields, one value, at most s.maxBody bytes. It
// answers the error itself and returns false on bad input.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send JSON (Content-Type: application/json)")
			return false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err == nil {
		err = decodeStrict(body, v)
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than "+strconv.FormatInt(s.maxBody, 10)+" bytes")
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "malformed_json", "the request body is empty: send a JSON object")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		writeError(w, http.StatusBadRequest, "malformed_json", "the request body is not valid JSON: "+err.Error())
	case errors.As(err, &typ):
		writeError(w, http.StatusBadRequest, "malformed_json", "field "+typ.Field+" must be of type "+typ.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		writeError(w, http.StatusBadRequest, "unknown_field", strings.TrimPrefix(err.Error(), "json: "))
	case errors.Is(err, errNotText):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	default:
		writeError(w, http.StatusBadRequest, "malformed_json", err.Error())
	}
	return false
}

var errNotText = errors.New("the request body has bytes that are not text (NUL or invalid UTF-8)")

// decodeStrict decodes one JSON object into v, a pointer to a struct of JSON fields. Field names
// must match exactly: encoding/json matches them regardless of case, which would let
// {"NAME": ...} through as "name". Unknown fields, trailing data, NUL characters and invalid
// UTF-8 (which encoding/json would quietly replace) are errors.
func decodeStrict(body []byte, v any) error {
	if !utf8.Valid(body) {
		return errNotText
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// Exactly one value: trailing data is as malformed as a missing brace.
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return err
	}
	known := jsonFields(reflect.TypeOf(v).Elem())
	for name := range fields {
		if !known[name] {
			return fmt.Errorf("json: unknown field %q", name)
		}
	}
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		if f, ok := rv.Field(i).Interface().(*string); ok && f != nil && strings.ContainsRune(*f, 0) {
			return errNotText
		}
	}
	return nil
}

// jsonFields are the JSON names of a struct's fields.
func jsonFields(t reflect.Type) map[string]bool {
	m := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		m[name] = true
	}
	return m
}

// pageParams reads ?limit= (1-100, default 20) and ?cursor= (the last id of the previous page).
func pageParams(w http.ResponseWriter, r *http.Request) (store.Page, bool) {
	pg := store.Page{Limit: 20}
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "bad_request", "limit must be a number from 1 to 100")
			return pg, false
		}
		pg.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "bad_request", "cursor must be the next_cursor of a previous page")
			return pg, false
		}
		pg.After = n
	}
	return pg, true
}

// listResponse is a page of items and the cursor of the next page (null on the last).
type listResponse[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// pageOut trims the extra item fetched to learn whether another page follows.
func pageOut[T any](items []T, pg store.Page, id func(T) int64) listResponse[T] {
	out := listResponse[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if len(items) > pg.Limit {
		out.Items = items[:pg.Limit]
		c := strconv.FormatInt(id(out.Items[pg.Limit-1]), 10)
		out.NextCursor = &c
	}
	return out
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, ok := idParam(r)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such resource: "+r.URL.Path)
	}
	return id, ok
}

// ---- projects

type projectIn struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

func (s *Server) apiProjectList(w http.ResponseWriter, r *http.Request) {
	pg, ok := pageParams(w, r)
	if !ok {
		return
	}
	items, err := s.store.ListProjects(r.Context(), store.Page{After: pg.After, Limit: pg.Limit + 1})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pageOut(items, pg, func(p *store.Project) int64 { return p.ID }))
}

func (s *Server) apiProjectCreate(w http.ResponseWriter, r *http.Request) {
	var in projectIn
	if !s.decode(w, r, &in) {
		return
	}
	if in.Name == nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid", "name is required")
		return
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	p, err := s.store.CreateProject(r.Context(), 0, *in.Name, desc)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/projects/"+strconv.FormatInt(p.ID, 10))
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) apiProjectGet(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	p, err := s.store.GetProject(r.Context(), id)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) apiProjectUpdate(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in projectIn
	if !s.decode(w, r, &in) {
		return
	}
	p, err := s.store.UpdateProject(r.Context(), 0, id, in.Name, in.Description)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) apiProjectDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := s.store.DeleteProject(r.Context(), 0, id); err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- tasks

type taskIn struct {
	Title       *string `json:"title"`
	Description *string `json:"description"`
	Status      *string `json:"status"`
	AssigneeID  *int64  `json:"assignee_id"` // 0 clears
	DueDate     *string `json:"due_date"`    // YYYY-MM-DD; "" clears
}

func (in taskIn) input() store.TaskInput {
	return store.TaskInput{Title: in.Title, Description: in.Description, Status: in.Status, AssigneeID: in.AssigneeID, DueDate: in.DueDate}
}

func (s *Server) apiTaskList(w http.ResponseWriter, r *http.Request) {
	pg, ok := pageParams(w, r)
	if !ok {
		return
	}
	var projectID int64
	if r.PathValue("id") != "" {
		if projectID, ok = pathID(w, r); !ok {
			return
		}
		if _, err := s.store.GetProject(r.Context(), projectID); err != nil {
			s.apiFail(w, r, err)
			return
		}
	} else if v := r.URL.Query().Get("project_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "project_id must be a number")
			return
		}
		projectID = n
	}
	status := r.URL.Query().Get("status")
	if status != "" && !store.ValidStatus(status) {
		writeError(w, http.StatusBadRequest, "bad_request", "status must be one of "+strings.Join(store.TaskStatuses, ", "))
		return
	}
	items, err := s.store.ListTasks(r.Context(), projectID, status, store.Page{After: pg.After, Limit: pg.Limit + 1})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pageOut(items, pg, func(t *store.Task) int64 { return t.ID }))
}

func (s *Server) apiTaskCreate(w http.ResponseWriter, r *http.Request) {
	pid, ok := pathID(w, r)
	if !ok {
		return
	}
	var in taskIn
	if !s.decode(w, r, &in) {
		return
	}
	if _, err := s.store.GetProject(r.Context(), pid); err != nil {
		s.apiFail(w, r, err)
		return
	}
	t, err := s.store.CreateTask(r.Context(), 0, pid, in.input())
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tasks/"+strconv.FormatInt(t.ID, 10))
	writeJSON(w, http.StatusCreated, t)
}

func (s *Server) apiTaskGet(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	t, err := s.store.GetTask(r.Context(), id)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) apiTaskUpdate(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in taskIn
	if !s.decode(w, r, &in) {
		return
	}
	t, err := s.store.UpdateTask(r.Context(), 0, id, in.input())
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) apiTaskDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := s.store.DeleteTask(r.Context(), 0, id); err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- comments

type commentIn struct {
	Body *string `json:"body"`
}

func (s *Server) apiCommentList(w http.ResponseWriter, r *http.Request) {
	tid, ok := pathID(w, r)
	if !ok {
		return
	}
	pg, ok := pageParams(w, r)
	if !ok {
		return
	}
	if _, err := s.store.GetTask(r.Context(), tid); err != nil {
		s.apiFail(w, r, err)
		return
	}
	items, err := s.store.ListComments(r.Context(), tid, store.Page{After: pg.After, Limit: pg.Limit + 1})
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pageOut(items, pg, func(c *store.Comment) int64 { return c.ID }))
}

func (s *Server) apiCommentCreate(w http.ResponseWriter, r *http.Request) {
	tid, ok := pathID(w, r)
	if !ok {
		return
	}
	var in commentIn
	if !s.decode(w, r, &in) {
		return
	}
	if _, err := s.store.GetTask(r.Context(), tid); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if in.Body == nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid", "body is required")
		return
	}
	c, err := s.store.CreateComment(r.Context(), 0, tid, *in.Body)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/comments/"+strconv.FormatInt(c.ID, 10))
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) apiCommentGet(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	c, err := s.store.GetComment(r.Context(), id)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) apiCommentUpdate(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in commentIn
	if !s.decode(w, r, &in) {
		return
	}
	if in.Body == nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid", "body is required")
		return
	}
	c, err := s.store.UpdateComment(r.Context(), id, *in.Body)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) apiCommentDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := s.store.DeleteComment(r.Context(), id); err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
