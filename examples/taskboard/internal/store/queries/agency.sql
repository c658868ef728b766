-- name: ListClients :many
-- The agency type's tables (migrations/types/agency): bound to an agency organisation.
SELECT id, name, contact, created_at FROM clients ORDER BY lower(name), id LIMIT $1;

-- name: CreateClient :one
INSERT INTO clients (name, contact) VALUES ($1, $2) RETURNING id;
