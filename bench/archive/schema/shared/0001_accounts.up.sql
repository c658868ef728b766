-- Shared tables: one login for many organisations. Nothing here is tenant-owned, so every query on
-- memberships, sessions and login_tokens names the tenant explicitly.
CREATE TABLE plans (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    max_projects integer,           -- NULL: unlimited
    price_cents  integer NOT NULL DEFAULT 0
);
INSERT INTO plans (id, name, max_projects, price_cents) VALUES
    ('free', 'Free', 3, 0),
    ('team', 'Team', 50, 2900),
    ('enterprise', 'Enterprise', NULL, 49900);

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL,
    password_hash text NOT NULL,    -- bcrypt
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

-- tenant_id is tenancy's tenant id. No foreign key to the catalog: the application owns its
-- tables and the catalog is tenancy's; memberships of a hard-deleted tenant are simply ignored.
CREATE TABLE memberships (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  bigint NOT NULL,
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, tenant_id)
);
CREATE INDEX memberships_tenant ON memberships (tenant_id);

-- Browser sessions. Cookies are host-only, so a session belongs to one host: the public site
-- (tenant_id NULL) or one tenant. Only a hash of the cookie is stored.
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  bigint,
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- One-time tokens that carry a login from the public host to a tenant host (cookies do not
-- cross hosts). Short-lived and single use.
CREATE TABLE login_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
