// Package ormtest tests tenancysql under the ORMs built on database/sql (GORM, sqlx, bun, ent), in a
// module of its own so that their dependencies stay out of the library's go.mod.
package ormtest
