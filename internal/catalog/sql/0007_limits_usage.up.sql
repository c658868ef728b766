-- Noisy neighbours (docs/noisy-neighbours.md): a tenant's limits, and the usage that clients
-- count in memory and add here now and then.

-- NULL: the tenant has none of its own (Config.DefaultLimits apply). Durations in milliseconds.
-- An UPDATE of it fires tenants_notify like any other change, so caches drop the tenant.
ALTER TABLE tenancy.tenants ADD COLUMN limits jsonb
    CHECK (limits IS NULL OR jsonb_typeof(limits) = 'object');

-- Counters since the tenant was created, summed over every client process. No foreign key: a
-- flush racing a hard delete must not fail; readers join tenants.
CREATE TABLE tenancy.usage (
    tenant_id    bigint PRIMARY KEY,
    transactions bigint NOT NULL DEFAULT 0,
    statement_ms double precision NOT NULL DEFAULT 0,
    errors       bigint NOT NULL DEFAULT 0,
    timeouts     bigint NOT NULL DEFAULT 0,
    busy         bigint NOT NULL DEFAULT 0,
    archive_rows bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
