package gqlapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"

	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
)

// What one GraphQL request may cost. In order: graphql-go refuses queries longer than 16 KiB or
// deeper than 8 fields; the cost (cost.go) refuses, before anything runs, a query that could
// return more than Config.MaxCost objects; while it runs, a query is stopped when it has
// made Config.MaxObjects objects or spent Config.Timeout. Lists of tasks, projects
// and comments load their children in batches (taskBatch, projectBatch), so the number of SQL
// statements grows with the query's shape, not with the rows it returns.

var (
	errGQLTooManyObjects = errors.New("too many objects")
	errGQLTimeBudget     = errors.New("time budget spent")
)

// gqlLimits are an API's limits, defaults applied.
type gqlLimits struct {
	maxCost, maxObjects int64
	timeout             time.Duration
	introspection       bool
}

func newGQLLimits(cfg *Config) (gqlLimits, error) {
	l := gqlLimits{int64(cfg.MaxCost), int64(cfg.MaxObjects), cfg.Timeout, cfg.Introspection}
	if l.maxCost < 0 || l.maxObjects < 0 || l.timeout < 0 {
		return l, errors.New("gqlapi: Config.MaxCost, MaxObjects and Timeout must not be negative")
	}
	if l.maxCost == 0 {
		l.maxCost = MaxCostDefault
	}
	if l.maxObjects == 0 {
		l.maxObjects = MaxObjectsDefault
	}
	if l.timeout == 0 {
		l.timeout = TimeoutDefault
	}
	return l, nil
}

// gqlRefusal is an answer with one error and no data; code goes in the error's extensions.
func gqlRefusal(code, msg string, ext map[string]any) *graphql.Response {
	if ext == nil {
		ext = map[string]any{}
	}
	ext["code"] = code
	return &graphql.Response{Errors: []*gqlerrors.QueryError{{Message: msg, Extensions: ext}}}
}

// gqlExec validates, costs and runs a request under its limits.
func (s *API) gqlExec(ctx context.Context, schema *graphql.Schema, req gqlRequest) *graphql.Response {
	if errs := schema.ValidateWithVariables(req.Query, req.Variables); len(errs) != 0 {
		return &graphql.Response{Errors: errs}
	}
	l := s.gql.limits
	cost, err := gqlCost(schema.AST(), req.Query, req.OperationName, req.Variables, l.introspection)
	switch {
	case errors.Is(err, errGQLIntrospection):
		return gqlRefusal("INTROSPECTION_DISABLED", err.Error(), nil)
	case err != nil: // a valid query this file cannot read: refuse rather than run it uncosted
		s.log.ErrorContext(ctx, "graphql cost", "err", err)
		return gqlRefusal("QUERY_NOT_COSTED", "the query could not be costed", nil)
	case cost > l.maxCost:
		return gqlRefusal("QUERY_TOO_COSTLY",
			fmt.Sprintf("the query could return up to %d objects, more than the limit of %d: ask for fewer (first) or nest less", cost, l.maxCost),
			map[string]any{"cost": cost, "limit": l.maxCost})
	}

	ctx, cancel := context.WithTimeoutCause(ctx, l.timeout, errGQLTimeBudget)
	defer cancel()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	ctx = context.WithValue(ctx, gqlReqKey{}, &gqlReq{max: l.maxObjects, stop: stop})
	res := schema.Exec(ctx, req.Query, req.OperationName, req.Variables)
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errGQLTooManyObjects):
		return gqlRefusal("TOO_MANY_OBJECTS", fmt.Sprintf("the query made more than %d objects, the limit: ask for fewer", l.maxObjects), nil)
	case errors.Is(cause, errGQLTimeBudget):
		return gqlRefusal("TIME_BUDGET_EXCEEDED", fmt.Sprintf("the query ran past its time budget of %s", l.timeout), nil)
	}
	return res
}

// gqlReq is one request's running count of objects.
type gqlReq struct {
	objects atomic.Int64
	max     int64
	stop    context.CancelCauseFunc
}

type gqlReqKey struct{}

// gqlCount counts n objects made for the request; beyond its limit it stops the request.
func gqlCount(ctx context.Context, n int) error {
	rq, _ := ctx.Value(gqlReqKey{}).(*gqlReq)
	if rq == nil {
		return nil
	}
	if rq.objects.Add(int64(n)) > rq.max {
		rq.stop(errGQLTooManyObjects)
		return errGQLTooManyObjects
	}
	return nil
}

// gqlOnce is a value loaded once, by whichever resolver asks first; the others wait for it.
type gqlOnce[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (o *gqlOnce[T]) get(load func() (T, error)) (T, error) {
	o.once.Do(func() { o.v, o.err = load() })
	return o.v, o.err
}

// onceFor is m[k], made if missing.
func onceFor[K comparable, T any](mu *sync.Mutex, m *map[K]*gqlOnce[T], k K) *gqlOnce[T] {
	mu.Lock()
	defer mu.Unlock()
	if *m == nil {
		*m = map[K]*gqlOnce[T]{}
	}
	o := (*m)[k]
	if o == nil {
		o = &gqlOnce[T]{}
		(*m)[k] = o
	}
	return o
}

// taskBatch is the tasks one resolver returned. What their fields need from the database is
// loaded for all of them when the first asks: one query per field and arguments, not per task.
type taskBatch struct {
	tasks    []*store.Task
	mu       sync.Mutex
	projects gqlOnce[map[int64]*gqlProject]
	comments map[store.Page]*gqlOnce[map[int64][]*gqlComment]
}

// projectBatch is taskBatch for projects.
type projectBatch struct {
	projects []*store.Project
	mu       sync.Mutex
	tasks    map[taskListKey]*gqlOnce[map[int64][]*gqlTask]
}

type taskListKey struct {
	status string
	pg     store.Page
}

func (g *gqlRoot) newTasks(ts []*store.Task) []*gqlTask {
	b := &taskBatch{tasks: ts}
	out := make([]*gqlTask, len(ts))
	for i, t := range ts {
		out[i] = &gqlTask{g, t, b}
	}
	return out
}

func (g *gqlRoot) newProjects(ps []*store.Project) []*gqlProject {
	b := &projectBatch{projects: ps}
	out := make([]*gqlProject, len(ps))
	for i, p := range ps {
		out[i] = &gqlProject{g, p, b}
	}
	return out
}

func (g *gqlRoot) newComments(cs []*store.Comment) []*gqlComment {
	out := make([]*gqlComment, len(cs))
	for i, c := range cs {
		out[i] = &gqlComment{g, c}
	}
	return out
}

// project is a task's project, loaded with those of the task's batch.
func (b *taskBatch) project(ctx context.Context, g *gqlRoot, id int64) (*gqlProject, error) {
	m, err := b.projects.get(func() (map[int64]*gqlProject, error) {
		ids := make([]int64, len(b.tasks))
		for i, t := range b.tasks {
			ids[i] = t.ProjectID
		}
		slices.Sort(ids)
		ps, err := g.s.cfg.Store.ProjectsByID(ctx, slices.Compact(ids))
		if err != nil {
			return nil, g.err(ctx, err)
		}
		m := map[int64]*gqlProject{}
		for _, p := range g.newProjects(ps) {
			m[p.p.ID] = p
		}
		return m, nil
	})
	return m[id], err
}

// commentsOf is a task's comments, loaded with those of the task's batch.
func (b *taskBatch) commentsOf(ctx context.Context, g *gqlRoot, id int64, pg store.Page) ([]*gqlComment, error) {
	m, err := onceFor(&b.mu, &b.comments, pg).get(func() (map[int64][]*gqlComment, error) {
		ids := make([]int64, len(b.tasks))
		for i, t := range b.tasks {
			ids[i] = t.ID
		}
		cs, err := g.s.cfg.Store.CommentsOfTasks(ctx, ids, pg)
		if err != nil {
			return nil, g.err(ctx, err)
		}
		m := map[int64][]*gqlComment{}
		for _, c := range g.newComments(cs) {
			m[c.c.TaskID] = append(m[c.c.TaskID], c)
		}
		return m, nil
	})
	return m[id], err
}

// tasksOf is a project's tasks, loaded with those of the project's batch; they make one batch.
func (b *projectBatch) tasksOf(ctx context.Context, g *gqlRoot, id int64, status string, pg store.Page) ([]*gqlTask, error) {
	m, err := onceFor(&b.mu, &b.tasks, taskListKey{status, pg}).get(func() (map[int64][]*gqlTask, error) {
		ids := make([]int64, len(b.projects))
		for i, p := range b.projects {
			ids[i] = p.ID
		}
		ts, err := g.s.cfg.Store.TasksOfProjects(ctx, ids, status, pg)
		if err != nil {
			return nil, g.err(ctx, err)
		}
		m := map[int64][]*gqlTask{}
		for _, t := range g.newTasks(ts) {
			m[t.t.ProjectID] = append(m[t.t.ProjectID], t)
		}
		return m, nil
	})
	return m[id], err
}
