-- The agency type's line (tenancy.Config.TypeMigrations["agency"]): applied after the tenant line
-- to agency organisations only. An agency works for clients; its projects may name one. Same
-- conventions as the tenant line: tenant_id first, forced row-level security.
CREATE TABLE clients (
    tenant_id  bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id         bigint GENERATED ALWAYS AS IDENTITY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    contact    text NOT NULL DEFAULT '' CHECK (length(contact) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX clients_name ON clients (tenant_id, lower(name));
ALTER TABLE clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE clients FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON clients
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());
