package gqlapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// env is one test's API on a fresh database (as the application role). Requests are served as
// the application serves them once it has authenticated them: bound to their organisation.
type env struct {
	t   testing.TB
	db  *tenancytest.DB
	api *API
}

func newEnv(t testing.TB, db *tenancytest.DB, change func(*Config)) *env {
	t.Helper()
	cfg := &Config{
		Store:  store.New(db.Client),
		Decode: testDecode,
		WriteJSON: func(w http.ResponseWriter, status int, v any) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(v)
		},
		WriteError: func(w http.ResponseWriter, status int, code, msg string) {
			http.Error(w, code+": "+msg, status)
		},
	}
	if change != nil {
		change(cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, api: a}
}

// testDecode is a plain JSON body reader: the application's own, stricter one is tested there.
func testDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// org creates an organisation (in the default tier).
func (e *env) org(slug string) *tenancy.Tenant {
	e.t.Helper()
	org, err := e.db.Client.TenantCreate(context.Background(), slug, &tenancy.TenantCreateOpts{Name: slug})
	if err != nil {
		e.t.Fatal(err)
	}
	return org
}

// apiResp is a decoded answer.
type apiResp struct {
	Status int
	Body   map[string]any
	Raw    string
}

// post sends a JSON body to POST /graphql as org.
func (e *env) post(org *tenancy.Tenant, body string) apiResp {
	e.t.Helper()
	req := httptest.NewRequestWithContext(tenancy.WithTenant(context.Background(), org), "POST", "/graphql", strings.NewReader(body))
	rec := httptest.NewRecorder()
	e.api.Post(rec, req)
	r := apiResp{Status: rec.Code, Raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &r.Body)
	return r
}
