package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store/agencydb"
	"github.com/tenancy-go/tenancy/examples/taskboard/migrations"
)

// What differs by organisation: its type's tables (agency organisations have clients, from the
// agency line of migrations/types) and one organisation's own columns (migrations/custom).

// IsAgency reports whether the organisation is of the agency type, whose placement has the
// clients table.
func IsAgency(t *tenancy.Tenant) bool { return t.Type == migrations.TypeAgency }

// Client is a client of an agency organisation.
type Client struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Contact   string    `json:"contact"`
	CreatedAt time.Time `json:"created_at"`
}

// inAgency runs fn with the agency queries in a transaction bound to the organisation, or
// refuses an organisation of another type (whose placement has no clients table). A bound
// transaction, not one-shot statements on the client: pgx prepares those against tenancy_shape,
// which has the common tenant tables only, before the binding applies.
func (s *Store) inAgency(ctx context.Context, fn func(ctx context.Context, q *agencydb.Queries) error) error {
	if t := tenancy.MustFromContext(ctx); !IsAgency(t) {
		return fmt.Errorf("%w: %s is not an agency", ErrNotFound, t.Slug)
	}
	return s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error { return fn(ctx, agencydb.New(tx)) })
}

// ListClients returns the agency's clients by name.
func (s *Store) ListClients(ctx context.Context, limit int) ([]Client, error) {
	var out []Client
	err := s.inAgency(ctx, func(ctx context.Context, q *agencydb.Queries) error {
		rows, err := q.ListClients(ctx, int32(limit))
		for _, r := range rows {
			out = append(out, Client(r))
		}
		return err
	})
	return out, err
}

// CreateClient adds a client to the agency.
func (s *Store) CreateClient(ctx context.Context, name, contact string) (int64, error) {
	name, contact = strings.TrimSpace(name), strings.TrimSpace(contact)
	switch {
	case name == "" || len(name) > 200 || !CleanText(name):
		return 0, Invalidf("a client's name is 1 to 200 characters")
	case len(contact) > 200 || !CleanText(contact):
		return 0, Invalidf("a client's contact is at most 200 characters")
	}
	var id int64
	err := s.inAgency(ctx, func(ctx context.Context, q *agencydb.Queries) (err error) {
		id, err = q.CreateClient(ctx, agencydb.CreateClientParams{Name: name, Contact: contact})
		return err
	})
	if isUniqueViolation(err) {
		return 0, Invalidf("there is a client named %q already", name)
	}
	return id, err
}

// projectColumns are the columns of projects in the tenant line; any other is an organisation's own.
var projectColumns = []string{"tenant_id", "id", "name", "description", "created_by", "created_at", "updated_at"}

// CustomField is a column that one organisation's own migrations added to a table.
type CustomField struct {
	Name  string
	Value string // its JSON text; "" for NULL
}

// ProjectCustomFields returns the columns that the organisation's own migrations added to a
// project, by name; none, and no query, for an organisation without any. Hand-written, not sqlc:
// the columns it returns differ from one organisation to the next.
func (s *Store) ProjectCustomFields(ctx context.Context, id int64) ([]CustomField, error) {
	if !tenancy.MustFromContext(ctx).Customized() {
		return nil, nil
	}
	var extra []byte
	err := s.db.QueryRow(ctx, `SELECT to_jsonb(p) - $2::text[] FROM projects p WHERE id = $1`, id, projectColumns).Scan(&extra)
	if err != nil {
		return nil, notFound(err)
	}
	var cols map[string]json.RawMessage
	if err := json.Unmarshal(extra, &cols); err != nil {
		return nil, err
	}
	out := make([]CustomField, 0, len(cols))
	for k, v := range cols {
		f := CustomField{Name: k}
		var str string
		switch {
		case string(v) == "null":
		case json.Unmarshal(v, &str) == nil:
			f.Value = str
		default:
			f.Value = string(v)
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
