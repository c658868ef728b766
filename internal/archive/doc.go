// Package archive reads and writes tenancy's per-tenant archive: one gzip-compressed tar stream
// holding a manifest (manifest.json: format version, the tenant, its migration version, its
// tables in load order with their columns, row counts, SHA-256 checksums and sequence
// positions), then each table's rows in PostgreSQL's COPY text format (tables/NNNN.copy), then
// end.json, which seals the manifest. docs/archive.md describes the format.
//
// The writer is given a complete manifest up front, so that a reader knows what to expect before
// the first row: the backup spools the rows once while it hashes them. The reader checks
// everything it reads (entry names and order, sizes, row counts, checksums, the seal, the end of
// the stream) and reports any deviation as ErrInvalid with one line saying what is wrong, so a
// truncated, edited or foreign file is refused before a restore commits anything.
package archive
