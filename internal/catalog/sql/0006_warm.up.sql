-- Warm placements: schema-tier placements made and migrated ahead of time, waiting for a tenant
-- (Config.WarmPlacements). A create claims one by deleting its row here, in the transaction that
-- makes the tenant, so a placement is claimed once, by one tenant, or stays warm.
CREATE TABLE tenancy.warm (
    placement_id bigint PRIMARY KEY REFERENCES tenancy.placements (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now()
);
