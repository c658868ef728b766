-- Tenant queries: run bound to one organisation (tenancy.Client, or the pgx.Tx of Client.Tx).
-- None names a tenant: the placement's schema and the row-level security policies do. None
-- touches a shared table either (a database-tier tenant's placement has none): see shared.sql.

-- ---- projects

-- name: ListProjects :many
-- A page of projects with their task counts (keyset: ids after after_id).
SELECT p.id, p.name, p.description, p.created_at, p.updated_at,
    (SELECT count(*) FROM tasks t WHERE t.project_id = p.id) AS task_count,
    (SELECT count(*) FROM tasks t WHERE t.project_id = p.id AND t.status <> 'done') AS open_count
FROM projects p
WHERE p.id > @after_id
ORDER BY p.id
LIMIT @max_rows;

-- name: GetProject :one
SELECT p.id, p.name, p.description, p.created_at, p.updated_at,
    (SELECT count(*) FROM tasks t WHERE t.project_id = p.id) AS task_count,
    (SELECT count(*) FROM tasks t WHERE t.project_id = p.id AND t.status <> 'done') AS open_count
FROM projects p
WHERE p.id = @id;

-- name: ProjectsByID :many
SELECT p.id, p.name, p.description, p.created_at, p.updated_at,
    (SELECT count(*) FROM tasks t WHERE t.project_id = p.id) AS task_count,
    (SELECT count(*) FROM tasks t WHERE t.project_id = p.id AND t.status <> 'done') AS open_count
FROM projects p
WHERE p.id = ANY(@ids::bigint[])
ORDER BY p.id;

-- name: ProjectName :one
SELECT name FROM projects WHERE id = @id;

-- name: CountProjects :one
SELECT count(*) FROM projects;

-- name: LockProjects :exec
-- Serialises the plan-limit check of one organisation's project creates, until commit.
SELECT pg_advisory_xact_lock(hashtextextended('taskboard.projects', @tenant_id::bigint));

-- name: CreateProject :one
INSERT INTO projects (name, description, created_by) VALUES (@name, @description, @created_by)
RETURNING id;

-- name: UpdateProject :execrows
-- NULL name or description: left as is.
UPDATE projects
SET name = coalesce(sqlc.narg(name)::text, name),
    description = coalesce(sqlc.narg(description)::text, description),
    updated_at = now()
WHERE id = @id;

-- name: DeleteProject :one
DELETE FROM projects WHERE id = @id RETURNING name;

-- ---- tasks

-- name: ListTasks :many
-- A page of tasks, of one project unless project_id is 0, in one status unless status is ''.
SELECT t.id, t.project_id, t.title, t.description, t.status, t.assignee_id,
    t.due_date, t.created_at, t.updated_at
FROM tasks t
WHERE (@project_id::bigint = 0 OR t.project_id = @project_id)
    AND (@status::text = '' OR t.status = @status)
    AND t.id > @after_id
ORDER BY t.id
LIMIT @max_rows;

-- name: TasksOfProjects :many
-- For each of several projects, what ListTasks would list: one query for a list of projects.
SELECT t.id, t.project_id, t.title, t.description, t.status, t.assignee_id,
    t.due_date, t.created_at, t.updated_at
FROM tasks t
WHERE t.id IN (
    SELECT x.id FROM (
        SELECT tp.id, row_number() OVER (PARTITION BY tp.project_id ORDER BY tp.id) AS n
        FROM tasks tp
        WHERE tp.project_id = ANY(@project_ids::bigint[])
            AND (@status::text = '' OR tp.status = @status)
            AND tp.id > @after_id) x
    WHERE x.n <= @max_rows::int)
ORDER BY t.id;

-- name: GetTask :one
SELECT t.id, t.project_id, t.title, t.description, t.status, t.assignee_id,
    t.due_date, t.created_at, t.updated_at
FROM tasks t
WHERE t.id = @id;

-- name: TaskTitle :one
SELECT title FROM tasks WHERE id = @id;

-- name: CreateTask :one
-- NULL description or status: the default. An assignee of 0 or a due date of '': none.
INSERT INTO tasks (project_id, title, description, status, assignee_id, due_date)
VALUES (@project_id, @title, coalesce(sqlc.narg(description)::text, ''), coalesce(sqlc.narg(status)::text, 'todo'),
    nullif(sqlc.narg(assignee_id)::bigint, 0), nullif(sqlc.narg(due_date)::text, '')::date)
RETURNING id;

-- name: UpdateTask :execrows
-- NULL: left as is. An assignee of 0 or a due date of '': cleared.
UPDATE tasks
SET title = coalesce(sqlc.narg(title)::text, title),
    description = coalesce(sqlc.narg(description)::text, description),
    status = coalesce(sqlc.narg(status)::text, status),
    assignee_id = CASE WHEN sqlc.narg(assignee_id)::bigint IS NULL THEN assignee_id ELSE nullif(sqlc.narg(assignee_id)::bigint, 0) END,
    due_date = CASE WHEN sqlc.narg(due_date)::text IS NULL THEN due_date ELSE nullif(sqlc.narg(due_date)::text, '')::date END,
    updated_at = now()
WHERE id = @id;

-- name: DeleteTask :one
DELETE FROM tasks WHERE id = @id RETURNING title;

-- ---- comments

-- name: ListComments :many
-- A page of comments, of one task unless task_id is 0.
SELECT c.id, c.task_id, c.author_id, c.body, c.created_at, c.updated_at
FROM comments c
WHERE (@task_id::bigint = 0 OR c.task_id = @task_id) AND c.id > @after_id
ORDER BY c.id
LIMIT @max_rows;

-- name: CommentsOfTasks :many
-- For each of several tasks, what ListComments would list: one query for a list of tasks.
SELECT c.id, c.task_id, c.author_id, c.body, c.created_at, c.updated_at
FROM comments c
WHERE c.id IN (
    SELECT x.id FROM (
        SELECT ct.id, row_number() OVER (PARTITION BY ct.task_id ORDER BY ct.id) AS n
        FROM comments ct
        WHERE ct.task_id = ANY(@task_ids::bigint[]) AND ct.id > @after_id) x
    WHERE x.n <= @max_rows::int)
ORDER BY c.id;

-- name: GetComment :one
SELECT c.id, c.task_id, c.author_id, c.body, c.created_at, c.updated_at
FROM comments c
WHERE c.id = @id;

-- name: CreateComment :one
INSERT INTO comments (task_id, author_id, body) VALUES (@task_id, @author_id, @body) RETURNING id;

-- name: UpdateComment :execrows
UPDATE comments SET body = @body, updated_at = now() WHERE id = @id;

-- name: DeleteComment :execrows
DELETE FROM comments WHERE id = @id;

-- ---- API tokens

-- name: CreateAPIToken :exec
INSERT INTO api_tokens (name, token_hash, prefix, created_by) VALUES (@name, @token_hash, @prefix, @created_by);

-- name: ListAPITokens :many
SELECT id, name, prefix, created_at, last_used_at FROM api_tokens ORDER BY id;

-- name: DeleteAPIToken :exec
DELETE FROM api_tokens WHERE id = @id;

-- name: UseAPIToken :execrows
-- Marks the token used; no row: not a token of this organisation.
UPDATE api_tokens SET last_used_at = now() WHERE token_hash = @token_hash;

-- ---- activity

-- name: LogActivity :exec
INSERT INTO activity (user_id, verb, subject) VALUES (@user_id, @verb, @subject);

-- name: RecentActivity :many
SELECT a.user_id, a.verb, a.subject, a.created_at FROM activity a ORDER BY a.id DESC LIMIT @max_rows;

-- name: DeleteAPITokensNamed :exec
DELETE FROM api_tokens WHERE name = @name;
