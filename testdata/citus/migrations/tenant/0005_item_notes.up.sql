CREATE TABLE item_notes (
    tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        bigserial,
    item_id   bigint NOT NULL,
    body      text NOT NULL,
    author_id bigint REFERENCES users (id),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, id) ON DELETE CASCADE
);
