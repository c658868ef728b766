-- The soak's tenant table: every row names its tenant twice, by id (tenant_id, checked by RLS)
-- and by slug (owner, written by the client), so a row served to the wrong tenant is seen.
CREATE TABLE items (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigint GENERATED ALWAYS AS IDENTITY,
    owner     text NOT NULL,
    seq       bigint NOT NULL,
    payload   text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
ALTER TABLE items FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON items
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());
