package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store/shareddb"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store/tenantdb"
)

// Tenant data. Every function takes a context bound to the organisation (tenancy.WithTenant, done
// by the tenant middleware) and runs sqlc's generated queries (tenantdb) through the
// tenancy client: reads are one bound round trip (tenantdb.New(client)), writes one bound
// transaction (tenantdb.New(tx) in Client.Tx). No SQL names a tenant: the placement's schema and
// the row-level security policies do.
//
// Tenant SQL never touches a shared table (users, memberships, plans): a database-tier tenant's
// placement is a database of its own, perhaps on another server, where they do not exist. What a
// page needs from them is read on the application pool (Client.AppPool, shareddb), unbound: user
// names in one query per list (UserNames), plan limits and memberships before the tenant's
// transaction.

// ErrNotFound: no such row in the bound organisation.
var ErrNotFound = errors.New("not found")

// InvalidError is bad input from a user; its text is shown to them.
type InvalidError struct{ msg string }

func (e *InvalidError) Error() string { return e.msg }

// Invalidf returns an InvalidError.
func Invalidf(format string, args ...any) error { return &InvalidError{fmt.Sprintf(format, args...)} }

// Project is a tenant's project.
type Project struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	TaskCount   int       `json:"task_count"`
	OpenCount   int       `json:"open_count"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Task is a unit of work in a project; its assignee is a shared user.
type Task struct {
	ID           int64     `json:"id"`
	ProjectID    int64     `json:"project_id"`
	Title        string    `json:"title"`
	Description  string    `json:"description"`
	Status       string    `json:"status"`
	AssigneeID   *int64    `json:"assignee_id"`
	AssigneeName string    `json:"assignee_name,omitempty"`
	DueDate      *string   `json:"due_date"` // YYYY-MM-DD
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Comment is a note on a task.
type Comment struct {
	ID         int64     `json:"id"`
	TaskID     int64     `json:"task_id"`
	AuthorID   *int64    `json:"author_id"`
	AuthorName string    `json:"author_name,omitempty"`
	Body       string    `json:"body"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// APIToken describes a token; the token itself is shown once, when made.
type APIToken struct {
	ID         int64
	Name       string
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// Activity is one line of the activity feed.
type Activity struct {
	UserName  string
	Verb      string
	Subject   string
	CreatedAt time.Time
}

var TaskStatuses = []string{"todo", "doing", "done"}

func ValidStatus(s string) bool {
	for _, x := range TaskStatuses {
		if x == s {
			return true
		}
	}
	return false
}

// Page is keyset pagination: items after the id After, at most Limit of them.
type Page struct {
	After int64
	Limit int
}

// ---- projects

// The generated rows of the project queries are one shape (same columns): projectFrom reads the
// first, the others convert to it.
func projectFrom(r tenantdb.ListProjectsRow) *Project {
	return &Project{ID: r.ID, Name: r.Name, Description: r.Description, TaskCount: int(r.TaskCount),
		OpenCount: int(r.OpenCount), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// tdb runs generated tenant queries bound to the organisation in ctx: *tenancy.Client is a
// tenantdb.DBTX, one bound round trip a query; in a transaction, tenantdb.New(tx) is.
func (s *Store) tdb() *tenantdb.Queries { return tenantdb.New(s.db) }

// sdb runs generated shared queries on the application pool, unbound.
func (s *Store) sdb() *shareddb.Queries { return shareddb.New(s.db.AppPool()) }

func (s *Store) ListProjects(ctx context.Context, pg Page) ([]*Project, error) {
	rows, err := s.tdb().ListProjects(ctx, tenantdb.ListProjectsParams{AfterID: pg.After, MaxRows: int32(pg.Limit)})
	return mapRows(rows, err, projectFrom)
}

func (s *Store) GetProject(ctx context.Context, id int64) (*Project, error) {
	return getProject(ctx, s.tdb(), id)
}

func getProject(ctx context.Context, q *tenantdb.Queries, id int64) (*Project, error) {
	r, err := q.GetProject(ctx, id)
	if err != nil {
		return nil, notFound(err)
	}
	return projectFrom(tenantdb.ListProjectsRow(r)), nil
}

// ProjectsByID reads the projects with these ids (those that exist) in one query.
func (s *Store) ProjectsByID(ctx context.Context, ids []int64) ([]*Project, error) {
	rows, err := s.tdb().ProjectsByID(ctx, ids)
	return mapRows(rows, err, func(r tenantdb.ProjectsByIDRow) *Project { return projectFrom(tenantdb.ListProjectsRow(r)) })
}

// mapRows maps a query's rows to the app's types.
func mapRows[R, T any](rows []R, err error, f func(R) T) ([]T, error) {
	if err != nil {
		return nil, err
	}
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = f(r)
	}
	return out, nil
}

func checkName(what, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	if !CleanText(v) {
		return "", Invalidf("%s has bytes that are not text (NUL or invalid UTF-8)", what)
	}
	if v == "" {
		return "", Invalidf("%s is required", what)
	}
	if len([]rune(v)) > max {
		return "", Invalidf("%s is longer than %d characters", what, max)
	}
	return v, nil
}

func (s *Store) CreateProject(ctx context.Context, userID int64, name, description string) (*Project, error) {
	name, err := checkName("name", name, 200)
	if err != nil {
		return nil, err
	}
	if err := checkDescription(&description); err != nil {
		return nil, err
	}
	max, err := s.planMaxProjects(ctx)
	if err != nil {
		return nil, err
	}
	var p *Project
	err = s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		q := tenantdb.New(tx)
		if err := checkPlanLimit(ctx, q, max); err != nil {
			return err
		}
		id, err := q.CreateProject(ctx, tenantdb.CreateProjectParams{Name: name, Description: description, CreatedBy: nullID(userID)})
		if err != nil {
			return err
		}
		if err := logActivity(ctx, q, userID, "created project", name); err != nil {
			return err
		}
		p, err = getProject(ctx, q, id)
		return err
	})
	return p, err
}

// planLimit is the project limit of an organisation's plan.
type planLimit struct {
	plan string
	max  *int // nil: unlimited
}

// planMaxProjects reads the project limit of the organisation's plan. Plans are shared rows, read
// on the application pool (not in the tenant's transaction, whose placement may not have them);
// the tenant's plan is in its catalog settings.
func (s *Store) planMaxProjects(ctx context.Context) (planLimit, error) {
	l := planLimit{plan: PlanOf(tenancy.MustFromContext(ctx))}
	max, err := s.sdb().PlanMaxProjects(ctx, l.plan)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, nil
	}
	if max != nil {
		n := int(*max)
		l.max = &n
	}
	return l, err
}

// checkPlanLimit refuses a project beyond the plan's limit. It counts in the tenant's transaction,
// after taking a transaction lock of the tenant's own: concurrent creates would otherwise each
// count the same rows and all pass. (Read committed: the count, a later statement, sees the
// projects of the transactions that held the lock before.)
func checkPlanLimit(ctx context.Context, q *tenantdb.Queries, l planLimit) error {
	if l.max == nil {
		return nil
	}
	if err := q.LockProjects(ctx, tenancy.MustFromContext(ctx).ID); err != nil {
		return err
	}
	n, err := q.CountProjects(ctx)
	if err != nil {
		return err
	}
	if n >= int64(*l.max) {
		return &LimitError{fmt.Sprintf("the %s plan allows %d projects", l.plan, *l.max)}
	}
	return nil
}

type LimitError struct{ msg string }

func (e *LimitError) Error() string { return e.msg }

func (s *Store) UpdateProject(ctx context.Context, userID, id int64, name, description *string) (*Project, error) {
	if name != nil {
		n, err := checkName("name", *name, 200)
		if err != nil {
			return nil, err
		}
		name = &n
	}
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	var p *Project
	err := s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		q := tenantdb.New(tx)
		n, err := q.UpdateProject(ctx, tenantdb.UpdateProjectParams{ID: id, Name: name, Description: description})
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if p, err = getProject(ctx, q, id); err != nil {
			return err
		}
		return logActivity(ctx, q, userID, "updated project", p.Name)
	})
	return p, err
}

func (s *Store) DeleteProject(ctx context.Context, userID, id int64) error {
	return s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		q := tenantdb.New(tx)
		name, err := q.DeleteProject(ctx, id)
		if err != nil {
			return notFound(err)
		}
		return logActivity(ctx, q, userID, "deleted project", name)
	})
}

// ---- tasks

// The generated rows of the task queries are one shape: taskFrom reads the first, the others
// convert to it. The assignee's name is filled in by withTaskNames.
func taskFrom(r tenantdb.ListTasksRow) *Task {
	t := &Task{ID: r.ID, ProjectID: r.ProjectID, Title: r.Title, Description: r.Description, Status: r.Status,
		AssigneeID: r.AssigneeID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if r.DueDate != nil {
		d := r.DueDate.Format(time.DateOnly)
		t.DueDate = &d
	}
	return t
}

func getTask(ctx context.Context, q *tenantdb.Queries, id int64) (*Task, error) {
	r, err := q.GetTask(ctx, id)
	if err != nil {
		return nil, notFound(err)
	}
	return taskFrom(tenantdb.ListTasksRow(r)), nil
}

// withTaskNames fills in the assignees' names, in one query on the shared tables.
func (s *Store) withTaskNames(ctx context.Context, ts ...*Task) error {
	ids := make([]int64, 0, len(ts))
	for _, t := range ts {
		if t.AssigneeID != nil {
			ids = append(ids, *t.AssigneeID)
		}
	}
	names, err := s.userNames(ctx, ids)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.AssigneeID != nil {
			t.AssigneeName = names.of(*t.AssigneeID)
		}
	}
	return nil
}

// ListTasks lists tasks, of one project if projectID is not 0, in one status if status is set.
func (s *Store) ListTasks(ctx context.Context, projectID int64, status string, pg Page) ([]*Task, error) {
	rows, err := s.tdb().ListTasks(ctx, tenantdb.ListTasksParams{ProjectID: projectID, Status: status, AfterID: pg.After, MaxRows: int32(pg.Limit)})
	ts, err := mapRows(rows, err, taskFrom)
	if err != nil {
		return nil, err
	}
	return ts, s.withTaskNames(ctx, ts...)
}

// TasksOfProjects lists the tasks of several projects in one query: for each, what listTasks
// would (status, Page). GraphQL loads a list of projects' tasks with it.
func (s *Store) TasksOfProjects(ctx context.Context, projectIDs []int64, status string, pg Page) ([]*Task, error) {
	rows, err := s.tdb().TasksOfProjects(ctx, tenantdb.TasksOfProjectsParams{ProjectIds: projectIDs, Status: status, AfterID: pg.After, MaxRows: int32(pg.Limit)})
	ts, err := mapRows(rows, err, func(r tenantdb.TasksOfProjectsRow) *Task { return taskFrom(tenantdb.ListTasksRow(r)) })
	if err != nil {
		return nil, err
	}
	return ts, s.withTaskNames(ctx, ts...)
}

func (s *Store) GetTask(ctx context.Context, id int64) (*Task, error) {
	t, err := getTask(ctx, s.tdb(), id)
	if err != nil {
		return nil, err
	}
	return t, s.withTaskNames(ctx, t)
}

// TaskInput is a task's editable fields; nil means "leave as is" (update) or "default" (create).
type TaskInput struct {
	Title       *string
	Description *string
	Status      *string
	AssigneeID  *int64 // 0 clears the assignee
	DueDate     *string
}

func (in *TaskInput) check() error {
	if in.Title != nil {
		v, err := checkName("title", *in.Title, 200)
		if err != nil {
			return err
		}
		in.Title = &v
	}
	if err := checkDescription(in.Description); err != nil {
		return err
	}
	if in.Status != nil && !ValidStatus(*in.Status) {
		return Invalidf("status must be one of %s", strings.Join(TaskStatuses, ", "))
	}
	if in.DueDate != nil && *in.DueDate != "" {
		// Year 0 parses in Go but is no date in PostgreSQL.
		if d, err := time.Parse(time.DateOnly, *in.DueDate); err != nil || d.Year() < 1 {
			return Invalidf("due_date must be a date, YYYY-MM-DD")
		}
	}
	return nil
}

// checkAssignee refuses an assignee who is not a member of the organisation. No foreign key can
// say so (tasks and memberships may live in different databases), so it is checked here, on the
// shared tables, before the task is written. A member removed in between keeps the task, as a
// member removed later does.
func (s *Store) checkAssignee(ctx context.Context, id *int64) error {
	if id == nil || *id == 0 {
		return nil
	}
	_, err := s.sdb().RoleIn(ctx, shareddb.RoleInParams{UserID: *id, TenantID: tenancy.MustFromContext(ctx).ID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Invalidf("assignee %d is not a member of this organisation", *id)
	}
	return nil
}

func (s *Store) CreateTask(ctx context.Context, userID, projectID int64, in TaskInput) (*Task, error) {
	if in.Title == nil {
		return nil, Invalidf("title is required")
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	if err := s.checkAssignee(ctx, in.AssigneeID); err != nil {
		return nil, err
	}
	var t *Task
	err := s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		q := tenantdb.New(tx)
		project, err := q.ProjectName(ctx, projectID)
		if err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return Invalidf("project %d does not exist", projectID)
			}
			return err
		}
		id, err := q.CreateTask(ctx, tenantdb.CreateTaskParams{ProjectID: projectID, Title: *in.Title, Description: in.Description,
			Status: in.Status, AssigneeID: in.AssigneeID, DueDate: in.DueDate})
		if err != nil {
			return err
		}
		if err := logActivity(ctx, q, userID, "added task", *in.Title+" to "+project); err != nil {
			return err
		}
		t, err = getTask(ctx, q, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, s.withTaskNames(ctx, t)
}

func (s *Store) UpdateTask(ctx context.Context, userID, id int64, in TaskInput) (*Task, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	if err := s.checkAssignee(ctx, in.AssigneeID); err != nil {
		return nil, err
	}
	var t *Task
	err := s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		q := tenantdb.New(tx)
		n, err := q.UpdateTask(ctx, tenantdb.UpdateTaskParams{ID: id, Title: in.Title, Description: in.Description,
			Status: in.Status, AssigneeID: in.AssigneeID, DueDate: in.DueDate})
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if t, err = getTask(ctx, q, id); err != nil {
			return err
		}
		verb := "updated task"
		if in.Status != nil {
			verb = "moved task to " + *in.Status + ":"
		}
		return logActivity(ctx, q, userID, verb, t.Title)
	})
	if err != nil {
		return nil, err
	}
	return t, s.withTaskNames(ctx, t)
}

func (s *Store) DeleteTask(ctx context.Context, userID, id int64) error {
	return s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		q := tenantdb.New(tx)
		title, err := q.DeleteTask(ctx, id)
		if err != nil {
			return notFound(err)
		}
		return logActivity(ctx, q, userID, "deleted task", title)
	})
}

// ---- comments

// The generated rows of the comment queries are one shape: commentFrom reads the first, the
// others convert to it. The author's name is filled in by withCommentNames.
func commentFrom(r tenantdb.ListCommentsRow) *Comment {
	return &Comment{ID: r.ID, TaskID: r.TaskID, AuthorID: r.AuthorID, Body: r.Body, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func getComment(ctx context.Context, q *tenantdb.Queries, id int64) (*Comment, error) {
	r, err := q.GetComment(ctx, id)
	if err != nil {
		return nil, notFound(err)
	}
	return commentFrom(tenantdb.ListCommentsRow(r)), nil
}

// withCommentNames fills in the authors' names, in one query on the shared tables.
func (s *Store) withCommentNames(ctx context.Context, cs ...*Comment) error {
	ids := make([]int64, 0, len(cs))
	for _, c := range cs {
		if c.AuthorID != nil {
			ids = append(ids, *c.AuthorID)
		}
	}
	names, err := s.userNames(ctx, ids)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.AuthorID != nil {
			c.AuthorName = names.of(*c.AuthorID)
		}
	}
	return nil
}

func (s *Store) ListComments(ctx context.Context, taskID int64, pg Page) ([]*Comment, error) {
	rows, err := s.tdb().ListComments(ctx, tenantdb.ListCommentsParams{TaskID: taskID, AfterID: pg.After, MaxRows: int32(pg.Limit)})
	cs, err := mapRows(rows, err, commentFrom)
	if err != nil {
		return nil, err
	}
	return cs, s.withCommentNames(ctx, cs...)
}

// CommentsOfTasks lists the comments of several tasks in one query: for each, what listComments
// would (Page). GraphQL loads a list of tasks' comments with it.
func (s *Store) CommentsOfTasks(ctx context.Context, taskIDs []int64, pg Page) ([]*Comment, error) {
	rows, err := s.tdb().CommentsOfTasks(ctx, tenantdb.CommentsOfTasksParams{TaskIds: taskIDs, AfterID: pg.After, MaxRows: int32(pg.Limit)})
	cs, err := mapRows(rows, err, func(r tenantdb.CommentsOfTasksRow) *Comment { return commentFrom(tenantdb.ListCommentsRow(r)) })
	if err != nil {
		return nil, err
	}
	return cs, s.withCommentNames(ctx, cs...)
}

func (s *Store) GetComment(ctx context.Context, id int64) (*Comment, error) {
	c, err := getComment(ctx, s.tdb(), id)
	if err != nil {
		return nil, err
	}
	return c, s.withCommentNames(ctx, c)
}

// checkDescription checks a description, if given: PostgreSQL text, at most 10,000 bytes.
func checkDescription(d *string) error {
	switch {
	case d == nil:
		return nil
	case !CleanText(*d):
		return Invalidf("description has bytes that are not text (NUL or invalid UTF-8)")
	case len(*d) > 10000:
		return Invalidf("description is longer than 10000 characters")
	}
	return nil
}

func checkBody(body string) (string, error) {
	body = strings.TrimSpace(body)
	if !CleanText(body) {
		return "", Invalidf("body has bytes that are not text (NUL or invalid UTF-8)")
	}
	if body == "" {
		return "", Invalidf("body is required")
	}
	if len(body) > 10000 {
		return "", Invalidf("body is longer than 10000 characters")
	}
	return body, nil
}

func (s *Store) CreateComment(ctx context.Context, userID, taskID int64, body string) (*Comment, error) {
	body, err := checkBody(body)
	if err != nil {
		return nil, err
	}
	var c *Comment
	err = s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		q := tenantdb.New(tx)
		title, err := q.TaskTitle(ctx, taskID)
		if err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return Invalidf("task %d does not exist", taskID)
			}
			return err
		}
		id, err := q.CreateComment(ctx, tenantdb.CreateCommentParams{TaskID: taskID, AuthorID: nullID(userID), Body: body})
		if err != nil {
			return err
		}
		if err := logActivity(ctx, q, userID, "commented on", title); err != nil {
			return err
		}
		c, err = getComment(ctx, q, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, s.withCommentNames(ctx, c)
}

func (s *Store) UpdateComment(ctx context.Context, id int64, body string) (*Comment, error) {
	body, err := checkBody(body)
	if err != nil {
		return nil, err
	}
	var c *Comment
	err = s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		q := tenantdb.New(tx)
		n, err := q.UpdateComment(ctx, tenantdb.UpdateCommentParams{ID: id, Body: body})
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		c, err = getComment(ctx, q, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, s.withCommentNames(ctx, c)
}

func (s *Store) DeleteComment(ctx context.Context, id int64) error {
	n, err := s.tdb().DeleteComment(ctx, id)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

// ---- API tokens

// CreateAPIToken makes a token for the organisation in ctx and returns it; only its hash is kept.
func (s *Store) CreateAPIToken(ctx context.Context, userID int64, name string) (string, error) {
	name, err := checkName("token name", name, 100)
	if err != nil {
		return "", err
	}
	tok, hash := NewToken("tb_")
	err = s.tdb().CreateAPIToken(ctx, tenantdb.CreateAPITokenParams{Name: name, TokenHash: hash, Prefix: tok[:9], CreatedBy: nullID(userID)})
	return tok, err
}

func (s *Store) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.tdb().ListAPITokens(ctx)
	return mapRows(rows, err, func(r tenantdb.ListAPITokensRow) APIToken {
		return APIToken{ID: r.ID, Name: r.Name, Prefix: r.Prefix, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt}
	})
}

func (s *Store) DeleteAPIToken(ctx context.Context, id int64) error {
	return s.tdb().DeleteAPIToken(ctx, id)
}

// RevokeAPITokens deletes the organisation's tokens with the given name.
func (s *Store) RevokeAPITokens(ctx context.Context, name string) error {
	return s.tdb().DeleteAPITokensNamed(ctx, name)
}

// CheckAPIToken reports whether tok is a token of the organisation in ctx. A token of another
// organisation is not found: the lookup runs under this organisation's binding.
func (s *Store) CheckAPIToken(ctx context.Context, tok string) (bool, error) {
	n, err := s.tdb().UseAPIToken(ctx, HashToken(tok))
	return n == 1, err
}

// ---- activity

func logActivity(ctx context.Context, q *tenantdb.Queries, userID int64, verb, subject string) error {
	return q.LogActivity(ctx, tenantdb.LogActivityParams{UserID: nullID(userID), Verb: verb, Subject: subject})
}

func (s *Store) RecentActivity(ctx context.Context, n int) ([]Activity, error) {
	rows, err := s.tdb().RecentActivity(ctx, int32(n))
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		if r.UserID != nil {
			ids = append(ids, *r.UserID)
		}
	}
	names, err := s.userNames(ctx, ids)
	if err != nil {
		return nil, err
	}
	as := make([]Activity, len(rows))
	for i, r := range rows {
		as[i] = Activity{UserName: "API", Verb: r.Verb, Subject: r.Subject, CreatedAt: r.CreatedAt} // API tokens act as no particular user
		if r.UserID != nil {
			as[i].UserName = names.of(*r.UserID)
		}
	}
	return as, nil
}

// ---- shared users

// nameMap maps user ids to names.
type nameMap map[int64]string

// of is the user's name, or a placeholder for a user who no longer exists or is not a member
// (no foreign key clears the id when a user is deleted or leaves).
func (m nameMap) of(id int64) string {
	if n, ok := m[id]; ok {
		return n
	}
	return "former user"
}

// userNames reads the names of a set of users in one query on the shared tables (application
// pool, unbound): tenant rows keep shared users' ids, and this is how a Page or an API answer
// turns them into names, one query per Page rather than a join, which the database tier cannot
// do, or a query per row. Only members of the bound organisation get a name: an id in a tenant
// row is untrusted (a restored archive can hold any user's), and must not reveal another
// organisation's user.
func (s *Store) userNames(ctx context.Context, ids []int64) (nameMap, error) {
	m := nameMap{}
	if len(ids) == 0 {
		return m, nil
	}
	rows, err := s.sdb().MemberNames(ctx, shareddb.MemberNamesParams{TenantID: tenancy.MustFromContext(ctx).ID, UserIds: dedupe(ids)})
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		m[r.ID] = r.Name
	}
	return m, nil
}

func dedupe(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}
