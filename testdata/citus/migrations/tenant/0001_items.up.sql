-- The archive tests' tables (testdata/archive), and a foreign key from item_notes to the shared
-- users: on Citus both are distributed by tenant_id in the pool, and users is a reference table.
CREATE TABLE items (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigint GENERATED ALWAYS AS IDENTITY,
    name      text NOT NULL,
    name_len  integer GENERATED ALWAYS AS (length(name)) STORED,
    price     numeric(14, 4),
    ratio     double precision,
    data      jsonb,
    tags      text[],
    blob      bytea,
    at        timestamptz,
    day       date,
    span      interval,
    uid       uuid,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
ALTER TABLE items FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON items
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());

CREATE TABLE item_notes (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigserial,
    item_id   bigint NOT NULL,
    body      text NOT NULL,
    author_id bigint REFERENCES users (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE item_notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE item_notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON item_notes
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());
