-- Tenant tables. Each follows tenancy's convention: tenant_id first in every key, defaulting to
-- the bound tenant, and a forced row-level security policy on it, so the same migration serves
-- the pool, schema and database tiers.
--
-- Columns that hold a shared user's id (created_by, assignee_id, author_id, user_id) carry no
-- FOREIGN KEY to users: a database-tier tenant lives in a database of its own, possibly on
-- another server, where the shared tables do not exist. The application checks those ids when it
-- writes them (an assignee must be a member of the organisation) and reads the names from the
-- shared tables in a second query, never in a join.
CREATE TABLE projects (
    tenant_id   bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    created_by  bigint,              -- a shared user's id: no FOREIGN KEY (see above)
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());

-- A tenant table referencing a shared one: the assignee is a shared user (by id only).
CREATE TABLE tasks (
    tenant_id   bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    project_id  bigint NOT NULL,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'todo' CHECK (status IN ('todo', 'doing', 'done')),
    assignee_id bigint,              -- a shared user's id, checked on write: no FOREIGN KEY (see above)
    due_date    date,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX tasks_project ON tasks (tenant_id, project_id, id);
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());

CREATE TABLE comments (
    tenant_id  bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id         bigint GENERATED ALWAYS AS IDENTITY,
    task_id    bigint NOT NULL,
    author_id  bigint,               -- a shared user's id: no FOREIGN KEY (see above)
    body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX comments_task ON comments (tenant_id, task_id, id);
ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
ALTER TABLE comments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON comments
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());

CREATE TABLE labels (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigint GENERATED ALWAYS AS IDENTITY,
    name      text NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    color     text NOT NULL DEFAULT '#888888',
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);
ALTER TABLE labels ENABLE ROW LEVEL SECURITY;
ALTER TABLE labels FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON labels
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());

CREATE TABLE task_labels (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    task_id   bigint NOT NULL,
    label_id  bigint NOT NULL,
    PRIMARY KEY (tenant_id, task_id, label_id),
    FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, label_id) REFERENCES labels (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE task_labels ENABLE ROW LEVEL SECURITY;
ALTER TABLE task_labels FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON task_labels
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());

-- API tokens: only a SHA-256 of the token is kept (tokens are 256 random bits, so a fast hash
-- is enough). A token is looked up under the tenant of the request's host, so a token of another
-- tenant is simply not found.
CREATE TABLE api_tokens (
    tenant_id    bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL,
    prefix       text NOT NULL,        -- the first characters, to recognise a token in lists
    created_by   bigint,               -- a shared user's id: no FOREIGN KEY (see above)
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash)
);
ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_tokens
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());

-- An activity feed, written beside every change.
CREATE TABLE activity (
    tenant_id  bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id         bigint GENERATED ALWAYS AS IDENTITY,
    user_id    bigint,               -- a shared user's id: no FOREIGN KEY (see above)
    verb       text NOT NULL,
    subject    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE activity ENABLE ROW LEVEL SECURITY;
ALTER TABLE activity FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON activity
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());
