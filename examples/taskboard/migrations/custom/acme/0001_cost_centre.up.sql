-- Acme's own migration (tenancy.Config.CustomMigrations): its projects carry a cost centre,
-- which the project page shows. Only Acme's placement has the column; no other organisation's
-- tables change.
ALTER TABLE projects ADD COLUMN cost_centre text CHECK (length(cost_centre) <= 40);
