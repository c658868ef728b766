CREATE POLICY tenant_isolation ON items
    USING (tenant_id = tenancy.current_tenant_id())
    WITH CHECK (tenant_id = tenancy.current_tenant_id());
