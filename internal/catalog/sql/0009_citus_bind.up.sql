-- The binding on a Citus coordinator (citusbind.go in the root package, docs/citus.md). Citus
-- carries a setting to the workers only as a SET LOCAL statement run inside a transaction block
-- with citus.propagate_set_commands = local (set_config is not carried). These functions build
-- those statements from their arguments, so that the client sends the same texts for every
-- tenant (one prepared statement each, not one per tenant).

-- bind_citus binds the transaction to a tenant. SET LOCAL is unconditional, so the fence is an
-- error here (the plain binding returns no row instead): while a move fences the tenant, or when
-- the catalog no longer places a pool tenant in pool_id, it raises SQLSTATE TMOVE and nothing
-- after it in the transaction runs.
CREATE FUNCTION tenancy.bind_citus(schemas text[], tenant text, fence_class int4, fence_key int4,
        pool_id bigint, stmt_timeout text, idle_timeout text) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock_shared(fence_class, fence_key)
       OR (pool_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tenancy.tenants t
            WHERE t.id = tenant::bigint AND t.placement_id = pool_id AND t.status IN ('active', 'suspended'))) THEN
        RAISE EXCEPTION 'tenancy: tenant % is being moved', tenant USING ERRCODE = 'TMOVE';
    END IF;
    PERFORM set_config('citus.propagate_set_commands', 'local', true);
    EXECUTE 'SET LOCAL tenancy.tenant_id TO ' || quote_literal(tenant);
    EXECUTE 'SET LOCAL search_path TO '
        || (SELECT string_agg(quote_ident(s), ', ' ORDER BY n) FROM unnest(schemas) WITH ORDINALITY AS u (s, n));
    -- The coordinator's timeouts end the statement and its tasks on the workers.
    IF stmt_timeout IS NOT NULL THEN
        PERFORM set_config('statement_timeout', stmt_timeout, true);
    END IF;
    IF idle_timeout IS NOT NULL THEN
        PERFORM set_config('idle_in_transaction_session_timeout', idle_timeout, true);
    END IF;
END
$$;

-- unbind_citus runs just before a bound transaction's COMMIT. Citus keeps a coordinator
-- backend's connections to the workers open for its next transactions, whoever they serve, and
-- a tenant's SQL can leave session settings on them (set_config(..., false) in a query that runs
-- on a worker). RESET ALL, carried to every worker connection of the transaction and committed
-- with it, undoes them; then the binding is set again for what runs at the COMMIT (deferred
-- triggers). The coordinator's own session is reset after the COMMIT, as on plain servers.
CREATE FUNCTION tenancy.unbind_citus() RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    tenant text := coalesce(current_setting('tenancy.tenant_id', true), '');
    path text := current_setting('search_path');
    stmt_timeout text := current_setting('statement_timeout');
    idle_timeout text := current_setting('idle_in_transaction_session_timeout');
BEGIN
    PERFORM set_config('citus.propagate_set_commands', 'local', true);
    EXECUTE 'RESET ALL';
    PERFORM set_config('citus.propagate_set_commands', 'local', true);
    EXECUTE 'SET LOCAL tenancy.tenant_id TO ' || quote_literal(tenant);
    PERFORM set_config('search_path', path, true);
    PERFORM set_config('statement_timeout', stmt_timeout, true);
    PERFORM set_config('idle_in_transaction_session_timeout', idle_timeout, true);
END
$$;
