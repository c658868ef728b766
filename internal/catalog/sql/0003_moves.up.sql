-- Moves and restores under way: enough to know, after a crash, what a half-done one was doing.
-- A move copies a tenant from from_placement to to_placement while the tenant is 'moving';
-- phase 'copying' is rolled back (the copy dropped), phase 'switched' (the catalog already points
-- at to_placement) is finished (the old placement dropped). A restore (kind 'restore') fills
-- to_placement for a tenant still 'provisioning'; left unfinished, it is removed whole.
CREATE TABLE tenancy.moves (
    tenant_id      bigint PRIMARY KEY REFERENCES tenancy.tenants (id) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('move', 'restore')),
    from_placement bigint,
    to_placement   bigint NOT NULL,
    to_tier        text NOT NULL CHECK (to_tier IN ('pool', 'schema', 'database')),
    phase          text NOT NULL CHECK (phase IN ('copying', 'switched')),
    prev_status    text NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now()
);
