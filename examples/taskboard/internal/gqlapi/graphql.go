// Package gqlapi is taskboard's GraphQL API at /graphql: the same data and rules as the REST API
// (the same store functions, the same tenant binding), schema first, no code generation. Queries
// may be sent by POST (a JSON body) or by GET (query, operationName and variables in the URL, as
// GraphQL over HTTP describes); mutations by POST only, so that no link, prefetch or crawler can
// change anything.
//
// The package knows nothing of hosts, sessions or tokens: the application authenticates the
// request and binds its context to the organisation (tenancy.WithTenant) before it calls the
// handlers, and says through Config.UserID who is acting.
//
// Limits (limits.go; every refusal is a GraphQL error with extensions.code, and no data):
// at most 16 KiB and 8 levels deep; a cost, the most objects the query could return with every
// list full, of at most Config.MaxCost (20,000), checked before anything runs
// (QUERY_TOO_COSTLY); at most Config.MaxObjects (10,000) objects made (TOO_MANY_OBJECTS)
// and Config.Timeout (10 s) spent (TIME_BUDGET_EXCEEDED); introspection only if
// Config.Introspection (taskboard serve: off, demo: on; INTROSPECTION_DISABLED). Lists
// load their children in batches: tasks with their projects and comments cost the same few
// statements for 5 tasks or 50.
package gqlapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
)

// Config configures an API.
type Config struct {
	// Store is the data, read and written bound to the request context's tenant.
	Store *store.Store

	// MaxCost refuses, before it runs, a query that could return more objects than this, every
	// list counted full (its first argument or default); MaxCostDefault if 0.
	MaxCost int

	// MaxObjects stops a query once it has made this many objects; MaxObjectsDefault if 0.
	MaxObjects int

	// Timeout is each request's time budget; TimeoutDefault if 0.
	Timeout time.Duration

	// Introspection answers __schema and __type queries. Off, they are refused: the schema is
	// public in the source, but there is no need to hand it to every scanner.
	Introspection bool

	// UserID is the user acting in a request's context, 0 for none (API tokens act as no
	// particular user). Nil: always 0.
	UserID func(context.Context) int64

	// Decode reads a POST body (a JSON object) into v, answering bad input itself (false), so
	// that /graphql refuses bodies exactly as the REST API does. Required.
	Decode func(w http.ResponseWriter, r *http.Request, v any) bool

	// WriteJSON answers status with v as JSON, and WriteError an error as the REST API does.
	// Required.
	WriteJSON  func(w http.ResponseWriter, status int, v any)
	WriteError func(w http.ResponseWriter, status int, code, msg string)

	Logger *slog.Logger
}

// Limits (see Config). A legitimate page needs a few hundred objects; the cost bound counts every
// list as full, so it sits well above what such pages actually return.
const (
	MaxCostDefault    = 20000
	MaxObjectsDefault = 10000
	TimeoutDefault    = 10 * time.Second
)

// API serves /graphql: Get and Post are its two methods' handlers.
type API struct {
	cfg Config
	log *slog.Logger
	gql *gqlSchema
}

// New returns the API of cfg.
func New(cfg *Config) (*API, error) {
	if cfg == nil || cfg.Store == nil || cfg.Decode == nil || cfg.WriteJSON == nil || cfg.WriteError == nil {
		return nil, errors.New("gqlapi: Config.Store, Decode, WriteJSON and WriteError are required")
	}
	a := &API{cfg: *cfg, log: cfg.Logger}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.cfg.UserID == nil {
		a.cfg.UserID = func(context.Context) int64 { return 0 }
	}
	var err error
	if a.gql, err = newGQLSchema(a, cfg); err != nil {
		return nil, err
	}
	return a, nil
}

const gqlSchemaText = `
schema { query: Query mutation: Mutation }

type Query {
	projects(first: Int = 20, after: ID): [Project!]!
	project(id: ID!): Project
	task(id: ID!): Task
	tasks(projectId: ID, status: TaskStatus, first: Int = 20, after: ID): [Task!]!
}

type Mutation {
	createProject(name: String!, description: String): Project!
	updateProject(id: ID!, name: String, description: String): Project!
	deleteProject(id: ID!): Boolean!
	createTask(projectId: ID!, title: String!, description: String, status: TaskStatus, assigneeId: ID, dueDate: String): Task!
	updateTask(id: ID!, title: String, description: String, status: TaskStatus, assigneeId: ID, dueDate: String): Task!
	deleteTask(id: ID!): Boolean!
	createComment(taskId: ID!, body: String!): Comment!
	updateComment(id: ID!, body: String!): Comment!
	deleteComment(id: ID!): Boolean!
}

enum TaskStatus { todo doing done }

type Project {
	id: ID!
	name: String!
	description: String!
	createdAt: String!
	updatedAt: String!
	taskCount: Int!
	tasks(status: TaskStatus, first: Int = 100, after: ID): [Task!]!
}

type Task {
	id: ID!
	projectId: ID!
	project: Project
	title: String!
	description: String!
	status: TaskStatus!
	assignee: User
	dueDate: String
	createdAt: String!
	updatedAt: String!
	comments(first: Int = 100, after: ID): [Comment!]!
}

type Comment {
	id: ID!
	taskId: ID!
	body: String!
	author: User
	createdAt: String!
	updatedAt: String!
}

type User {
	id: ID!
	name: String!
}
`

// gqlSchema is the API twice: whole, for POST, and without its mutation root, for GET. A mutation
// sent by GET is answered 405 before it reaches either; the query-only schema makes sure that
// nothing a GET carries can ever run one.
type gqlSchema struct {
	all, queries *graphql.Schema
	limits       gqlLimits
}

func newGQLSchema(s *API, cfg *Config) (*gqlSchema, error) {
	limits, err := newGQLLimits(cfg)
	if err != nil {
		return nil, err
	}
	opts := []graphql.SchemaOpt{graphql.MaxDepth(8), graphql.MaxParallelism(4), graphql.MaxQueryLength(16 << 10),
		graphql.RestrictIntrospection(func(context.Context) bool { return limits.introspection })}
	all, err := graphql.ParseSchema(gqlSchemaText, &gqlRoot{s}, opts...)
	if err != nil {
		return nil, err
	}
	queryOnly := strings.Replace(gqlSchemaText, "schema { query: Query mutation: Mutation }", "schema { query: Query }", 1)
	queries, err := graphql.ParseSchema(queryOnly, &gqlRoot{s}, opts...)
	if err != nil {
		return nil, err
	}
	return &gqlSchema{all: all, queries: queries, limits: limits}, nil
}

type gqlRequest struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

// Post runs a request sent by POST: a JSON object with query, operationName, variables.
func (s *API) Post(w http.ResponseWriter, r *http.Request) {
	var req gqlRequest
	if !s.cfg.Decode(w, r, &req) {
		return
	}
	if req.Query == "" {
		s.cfg.WriteError(w, http.StatusBadRequest, "bad_request", "query is required")
		return
	}
	s.cfg.WriteJSON(w, http.StatusOK, s.gqlExec(r.Context(), s.gql.all, req))
}

// Get runs a query sent by GET: ?query=...&operationName=...&variables={JSON object}.
// Other parameters are ignored (caches and tools add their own).
func (s *API) Get(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := gqlRequest{Query: q.Get("query"), OperationName: q.Get("operationName")}
	if req.Query == "" {
		s.cfg.WriteError(w, http.StatusBadRequest, "bad_request", "query is required: /graphql?query=...")
		return
	}
	if v := q.Get("variables"); v != "" {
		if err := json.Unmarshal([]byte(v), &req.Variables); err != nil {
			s.cfg.WriteError(w, http.StatusBadRequest, "malformed_json", "variables must be a JSON object: "+err.Error())
			return
		}
	}
	switch gqlOperationKind(req.Query, req.OperationName) {
	case "mutation", "subscription":
		w.Header().Set("Allow", "POST")
		s.cfg.WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", "mutations are sent by POST; GET runs queries only")
		return
	}
	s.cfg.WriteJSON(w, http.StatusOK, s.gqlExec(r.Context(), s.gql.queries, req))
}

// gqlOperation is an operation of a GraphQL document: its kind (query, mutation, subscription)
// and its name, if any.
type gqlOperation struct{ kind, name string }

// gqlOperationKind says which kind of operation a request selects: the one named operationName,
// or the only one; "" if the document does not say (the engine then reports the error).
func gqlOperationKind(doc, operationName string) string {
	ops := gqlOperations(doc)
	if operationName == "" {
		if len(ops) == 1 {
			return ops[0].kind
		}
		return ""
	}
	for _, op := range ops {
		if op.name == operationName {
			return op.kind
		}
	}
	return ""
}

// gqlOperations lists a document's operations by reading its top level only: a definition is a
// shorthand selection set ({ ... }, a query), or starts with query, mutation, subscription or
// fragment. Strings, block strings and comments are skipped, so that braces or keywords in them
// do not count. It does not validate: the engine does.
func gqlOperations(doc string) []gqlOperation {
	var ops []gqlOperation
	depth := 0
	expectDef, wantName := true, false
	for i := 0; i < len(doc); {
		c := doc[i]
		switch {
		case c == '#':
			for i < len(doc) && doc[i] != '\n' && doc[i] != '\r' {
				i++
			}
		case strings.HasPrefix(doc[i:], `"""`):
			i += 3
			for i < len(doc) && !strings.HasPrefix(doc[i:], `"""`) {
				if strings.HasPrefix(doc[i:], `\"""`) {
					i += 4
					continue
				}
				i++
			}
			i += 3
		case c == '"':
			i++
			for i < len(doc) && doc[i] != '"' && doc[i] != '\n' {
				if doc[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case c == '{' || c == '(' || c == '[':
			if depth == 0 && c == '{' {
				if expectDef {
					ops = append(ops, gqlOperation{kind: "query"})
				}
				expectDef = false
			}
			wantName = false
			depth++
			i++
		case c == '}' || c == ')' || c == ']':
			depth--
			i++
			if depth == 0 && c == '}' {
				expectDef = true
			}
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			j := i + 1
			for j < len(doc) && (doc[j] == '_' || 'a' <= doc[j] && doc[j] <= 'z' || 'A' <= doc[j] && doc[j] <= 'Z' || '0' <= doc[j] && doc[j] <= '9') {
				j++
			}
			name := doc[i:j]
			i = j
			if depth != 0 {
				continue
			}
			switch {
			case expectDef:
				expectDef = false
				if name == "query" || name == "mutation" || name == "subscription" {
					ops = append(ops, gqlOperation{kind: name})
					wantName = true
				}
			case wantName:
				ops[len(ops)-1].name = name
				wantName = false
			}
		default: // punctuation (@ $ : ! = ...), white space, commas, numbers
			if c == '@' {
				wantName = false
			}
			i++
		}
	}
	return ops
}

// gqlRoot resolves Query and Mutation.
type gqlRoot struct{ s *API }

// userError says whether err is the client's to see: the errors the REST API answers with a
// status of their own (not found, invalid, over a limit, organisation moving).
func userError(err error) bool {
	var inv *store.InvalidError
	var lim *store.LimitError
	return errors.Is(err, store.ErrNotFound) || errors.As(err, &inv) || errors.As(err, &lim) ||
		errors.Is(err, tenancy.ErrTenantMoving)
}

func gqlID(id int64) graphql.ID { return graphql.ID(strconv.FormatInt(id, 10)) }

func parseGQLID(id graphql.ID) (int64, error) {
	n, err := strconv.ParseInt(string(id), 10, 64)
	if err != nil || n <= 0 {
		return 0, store.Invalidf("%q is not an id", string(id))
	}
	return n, nil
}

func optID(id *graphql.ID) (*int64, error) {
	if id == nil {
		return nil, nil
	}
	if *id == "" || *id == "0" {
		zero := int64(0)
		return &zero, nil
	}
	n, err := parseGQLID(*id)
	return &n, err
}

// gqlPage reads first (defaulted by the schema) and after.
func gqlPage(first int32, after *graphql.ID) (store.Page, error) {
	pg := store.Page{Limit: int(first)}
	if first < 1 || first > 100 {
		return pg, store.Invalidf("first must be from 1 to 100")
	}
	if after != nil {
		n, err := parseGQLID(*after)
		if err != nil {
			return pg, err
		}
		pg.After = n
	}
	return pg, nil
}

// gqlErr hides internal errors from clients; user errors pass through.
func (g *gqlRoot) err(ctx context.Context, err error) error {
	if err == nil || userError(err) {
		return err
	}
	if ctx.Err() != nil { // the request's limits or its client stopped it: gqlExec says which
		return ctx.Err()
	}
	g.s.log.ErrorContext(ctx, "graphql", "err", err)
	return store.Invalidf("internal error")
}

func (g *gqlRoot) Projects(ctx context.Context, args struct {
	First int32
	After *graphql.ID
}) ([]*gqlProject, error) {
	pg, err := gqlPage(args.First, args.After)
	if err != nil {
		return nil, err
	}
	ps, err := g.s.cfg.Store.ListProjects(ctx, pg)
	if err != nil {
		return nil, g.err(ctx, err)
	}
	return g.newProjects(ps), gqlCount(ctx, len(ps))
}

func (g *gqlRoot) Project(ctx context.Context, args struct{ ID graphql.ID }) (*gqlProject, error) {
	id, err := parseGQLID(args.ID)
	if err != nil {
		return nil, err
	}
	p, err := g.s.cfg.Store.GetProject(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, g.err(ctx, err)
	}
	return g.newProjects([]*store.Project{p})[0], gqlCount(ctx, 1)
}

func (g *gqlRoot) Task(ctx context.Context, args struct{ ID graphql.ID }) (*gqlTask, error) {
	id, err := parseGQLID(args.ID)
	if err != nil {
		return nil, err
	}
	t, err := g.s.cfg.Store.GetTask(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, g.err(ctx, err)
	}
	return g.newTasks([]*store.Task{t})[0], gqlCount(ctx, 1)
}

func (g *gqlRoot) Tasks(ctx context.Context, args struct {
	ProjectID *graphql.ID
	Status    *string
	First     int32
	After     *graphql.ID
}) ([]*gqlTask, error) {
	pg, err := gqlPage(args.First, args.After)
	if err != nil {
		return nil, err
	}
	var pid int64
	if args.ProjectID != nil {
		if pid, err = parseGQLID(*args.ProjectID); err != nil {
			return nil, err
		}
	}
	return g.tasks(ctx, pid, args.Status, pg)
}

func (g *gqlRoot) tasks(ctx context.Context, pid int64, status *string, pg store.Page) ([]*gqlTask, error) {
	st := ""
	if status != nil {
		st = *status
	}
	ts, err := g.s.cfg.Store.ListTasks(ctx, pid, st, pg)
	if err != nil {
		return nil, g.err(ctx, err)
	}
	return g.newTasks(ts), gqlCount(ctx, len(ts))
}

func (g *gqlRoot) CreateProject(ctx context.Context, args struct {
	Name        string
	Description *string
}) (*gqlProject, error) {
	desc := ""
	if args.Description != nil {
		desc = *args.Description
	}
	p, err := g.s.cfg.Store.CreateProject(ctx, g.s.cfg.UserID(ctx), args.Name, desc)
	if err != nil {
		return nil, g.err(ctx, err)
	}
	return g.newProjects([]*store.Project{p})[0], gqlCount(ctx, 1)
}

func (g *gqlRoot) UpdateProject(ctx context.Context, args struct {
	ID          graphql.ID
	Name        *string
	Description *string
}) (*gqlProject, error) {
	id, err := parseGQLID(args.ID)
	if err != nil {
		return nil, err
	}
	p, err := g.s.cfg.Store.UpdateProject(ctx, g.s.cfg.UserID(ctx), id, args.Name, args.Description)
	if err != nil {
		return nil, g.err(ctx, err)
	}
	return g.newProjects([]*store.Project{p})[0], gqlCount(ctx, 1)
}

func (g *gqlRoot) DeleteProject(ctx context.Context, args struct{ ID graphql.ID }) (bool, error) {
	id, err := parseGQLID(args.ID)
	if err != nil {
		return false, err
	}
	return true, g.err(ctx, g.s.cfg.Store.DeleteProject(ctx, g.s.cfg.UserID(ctx), id))
}

type gqlTaskArgs struct {
	Title       *string
	Description *string
	Status      *string
	AssigneeID  *graphql.ID
	DueDate     *string
}

func (a gqlTaskArgs) input() (store.TaskInput, error) {
	aid, err := optID(a.AssigneeID)
	return store.TaskInput{Title: a.Title, Description: a.Description, Status: a.Status, AssigneeID: aid, DueDate: a.DueDate}, err
}

func (g *gqlRoot) CreateTask(ctx context.Context, args struct {
	ProjectID   graphql.ID
	Title       string
	Description *string
	Status      *string
	AssigneeID  *graphql.ID
	DueDate     *string
}) (*gqlTask, error) {
	pid, err := parseGQLID(args.ProjectID)
	if err != nil {
		return nil, err
	}
	in, err := gqlTaskArgs{&args.Title, args.Description, args.Status, args.AssigneeID, args.DueDate}.input()
	if err != nil {
		return nil, err
	}
	t, err := g.s.cfg.Store.CreateTask(ctx, g.s.cfg.UserID(ctx), pid, in)
	if err != nil {
		return nil, g.err(ctx, err)
	}
	return g.newTasks([]*store.Task{t})[0], gqlCount(ctx, 1)
}

func (g *gqlRoot) UpdateTask(ctx context.Context, args struct {
	ID          graphql.ID
	Title       *string
	Description *string
	Status      *string
	AssigneeID  *graphql.ID
	DueDate     *string
}) (*gqlTask, error) {
	id, err := parseGQLID(args.ID)
	if err != nil {
		return nil, err
	}
	in, err := gqlTaskArgs{args.Title, args.Description, args.Status, args.AssigneeID, args.DueDate}.input()
	if err != nil {
		return nil, err
	}
	t, err := g.s.cfg.Store.UpdateTask(ctx, g.s.cfg.UserID(ctx), id, in)
	if err != nil {
		return nil, g.err(ctx, err)
	}
	return g.newTasks([]*store.Task{t})[0], gqlCount(ctx, 1)
}

func (g *gqlRoot) DeleteTask(ctx context.Context, args struct{ ID graphql.ID }) (bool, error) {
	id, err := parseGQLID(args.ID)
	if err != nil {
		return false, err
	}
	return true, g.err(ctx, g.s.cfg.Store.DeleteTask(ctx, g.s.cfg.UserID(ctx), id))
}

func (g *gqlRoot) CreateComment(ctx context.Context, args struct {
	TaskID graphql.ID
	Body   string
}) (*gqlComment, error) {
	tid, err := parseGQLID(args.TaskID)
	if err != nil {
		return nil, err
	}
	c, err := g.s.cfg.Store.CreateComment(ctx, g.s.cfg.UserID(ctx), tid, args.Body)
	if err != nil {
		return nil, g.err(ctx, err)
	}
	return g.newComments([]*store.Comment{c})[0], gqlCount(ctx, 1)
}

func (g *gqlRoot) UpdateComment(ctx context.Context, args struct {
	ID   graphql.ID
	Body string
}) (*gqlComment, error) {
	id, err := parseGQLID(args.ID)
	if err != nil {
		return nil, err
	}
	c, err := g.s.cfg.Store.UpdateComment(ctx, id, args.Body)
	if err != nil {
		return nil, g.err(ctx, err)
	}
	return g.newComments([]*store.Comment{c})[0], gqlCount(ctx, 1)
}

func (g *gqlRoot) DeleteComment(ctx context.Context, args struct{ ID graphql.ID }) (bool, error) {
	id, err := parseGQLID(args.ID)
	if err != nil {
		return false, err
	}
	return true, g.err(ctx, g.s.cfg.Store.DeleteComment(ctx, id))
}

type gqlProject struct {
	g     *gqlRoot
	p     *store.Project
	batch *projectBatch
}

func (r *gqlProject) ID() graphql.ID      { return gqlID(r.p.ID) }
func (r *gqlProject) Name() string        { return r.p.Name }
func (r *gqlProject) Description() string { return r.p.Description }
func (r *gqlProject) CreatedAt() string   { return r.p.CreatedAt.UTC().Format("2006-01-02T15:04:05Z") }
func (r *gqlProject) UpdatedAt() string   { return r.p.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z") }
func (r *gqlProject) TaskCount() int32    { return int32(r.p.TaskCount) }
func (r *gqlProject) Tasks(ctx context.Context, args struct {
	Status *string
	First  int32
	After  *graphql.ID
}) ([]*gqlTask, error) {
	pg, err := gqlPage(args.First, args.After)
	if err != nil {
		return nil, err
	}
	st := ""
	if args.Status != nil {
		st = *args.Status
	}
	ts, err := r.batch.tasksOf(ctx, r.g, r.p.ID, st, pg)
	if err != nil {
		return nil, err
	}
	return nonNil(ts), gqlCount(ctx, len(ts))
}

// nonNil is s, or an empty list for a non-null list field.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type gqlTask struct {
	g     *gqlRoot
	t     *store.Task
	batch *taskBatch
}

func (r *gqlTask) ID() graphql.ID        { return gqlID(r.t.ID) }
func (r *gqlTask) ProjectID() graphql.ID { return gqlID(r.t.ProjectID) }
func (r *gqlTask) Title() string         { return r.t.Title }
func (r *gqlTask) Description() string   { return r.t.Description }
func (r *gqlTask) Status() string        { return r.t.Status }
func (r *gqlTask) DueDate() *string      { return r.t.DueDate }
func (r *gqlTask) CreatedAt() string     { return r.t.CreatedAt.UTC().Format("2006-01-02T15:04:05Z") }
func (r *gqlTask) UpdatedAt() string     { return r.t.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z") }
func (r *gqlTask) Assignee(ctx context.Context) (*gqlUser, error) {
	if r.t.AssigneeID == nil {
		return nil, nil
	}
	return &gqlUser{*r.t.AssigneeID, r.t.AssigneeName}, gqlCount(ctx, 1)
}
func (r *gqlTask) Project(ctx context.Context) (*gqlProject, error) {
	p, err := r.batch.project(ctx, r.g, r.t.ProjectID)
	if err != nil || p == nil {
		return nil, err
	}
	return p, gqlCount(ctx, 1)
}
func (r *gqlTask) Comments(ctx context.Context, args struct {
	First int32
	After *graphql.ID
}) ([]*gqlComment, error) {
	pg, err := gqlPage(args.First, args.After)
	if err != nil {
		return nil, err
	}
	cs, err := r.batch.commentsOf(ctx, r.g, r.t.ID, pg)
	if err != nil {
		return nil, err
	}
	return nonNil(cs), gqlCount(ctx, len(cs))
}

type gqlComment struct {
	g *gqlRoot
	c *store.Comment
}

func (r *gqlComment) ID() graphql.ID     { return gqlID(r.c.ID) }
func (r *gqlComment) TaskID() graphql.ID { return gqlID(r.c.TaskID) }
func (r *gqlComment) Body() string       { return r.c.Body }
func (r *gqlComment) CreatedAt() string  { return r.c.CreatedAt.UTC().Format("2006-01-02T15:04:05Z") }
func (r *gqlComment) UpdatedAt() string  { return r.c.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z") }
func (r *gqlComment) Author(ctx context.Context) (*gqlUser, error) {
	if r.c.AuthorID == nil {
		return nil, nil
	}
	return &gqlUser{*r.c.AuthorID, r.c.AuthorName}, gqlCount(ctx, 1)
}

// gqlUser exposes only a member's id and name: emails stay private to the organisation's pages.
type gqlUser struct {
	id   int64
	name string
}

func (r *gqlUser) ID() graphql.ID { return gqlID(r.id) }
func (r *gqlUser) Name() string   { return r.name }
