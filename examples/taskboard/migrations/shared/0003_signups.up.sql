-- A sign-up makes nothing until the address's owner follows the link mailed to it, so that its
-- answer cannot tell who has an account. The request waits here, under a hash of the link's
-- token, until it is spent or expires.
CREATE TABLE signups (
    token_hash    bytea PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL,
    password_hash text NOT NULL,
    org_name      text NOT NULL,
    slug          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX signups_expires ON signups (expires_at);
