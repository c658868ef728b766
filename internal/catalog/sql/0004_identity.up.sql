-- Who made a database or schema. A catalog has a random identity, and every placement a random
-- uid; both are written in the mark (the comment) of what tenancy creates for a tenant, so that
-- a catalog dropped and recreated under the same name, or restored from an older backup, never
-- takes over a database or schema that an earlier one made for a tenant with the same id.
CREATE TABLE tenancy.identity (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    id         text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenancy.identity DEFAULT VALUES;
-- NULL for placements made before marks carried it (their marks are the older, shorter ones).
ALTER TABLE tenancy.placements ADD COLUMN uid text;
-- Any role may read the identity (nothing else of the catalog): another catalog's owner proves
-- with it that a catalog whose leftovers it would drop lives nowhere on the server.
GRANT USAGE ON SCHEMA tenancy TO PUBLIC;
GRANT SELECT ON tenancy.identity TO PUBLIC;
