package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
)

// Tenant data. Every function takes a context bound to the organisation (tenancy.WithTenant, done
// by the tenant middleware) and goes through the tenancy client: reads are one bound round trip
// (Client.Query), writes one bound transaction (Client.Tx). No SQL here names a tenant: the
// placement's schema and the row-level security policies do.
//
// Tenant SQL never touches a shared table (users, memberships, plans): a database-tier tenant's
// placement is a database of its own, perhaps on another server, where they do not exist. What a
// page needs from them is read on the application pool (Client.Pool), unbound: user names in one
// query per list (userNames), plan limits and memberships before the tenant's transaction.

var errNotFound = errors.New("not found")

// invalidError is bad input from a user; its text is shown to them.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func invalidf(format string, args ...any) error { return &invalidError{fmt.Sprintf(format, args...)} }

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

var taskStatuses = []string{"todo", "doing", "done"}

func validStatus(s string) bool {
	for _, x := range taskStatuses {
		if x == s {
			return true
		}
	}
	return false
}

// page is keyset pagination: items after the id After, at most Limit of them.
type page struct {
	After int64
	Limit int
}

// ---- projects

const projectCols = `p.id, p.name, p.description, p.created_at, p.updated_at,
	(SELECT count(*) FROM tasks t WHERE t.project_id = p.id),
	(SELECT count(*) FROM tasks t WHERE t.project_id = p.id AND t.status <> 'done')`

func scanProject(row pgx.Row) (*Project, error) {
	p := &Project{}
	err := row.Scan(&p.ID, &p.Name, &p.Description, &p.CreatedAt, &p.UpdatedAt, &p.TaskCount, &p.OpenCount)
	return p, notFound(err)
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return errNotFound
	}
	return err
}

func (s *Server) listProjects(ctx context.Context, pg page) ([]*Project, error) {
	return s.queryProjects(ctx, `SELECT `+projectCols+` FROM projects p WHERE p.id > $1 ORDER BY p.id LIMIT $2`, pg.After, pg.Limit)
}

// queryProjects runs a query that selects projectCols and reads its projects.
func (s *Server) queryProjects(ctx context.Context, sql string, args ...any) ([]*Project, error) {
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Project, error) { return scanProject(r) })
}

func (s *Server) getProject(ctx context.Context, id int64) (*Project, error) {
	return scanProject(s.db.QueryRow(ctx, `SELECT `+projectCols+` FROM projects p WHERE p.id = $1`, id))
}

// projectsByID reads the projects with these ids (those that exist) in one query.
func (s *Server) projectsByID(ctx context.Context, ids []int64) ([]*Project, error) {
	return s.queryProjects(ctx, `SELECT `+projectCols+` FROM projects p WHERE p.id = ANY($1) ORDER BY p.id`, ids)
}

func checkName(what, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	if !cleanText(v) {
		return "", invalidf("%s has bytes that are not text (NUL or invalid UTF-8)", what)
	}
	if v == "" {
		return "", invalidf("%s is required", what)
	}
	if len([]rune(v)) > max {
		return "", invalidf("%s is longer than %d characters", what, max)
	}
	return v, nil
}

func (s *Server) createProject(ctx context.Context, userID int64, name, description string) (*Project, error) {
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
		if err := checkPlanLimit(ctx, tx, max); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO projects (name, description, created_by) VALUES ($1, $2, $3) RETURNING id`,
			name, description, nullID(userID)).Scan(&id); err != nil {
			return err
		}
		if err := logActivity(ctx, tx, userID, "created project", name); err != nil {
			return err
		}
		p, err = scanProject(tx.QueryRow(ctx, `SELECT `+projectCols+` FROM projects p WHERE p.id = $1`, id))
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
func (s *Server) planMaxProjects(ctx context.Context) (planLimit, error) {
	l := planLimit{plan: planOf(tenancy.MustFromContext(ctx))}
	err := s.db.AppPool().QueryRow(ctx, `SELECT max_projects FROM plans WHERE id = $1`, l.plan).Scan(&l.max)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, nil
	}
	return l, err
}

// checkPlanLimit refuses a project beyond the plan's limit. It counts in the tenant's transaction,
// after taking a transaction lock of the tenant's own: concurrent creates would otherwise each
// count the same rows and all pass. (Read committed: the count, a later statement, sees the
// projects of the transactions that held the lock before.)
func checkPlanLimit(ctx context.Context, tx pgx.Tx, l planLimit) error {
	if l.max == nil {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('taskboard.projects', $1))`,
		tenancy.MustFromContext(ctx).ID); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM projects`).Scan(&n); err != nil {
		return err
	}
	if n >= *l.max {
		return &limitError{fmt.Sprintf("the %s plan allows %d projects", l.plan, *l.max)}
	}
	return nil
}

type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

func (s *Server) updateProject(ctx context.Context, userID, id int64, name, description *string) (*Project, error) {
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
		tag, err := tx.Exec(ctx, `UPDATE projects SET name = coalesce($2::text, name), description = coalesce($3::text, description),
			updated_at = now() WHERE id = $1`, id, name, description)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNotFound
		}
		p, err = scanProject(tx.QueryRow(ctx, `SELECT `+projectCols+` FROM projects p WHERE p.id = $1`, id))
		if err != nil {
			return err
		}
		return logActivity(ctx, tx, userID, "updated project", p.Name)
	})
	return p, err
}

func (s *Server) deleteProject(ctx context.Context, userID, id int64) error {
	return s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var name string
		if err := tx.QueryRow(ctx, `DELETE FROM projects WHERE id = $1 RETURNING name`, id).Scan(&name); err != nil {
			return notFound(err)
		}
		return logActivity(ctx, tx, userID, "deleted project", name)
	})
}

// ---- tasks

const taskCols = `t.id, t.project_id, t.title, t.description, t.status, t.assignee_id,
	to_char(t.due_date, 'YYYY-MM-DD'), t.created_at, t.updated_at
	FROM tasks t`

// scanTask reads a task; its assignee's name is filled in by withTaskNames.
func scanTask(row pgx.Row) (*Task, error) {
	t := &Task{}
	err := row.Scan(&t.ID, &t.ProjectID, &t.Title, &t.Description, &t.Status, &t.AssigneeID,
		&t.DueDate, &t.CreatedAt, &t.UpdatedAt)
	return t, notFound(err)
}

// withTaskNames fills in the assignees' names, in one query on the shared tables.
func (s *Server) withTaskNames(ctx context.Context, ts ...*Task) error {
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

// listTasks lists tasks, of one project if projectID is not 0, in one status if status is set.
func (s *Server) listTasks(ctx context.Context, projectID int64, status string, pg page) ([]*Task, error) {
	return s.queryTasks(ctx, `SELECT `+taskCols+`
		WHERE ($1 = 0 OR t.project_id = $1) AND ($2 = '' OR t.status = $2) AND t.id > $3
		ORDER BY t.id LIMIT $4`, projectID, status, pg.After, pg.Limit)
}

// queryTasks runs a query that selects taskCols and reads its tasks with their people's names.
func (s *Server) queryTasks(ctx context.Context, sql string, args ...any) ([]*Task, error) {
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Task, error) { return scanTask(r) })
	if err != nil {
		return nil, err
	}
	return ts, s.withTaskNames(ctx, ts...)
}

// tasksOfProjects lists the tasks of several projects in one query: for each, what listTasks
// would (status, page). GraphQL loads a list of projects' tasks with it.
func (s *Server) tasksOfProjects(ctx context.Context, projectIDs []int64, status string, pg page) ([]*Task, error) {
	return s.queryTasks(ctx, `SELECT `+taskCols+` WHERE t.id IN (
			SELECT id FROM (
				SELECT id, row_number() OVER (PARTITION BY project_id ORDER BY id) AS n FROM tasks
				WHERE project_id = ANY($1) AND ($2 = '' OR status = $2) AND id > $3) x
			WHERE n <= $4)
		ORDER BY t.id`, projectIDs, status, pg.After, pg.Limit)
}

func (s *Server) getTask(ctx context.Context, id int64) (*Task, error) {
	t, err := scanTask(s.db.QueryRow(ctx, `SELECT `+taskCols+` WHERE t.id = $1`, id))
	if err != nil {
		return nil, err
	}
	return t, s.withTaskNames(ctx, t)
}

// taskInput is a task's editable fields; nil means "leave as is" (update) or "default" (create).
type taskInput struct {
	Title       *string
	Description *string
	Status      *string
	AssigneeID  *int64 // 0 clears the assignee
	DueDate     *string
}

func (in *taskInput) check() error {
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
	if in.Status != nil && !validStatus(*in.Status) {
		return invalidf("status must be one of %s", strings.Join(taskStatuses, ", "))
	}
	if in.DueDate != nil && *in.DueDate != "" {
		// Year 0 parses in Go but is no date in PostgreSQL.
		if d, err := time.Parse(time.DateOnly, *in.DueDate); err != nil || d.Year() < 1 {
			return invalidf("due_date must be a date, YYYY-MM-DD")
		}
	}
	return nil
}

// checkAssignee refuses an assignee who is not a member of the organisation. No foreign key can
// say so (tasks and memberships may live in different databases), so it is checked here, on the
// shared tables, before the task is written. A member removed in between keeps the task, as a
// member removed later does.
func (s *Server) checkAssignee(ctx context.Context, id *int64) error {
	if id == nil || *id == 0 {
		return nil
	}
	role, err := s.roleIn(ctx, *id, tenancy.MustFromContext(ctx).ID)
	if err != nil {
		return err
	}
	if role == "" {
		return invalidf("assignee %d is not a member of this organisation", *id)
	}
	return nil
}

func (s *Server) createTask(ctx context.Context, userID, projectID int64, in taskInput) (*Task, error) {
	if in.Title == nil {
		return nil, invalidf("title is required")
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	if err := s.checkAssignee(ctx, in.AssigneeID); err != nil {
		return nil, err
	}
	var t *Task
	err := s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var project string
		if err := tx.QueryRow(ctx, `SELECT name FROM projects WHERE id = $1`, projectID).Scan(&project); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return invalidf("project %d does not exist", projectID)
			}
			return err
		}
		var id int64
		err := tx.QueryRow(ctx, `
			INSERT INTO tasks (project_id, title, description, status, assignee_id, due_date)
			VALUES ($1, $2, coalesce($3::text, ''), coalesce($4::text, 'todo'), nullif($5::bigint, 0), nullif($6::text, '')::date) RETURNING id`,
			projectID, *in.Title, in.Description, in.Status, in.AssigneeID, in.DueDate).Scan(&id)
		if err != nil {
			return err
		}
		if err := logActivity(ctx, tx, userID, "added task", *in.Title+" to "+project); err != nil {
			return err
		}
		t, err = scanTask(tx.QueryRow(ctx, `SELECT `+taskCols+` WHERE t.id = $1`, id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, s.withTaskNames(ctx, t)
}

func (s *Server) updateTask(ctx context.Context, userID, id int64, in taskInput) (*Task, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	if err := s.checkAssignee(ctx, in.AssigneeID); err != nil {
		return nil, err
	}
	var t *Task
	err := s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE tasks SET title = coalesce($2::text, title), description = coalesce($3::text, description),
				status = coalesce($4::text, status),
				assignee_id = CASE WHEN $5::bigint IS NULL THEN assignee_id ELSE nullif($5::bigint, 0) END,
				due_date = CASE WHEN $6::text IS NULL THEN due_date ELSE nullif($6::text, '')::date END,
				updated_at = now()
			WHERE id = $1`, id, in.Title, in.Description, in.Status, in.AssigneeID, in.DueDate)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNotFound
		}
		if t, err = scanTask(tx.QueryRow(ctx, `SELECT `+taskCols+` WHERE t.id = $1`, id)); err != nil {
			return err
		}
		verb := "updated task"
		if in.Status != nil {
			verb = "moved task to " + *in.Status + ":"
		}
		return logActivity(ctx, tx, userID, verb, t.Title)
	})
	if err != nil {
		return nil, err
	}
	return t, s.withTaskNames(ctx, t)
}

func (s *Server) deleteTask(ctx context.Context, userID, id int64) error {
	return s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var title string
		if err := tx.QueryRow(ctx, `DELETE FROM tasks WHERE id = $1 RETURNING title`, id).Scan(&title); err != nil {
			return notFound(err)
		}
		return logActivity(ctx, tx, userID, "deleted task", title)
	})
}

// ---- comments

const commentCols = `c.id, c.task_id, c.author_id, c.body, c.created_at, c.updated_at FROM comments c`

// scanComment reads a comment; its author's name is filled in by withCommentNames.
func scanComment(row pgx.Row) (*Comment, error) {
	c := &Comment{}
	err := row.Scan(&c.ID, &c.TaskID, &c.AuthorID, &c.Body, &c.CreatedAt, &c.UpdatedAt)
	return c, notFound(err)
}

// withCommentNames fills in the authors' names, in one query on the shared tables.
func (s *Server) withCommentNames(ctx context.Context, cs ...*Comment) error {
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

func (s *Server) listComments(ctx context.Context, taskID int64, pg page) ([]*Comment, error) {
	return s.queryComments(ctx, `SELECT `+commentCols+` WHERE ($1 = 0 OR c.task_id = $1) AND c.id > $2 ORDER BY c.id LIMIT $3`,
		taskID, pg.After, pg.Limit)
}

// queryComments runs a query that selects commentCols and reads its comments with their
// authors' names.
func (s *Server) queryComments(ctx context.Context, sql string, args ...any) ([]*Comment, error) {
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Comment, error) { return scanComment(r) })
	if err != nil {
		return nil, err
	}
	return cs, s.withCommentNames(ctx, cs...)
}

// commentsOfTasks lists the comments of several tasks in one query: for each, what listComments
// would (page). GraphQL loads a list of tasks' comments with it.
func (s *Server) commentsOfTasks(ctx context.Context, taskIDs []int64, pg page) ([]*Comment, error) {
	return s.queryComments(ctx, `SELECT `+commentCols+` WHERE c.id IN (
			SELECT id FROM (
				SELECT id, row_number() OVER (PARTITION BY task_id ORDER BY id) AS n FROM comments
				WHERE task_id = ANY($1) AND id > $2) x
			WHERE n <= $3)
		ORDER BY c.id`, taskIDs, pg.After, pg.Limit)
}

func (s *Server) getComment(ctx context.Context, id int64) (*Comment, error) {
	c, err := scanComment(s.db.QueryRow(ctx, `SELECT `+commentCols+` WHERE c.id = $1`, id))
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
	case !cleanText(*d):
		return invalidf("description has bytes that are not text (NUL or invalid UTF-8)")
	case len(*d) > 10000:
		return invalidf("description is longer than 10000 characters")
	}
	return nil
}

func checkBody(body string) (string, error) {
	body = strings.TrimSpace(body)
	if !cleanText(body) {
		return "", invalidf("body has bytes that are not text (NUL or invalid UTF-8)")
	}
	if body == "" {
		return "", invalidf("body is required")
	}
	if len(body) > 10000 {
		return "", invalidf("body is longer than 10000 characters")
	}
	return body, nil
}

func (s *Server) createComment(ctx context.Context, userID, taskID int64, body string) (*Comment, error) {
	body, err := checkBody(body)
	if err != nil {
		return nil, err
	}
	var c *Comment
	err = s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var title string
		if err := tx.QueryRow(ctx, `SELECT title FROM tasks WHERE id = $1`, taskID).Scan(&title); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return invalidf("task %d does not exist", taskID)
			}
			return err
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO comments (task_id, author_id, body) VALUES ($1, $2, $3) RETURNING id`,
			taskID, nullID(userID), body).Scan(&id); err != nil {
			return err
		}
		if err := logActivity(ctx, tx, userID, "commented on", title); err != nil {
			return err
		}
		c, err = scanComment(tx.QueryRow(ctx, `SELECT `+commentCols+` WHERE c.id = $1`, id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, s.withCommentNames(ctx, c)
}

func (s *Server) updateComment(ctx context.Context, id int64, body string) (*Comment, error) {
	body, err := checkBody(body)
	if err != nil {
		return nil, err
	}
	var c *Comment
	err = s.db.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE comments SET body = $2, updated_at = now() WHERE id = $1`, id, body)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNotFound
		}
		c, err = scanComment(tx.QueryRow(ctx, `SELECT `+commentCols+` WHERE c.id = $1`, id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, s.withCommentNames(ctx, c)
}

func (s *Server) deleteComment(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM comments WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = errNotFound
	}
	return err
}

// ---- API tokens

// createAPIToken makes a token for the organisation in ctx and returns it; only its hash is kept.
func (s *Server) createAPIToken(ctx context.Context, userID int64, name string) (string, error) {
	name, err := checkName("token name", name, 100)
	if err != nil {
		return "", err
	}
	tok, hash := newToken("tb_")
	_, err = s.db.Exec(ctx, `INSERT INTO api_tokens (name, token_hash, prefix, created_by) VALUES ($1, $2, $3, $4)`,
		name, hash, tok[:9], nullID(userID))
	return tok, err
}

func (s *Server) listAPITokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.db.Query(ctx, `SELECT id, name, prefix, created_at, last_used_at FROM api_tokens ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIToken, error) {
		var t APIToken
		return t, r.Scan(&t.ID, &t.Name, &t.Prefix, &t.CreatedAt, &t.LastUsedAt)
	})
}

func (s *Server) deleteAPIToken(ctx context.Context, id int64) error {
	_, err := s.db.Exec(ctx, `DELETE FROM api_tokens WHERE id = $1`, id)
	return err
}

// checkAPIToken reports whether tok is a token of the organisation in ctx. A token of another
// organisation is not found: the lookup runs under this organisation's binding.
func (s *Server) checkAPIToken(ctx context.Context, tok string) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE api_tokens SET last_used_at = now() WHERE token_hash = $1`, hashToken(tok))
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// ---- activity

func logActivity(ctx context.Context, tx pgx.Tx, userID int64, verb, subject string) error {
	_, err := tx.Exec(ctx, `INSERT INTO activity (user_id, verb, subject) VALUES ($1, $2, $3)`, nullID(userID), verb, subject)
	return err
}

func (s *Server) recentActivity(ctx context.Context, n int) ([]Activity, error) {
	rows, err := s.db.Query(ctx, `SELECT a.user_id, a.verb, a.subject, a.created_at FROM activity a ORDER BY a.id DESC LIMIT $1`, n)
	if err != nil {
		return nil, err
	}
	var userIDs []*int64
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Activity, error) {
		var a Activity
		var uid *int64
		err := r.Scan(&uid, &a.Verb, &a.Subject, &a.CreatedAt)
		userIDs = append(userIDs, uid)
		return a, err
	})
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(userIDs))
	for _, id := range userIDs {
		if id != nil {
			ids = append(ids, *id)
		}
	}
	names, err := s.userNames(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range as {
		as[i].UserName = "API" // changes made with an API token act as no particular user
		if userIDs[i] != nil {
			as[i].UserName = names.of(*userIDs[i])
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
// pool, unbound): tenant rows keep shared users' ids, and this is how a page or an API answer
// turns them into names, one query per page rather than a join, which the database tier cannot
// do, or a query per row. Only members of the bound organisation get a name: an id in a tenant
// row is untrusted (a restored archive can hold any user's), and must not reveal another
// organisation's user.
func (s *Server) userNames(ctx context.Context, ids []int64) (nameMap, error) {
	m := nameMap{}
	if len(ids) == 0 {
		return m, nil
	}
	rows, err := s.db.AppPool().Query(ctx, `
		SELECT u.id, u.name FROM users u JOIN memberships m ON m.user_id = u.id AND m.tenant_id = $2
		WHERE u.id = ANY($1)`, dedupe(ids), tenancy.MustFromContext(ctx).ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		m[id] = name
	}
	return m, rows.Err()
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
