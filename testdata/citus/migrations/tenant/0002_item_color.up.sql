-- A later migration with a backfill, so that an archive made at version 1 is migrated forward.
ALTER TABLE items ADD COLUMN color text NOT NULL DEFAULT 'red';
UPDATE items SET color = 'blue' WHERE price > 100;
