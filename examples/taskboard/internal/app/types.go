package app

import (
	"net/http"

	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
	"github.com/tenancy-go/tenancy/tenancyhttp"
)

// Pages of one organisation type, as django-tenants routes each tenant type to its own URL
// configuration: the agency type's clients page exists on agency organisations only; on others
// it is the 404 of any unknown page, and the store refuses it too.
func (s *Server) typePages(member func(http.HandlerFunc) http.HandlerFunc, notFound http.Handler) http.Handler {
	agency := http.NewServeMux()
	agency.HandleFunc("GET /clients", member(s.clientsPage))
	agency.HandleFunc("POST /clients", member(s.clientCreate))
	agency.Handle("/", notFound)
	return tenancyhttp.ByType(map[string]http.Handler{migrations.TypeAgency: agency}, notFound)
}

func (s *Server) clientsPage(w http.ResponseWriter, r *http.Request) {
	clients, err := s.store.ListClients(r.Context(), 500)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, "clients.html", map[string]any{"Title": "Clients", "Clients": clients})
}

func (s *Server) clientCreate(w http.ResponseWriter, r *http.Request) {
	if _, err := s.store.CreateClient(r.Context(), r.PostFormValue("name"), r.PostFormValue("contact")); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/clients", http.StatusSeeOther)
}
