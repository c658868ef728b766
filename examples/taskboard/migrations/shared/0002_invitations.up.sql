-- Members join by invitation: a one-time link a member makes and the invited person accepts
-- while logged in. Nobody is added by their address. Only a hash of the link's token is stored.
CREATE TABLE invitations (
    token_hash bytea PRIMARY KEY,
    tenant_id  bigint NOT NULL,
    role       text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member')),
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX invitations_expires ON invitations (expires_at);

-- A hand-off is bound to the browser that asked for it: the organisation's host set a state
-- cookie in that browser, and the login token keeps the state's hash. Tokens made before this
-- column existed have none and no longer work (they lived two minutes anyway).
ALTER TABLE login_tokens ADD COLUMN state_hash bytea;
CREATE INDEX login_tokens_expires ON login_tokens (expires_at);

-- Forms are protected by the standard library's cross-origin check (Sec-Fetch-Site / Origin),
-- not by per-session tokens.
ALTER TABLE sessions DROP COLUMN csrf;
