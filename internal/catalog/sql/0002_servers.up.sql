-- Servers other than the catalog's own. url connects as the owner role (DDL), app_url as the
-- application role; each names the database that holds that server's schema-tier placements and
-- from which its tenant databases are made. The application role may read only what it needs to
-- connect as itself.
ALTER TABLE tenancy.servers ADD COLUMN app_url text NOT NULL DEFAULT '';
ALTER TABLE tenancy.servers ALTER COLUMN app_url DROP DEFAULT;
