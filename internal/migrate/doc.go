// Package migrate reads SQL migrations from an fs.FS and applies them to placements, recording
// each in the catalog's ledger (tenancy.migrations, and the summary tenancy.placements.version)
// in the same transaction as its DDL.
//
// Two file formats are read: NNNN_name.up.sql with an optional NNNN_name.down.sql, and goose's
// NNNN_name.sql annotated with "-- +goose Up", "-- +goose Down", "-- +goose StatementBegin/End"
// and "-- +goose NO TRANSACTION". SQL is always sent as top-level statements through the simple
// protocol, never wrapped in PL/pgSQL (Citus distributes only top-level CREATE TABLE).
//
// Run migrates a fleet of placements: one advisory lock for the whole run, bounded concurrency,
// one transaction per placement, placements read from the catalog a page at a time so that
// memory does not grow with the number of tenants.
package migrate
