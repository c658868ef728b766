// Package lockkey is the one table of the PostgreSQL advisory locks that tenancy, its test
// harness and its load commands take. Every key is here, named, so that two locks never share a
// key by accident and a key is written once.
//
// The values never change: processes of an older build must still exclude the processes of a
// newer one (two migrators, a move and a restore of one tenant, two test binaries making roles).
// TestValuesNeverChange pins them.
//
// PostgreSQL keeps one-key locks (bigint) and two-key locks (int4, int4) apart, so a one-key value
// never meets a two-key pair. Advisory locks are per database: the table says in which.
//
//	one key       value                         level                 database
//	Catalog       0x74656e616e6379 ("tenancy")  transaction, session  the catalog's; a server's home
//	Pool(s)       fnv64a(s)                     transaction           the catalog's
//	Template(d)   fnv64a("tenancy:template:"+d) session               the placement server's home
//	TestRoles     7465737401                    transaction           tenancytest's cluster
//	TestTemplate  7465737402                    session               tenancytest's cluster
//
//	two keys                   values                                level        database
//	Fence, Tenant(id)          0x74656e61 ("tena"), id folded to 32  transaction  the placement's
//	                                                                 and session
//	TenantOp, Tenant(id)       0x746d6f76 ("tmov"), id folded to 32  session      the catalog's
//
// What each lock protects and who takes it is said at its name below.
package lockkey

import "hash/fnv"

// One-key locks.
const (
	// Catalog serialises the install and upgrade of a catalog and the migrations of one database:
	// internal/catalog.Install and placement.Env.InstallHome (internal/placement, remote.go) take it for their transaction,
	// internal/migrate's Run tries it at session level for the whole run (ErrMigrationLocked).
	Catalog int64 = 0x74656e616e6379 // "tenancy"
	// TestRoles serialises tenancytest's creation of cluster-wide roles across test binaries
	// (transaction level).
	TestRoles int64 = 7465737401
	// TestTemplate serialises the building of tenancytest's template databases (session level:
	// CREATE DATABASE cannot run in a transaction).
	TestTemplate int64 = 7465737402
)

// Two-key lock classes, paired with Tenant(id).
const (
	// Fence keeps a tenant's rows still while they are copied (fence.go). Every bound transaction
	// tries it shared at transaction level (bind.go; held: ErrTenantMoving); Move and a hard
	// delete's backup take it exclusively at session level, waiting for transactions in flight.
	Fence int32 = 0x74656e61 // "tena"
	// TenantOp admits one create, move, restore or repair of a tenant at a time, at session level
	// on a catalog connection, so a process that dies lets go of it: TenantCreate and Repair
	// (tenants.go), Move and Repair (move.go, repair.go, lockTenantOp in lifecycle.go), Restore (archive.go).
	TenantOp int32 = 0x746d6f76 // "tmov"
)

// Tenant is the second key of a two-key lock: the tenant id folded to 32 bits. Two tenants whose
// ids are 2^32 apart share a key, which only makes one wait while the other is busy.
func Tenant(id int64) int32 { return int32(id ^ (id >> 32)) }

// Pool serialises the creation of the pool placement in schema (EnsurePool, internal/placement/pool.go), at
// transaction level on the catalog's database.
func Pool(schema string) int64 { return hash(schema) }

// Template is the key of the database-tier template database db on a placement server, at
// session level: building or migrating it takes the lock exclusively (ensureTemplate), copying
// it into a tenant database takes it shared (createTenantDatabase), since a template cannot be
// copied while anyone is connected to it (internal/placement/database.go).
func Template(db string) int64 { return hash("tenancy:template:" + db) }

func hash(s string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int64(h.Sum64())
}
