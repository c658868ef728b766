-- The local catalog of a database that holds placements but not the catalog: a template database
-- (hence every tenant database) and every other server's home database. Its placements rows and
-- its migration ledger commit together with the DDL they describe, exactly as in the catalog's
-- own database. Every statement is top-level DDL.
CREATE SCHEMA tenancy;
CREATE TABLE tenancy.placements (
    id         bigint PRIMARY KEY,
    kind       text NOT NULL,
    schema     text NOT NULL,
    version    bigint NOT NULL DEFAULT 0,
    tenant_id  bigint,          -- the tenant it was made for; NULL in a template
    catalog    text NOT NULL    -- the catalog database that made it
);
CREATE TABLE tenancy.migrations (
    placement_id bigint NOT NULL REFERENCES tenancy.placements (id) ON DELETE CASCADE,
    version      bigint NOT NULL,
    name         text NOT NULL,
    checksum     text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    duration_ms  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (placement_id, version)
);
CREATE FUNCTION tenancy.current_tenant_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('tenancy.tenant_id', true), '')::bigint $$;
