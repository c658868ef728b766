-- A tenant table following the convention: tenant_id first in the key, defaulting to the bound
-- tenant, and a forced RLS policy on it.
CREATE TABLE notes (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigint GENERATED ALWAYS AS IDENTITY,
    body      text NOT NULL,
    author_id bigint, -- a shared user; no FOREIGN KEY, so the table also works in the database tier
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());
