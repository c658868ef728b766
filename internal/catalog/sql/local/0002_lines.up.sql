-- Migration lines beside the main one (a tenant type's, a tenant's custom line), as in the
-- catalog's 0005: each ledger row names its line, and placements.lines holds their versions.
ALTER TABLE tenancy.placements ADD COLUMN lines jsonb NOT NULL DEFAULT '{}';
ALTER TABLE tenancy.migrations ADD COLUMN line text NOT NULL DEFAULT '';
ALTER TABLE tenancy.migrations DROP CONSTRAINT migrations_pkey;
ALTER TABLE tenancy.migrations ADD PRIMARY KEY (placement_id, line, version);
