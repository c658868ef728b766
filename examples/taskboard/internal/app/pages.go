package app

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
)

//go:embed templates/*.html
var templateFiles embed.FS

// pages holds one template set per page: the layout plus that page's "content".
type pages struct {
	sets map[string]*template.Template
}

var funcs = template.FuncMap{
	"date": func(t time.Time) string { return t.Local().Format("2 Jan 2006") },
	"ago": func(t time.Time) string {
		d := time.Since(t)
		switch {
		case d < time.Minute:
			return "just now"
		case d < time.Hour:
			return itoa(int(d.Minutes())) + " min ago"
		case d < 24*time.Hour:
			return itoa(int(d.Hours())) + " h ago"
		}
		return t.Local().Format("2 Jan")
	},
	"bytes": func(n int64) string {
		switch {
		case n >= 1<<20:
			return itoa(int(n>>20)) + " MB"
		case n >= 1<<10:
			return itoa(int(n>>10)) + " kB"
		}
		return itoa(int(n)) + " B"
	},
	"deref": func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	},
	"derefID": func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	},
	"title":    func(s string) string { return strings.ToUpper(s[:1]) + s[1:] },
	"statuses": func() []string { return store.TaskStatuses },
}

func itoa(n int) string { return strconv.Itoa(n) }

func loadPages() (*pages, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		p.sets[base] = t
	}
	return p, nil
}

// render writes a page with status 200.
func (s *Server) render(w http.ResponseWriter, r *http.Request, page string, data map[string]any) {
	s.renderStatus(w, r, http.StatusOK, page, data)
}

func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["PublicURL"] = s.publicURL(r)
	if se := sessionFrom(r.Context()); se != nil && data["Admin"] == nil {
		data["User"] = se.User // the console is the operator's, not a user's
	}
	if t, ok := tenancy.FromContext(r.Context()); ok {
		data["Tenant"] = t
		data["Plan"] = store.PlanOf(t)
		if c, ok := store.Accents[store.SettingsOf(t).Accent]; ok {
			data["Accent"] = template.CSS(c) // one of the fixed colours of store.Accents
		}
	}
	set := s.pages.sets[page]
	var buf bytes.Buffer
	if set == nil {
		http.Error(w, "no page "+page, http.StatusInternalServerError)
		return
	}
	if err := set.ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.ErrorContext(r.Context(), "render", "page", page, "err", err)
		http.Error(w, "Something went wrong on our side.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
