-- Tenant types and per-tenant customization. A tenant has a type (its own line of tenant
-- migrations beside the common one); a pool placement holds tenants of one type; a schema or
-- database placement may carry its tenant's custom line. The ledger records each line apart:
-- line '' is the placement's main line (shared, or the common tenant line), 'type:<name>' a
-- type's line, 'custom' the tenant's own.
ALTER TABLE tenancy.tenants ADD COLUMN type text NOT NULL DEFAULT 'default'
    CHECK (type ~ '^[a-z][a-z0-9_]{0,39}$');
-- The type of a pool's tenants; NULL for other kinds (their tenant's type counts).
ALTER TABLE tenancy.placements ADD COLUMN type text;
UPDATE tenancy.placements SET type = 'default' WHERE kind = 'pool';
-- The version of each other line on the placement ({"type:school": 2, "custom": 1}): with
-- version, what makes "nothing to apply" one query over the fleet.
ALTER TABLE tenancy.placements ADD COLUMN lines jsonb NOT NULL DEFAULT '{}';
ALTER TABLE tenancy.migrations ADD COLUMN line text NOT NULL DEFAULT '';
ALTER TABLE tenancy.migrations DROP CONSTRAINT migrations_pkey;
ALTER TABLE tenancy.migrations ADD PRIMARY KEY (placement_id, line, version);
