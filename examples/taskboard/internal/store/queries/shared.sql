-- Shared queries: run on the application pool, unbound (tenancy.Client.AppPool()). The shared
-- tables hold no tenant rows, so every query about an organisation names it.

-- name: PlanMaxProjects :one
-- NULL: unlimited.
SELECT max_projects FROM plans WHERE id = @id;

-- name: MemberNames :many
-- The names of those of these users who are members of the organisation.
SELECT u.id, u.name
FROM users u JOIN memberships m ON m.user_id = u.id AND m.tenant_id = @tenant_id
WHERE u.id = ANY(@user_ids::bigint[]);

-- ---- users and memberships

-- name: CreateUser :one
INSERT INTO users (email, name, password_hash) VALUES (@email, @name, @password_hash) RETURNING id;

-- name: UserByEmail :one
-- The address matches regardless of case, as users_email is unique.
SELECT id, email, name, password_hash FROM users WHERE lower(email) = lower(@email);

-- name: AddMember :exec
INSERT INTO memberships (user_id, tenant_id, role) VALUES (@user_id, @tenant_id, @role)
ON CONFLICT (user_id, tenant_id) DO NOTHING;

-- name: RoleIn :one
SELECT role FROM memberships WHERE user_id = @user_id AND tenant_id = @tenant_id;

-- name: MembershipsOf :many
SELECT tenant_id, role FROM memberships WHERE user_id = @user_id ORDER BY created_at;

-- name: Members :many
SELECT u.id, u.email, u.name, m.role
FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.tenant_id = @tenant_id
ORDER BY u.name, u.id;

-- ---- sessions and log-in tokens

-- name: CreateSession :exec
-- tenant_id NULL: a session of the public host.
INSERT INTO sessions (token_hash, user_id, tenant_id, expires_at)
VALUES (@token_hash, @user_id, @tenant_id, now() + make_interval(secs => @ttl_seconds::bigint));

-- name: LookupSession :one
-- The user of a live session on one host (tenant_id 0: the public host), still a member there.
SELECT u.id, u.email, u.name
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = @token_hash AND coalesce(s.tenant_id, 0) = @tenant_id::bigint AND s.expires_at > now()
    AND (s.tenant_id IS NULL OR EXISTS (
        SELECT 1 FROM memberships m WHERE m.user_id = s.user_id AND m.tenant_id = s.tenant_id));

-- name: DeleteSession :exec
-- Ends one session, and clears expired ones on the way.
DELETE FROM sessions WHERE token_hash = @token_hash OR expires_at < now();

-- name: CreateLoginToken :exec
INSERT INTO login_tokens (token_hash, user_id, tenant_id, state_hash, expires_at)
VALUES (@token_hash, @user_id, @tenant_id, @state_hash, now() + make_interval(secs => @ttl_seconds::bigint));

-- name: ConsumeLoginToken :one
DELETE FROM login_tokens
WHERE token_hash = @token_hash AND tenant_id = @tenant_id AND state_hash = @state_hash AND expires_at > now()
RETURNING user_id;

-- ---- invitations

-- name: CreateInvitation :exec
INSERT INTO invitations (token_hash, tenant_id, created_by, expires_at)
VALUES (@token_hash, @tenant_id, @created_by, now() + make_interval(secs => @ttl_seconds::bigint));

-- name: InvitationTenant :one
SELECT tenant_id FROM invitations WHERE token_hash = @token_hash AND expires_at > now();

-- name: SpendInvitation :one
DELETE FROM invitations WHERE token_hash = @token_hash AND tenant_id = @tenant_id AND expires_at > now()
RETURNING role;

-- ---- sign-ups waiting for their address to be confirmed

-- name: CreateSignup :exec
INSERT INTO signups (token_hash, email, name, password_hash, org_name, slug, expires_at)
VALUES (@token_hash, @email, @name, @password_hash, @org_name, @slug, now() + make_interval(secs => @ttl_seconds::bigint));

-- name: PendingSignup :one
SELECT email, password_hash, org_name, slug FROM signups WHERE token_hash = @token_hash AND expires_at > now();

-- name: SpendSignup :one
DELETE FROM signups WHERE token_hash = @token_hash AND expires_at > now()
RETURNING email, name, password_hash, org_name, slug;

-- ---- purges of what has expired

-- name: PurgeSessions :exec
DELETE FROM sessions WHERE expires_at < now();

-- name: PurgeLoginTokens :exec
DELETE FROM login_tokens WHERE expires_at < now();

-- name: PurgeInvitations :exec
DELETE FROM invitations WHERE expires_at < now();

-- name: PurgeSignups :exec
DELETE FROM signups WHERE expires_at < now();

-- name: MemberCounts :many
-- The number of members of each of these organisations (those with any).
SELECT tenant_id, count(*) AS members FROM memberships WHERE tenant_id = ANY(@tenant_ids::bigint[]) GROUP BY tenant_id;
