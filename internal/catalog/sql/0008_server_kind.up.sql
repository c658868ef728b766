-- What kind of server a placement lives on: plain PostgreSQL, or the coordinator of a Citus
-- cluster (docs/citus.md). Detected when the server is added; the catalog's own server is
-- detected when the client needs it.
ALTER TABLE tenancy.servers ADD COLUMN kind text NOT NULL DEFAULT 'postgres' CHECK (kind IN ('postgres', 'citus'));
