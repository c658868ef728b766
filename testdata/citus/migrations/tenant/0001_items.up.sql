-- The archive tests' tables (testdata/archive), with a foreign key from item_notes to the
-- shared users: on Citus both are distributed by tenant_id in the pool, and users becomes a
-- reference table. One statement per file: on Citus a tenant table that references a reference
-- table is a Citus table from its CREATE TABLE on, and Citus sends a DDL statement's whole
-- message to its shards, which refuse several statements (docs/citus.md).
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
