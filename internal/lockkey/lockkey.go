// Package lockkey is the one table of the PostgreSQL advisory locks that tenancy, its test
// harness and its load commands take. Every key is here, named, so that two locks never share a
// key by accident and a key is written once.
//
// The values never change: processes of an older build must still exclude the processes of a
// newer one (a migrator, a move and a restore of the same tenant, two test binaries making roles).
//
// PostgreSQL keeps one-key locks (bigint) and two-key locks (int4, int4) apart, so a one-key value
// never meets a two-key pair. Advisory locks are per database: each row says in which database
// the lock is taken.
//
// One key (pg_advisory_*(bigint)):
//
//	key           value                     protects                                 taken by                                  level
//	Catalog       0x74656e616e6379          catalog install/upgrade, shared and      internal/catalog.Install (exclusive),     transaction
//	              ("tenancy")               tenant migrations of one database        Client.installHome (server.go)            transaction
//	                                                                                 internal/migrate Run (try, exclusive)     session
//	Pool(schema)  fnv64a(schema)            creating one pool placement              ensurePool (pool.go), catalog database    transaction
//	Template(db)  fnv64a("tenancy:          one database-tier template: building     ensureTemplate (database.go, exclusive),  session
//	              template:" + db)          or migrating it excludes copying it      createTenantDatabase (shared), on the
//	                                                                                 placement server's owner connection
//	TestRoles     7465737401                creating the cluster-wide test roles     tenancytest (Server.ensureOwner)          transaction
//	TestTemplate  7465737402                building tenancytest's template database tenancytest (template database)           session
//	BenchMigrate  7465737403                one migrate load run per cluster         bench/migrate                             session
//	BenchArchive  7465737404                one archive load run per cluster         bench/archive                             session
//
// Two keys (pg_advisory_*(int4, int4)), the class and Tenant(id):
//
//	class     value                 protects                                   taken by                                   level
//	Fence     0x74656e61 ("tena")   a tenant's rows while they are copied      every bound transaction (bind.go, shared,  transaction
//	                                (fence.go), in the placement's database    try); Move and Delete's backup             session
//	                                                                           (exclusive, waits)
//	TenantOp  0x746d6f76 ("tmov")   one create, move, restore or repair of a   create/takeOver/repair (tenants.go),       session
//	                                tenant at a time, in the catalog database  lockTenantOp (move.go), Restore
package lockkey

import "hash/fnv"

// One-key locks; see the package table.
const (
	// Catalog serialises the catalog's install and upgrade, and migrations, of one database.
	Catalog int64 = 0x74656e616e6379 // "tenancy"
	// TestRoles serialises tenancytest's creation of cluster-wide roles across test binaries.
	TestRoles int64 = 7465737401
	// TestTemplate serialises the building of tenancytest's template database.
	TestTemplate int64 = 7465737402
	// BenchMigrate keeps two migrate load runs off one cluster.
	BenchMigrate int64 = 7465737403
	// BenchArchive keeps two archive load runs off one cluster.
	BenchArchive int64 = 7465737404
)

// Two-key lock classes, paired with Tenant(id); see the package table.
const (
	// Fence is the class of the fence that keeps a tenant's rows still while they are copied.
	Fence int32 = 0x74656e61 // "tena"
	// TenantOp is the class of the lock one create, move, restore or repair of a tenant holds.
	TenantOp int32 = 0x746d6f76 // "tmov"
)

// Tenant is the second key of a two-key lock: the tenant id folded to 32 bits. Two tenants whose
// ids are 2^32 apart share a key, which only makes one wait while the other is busy.
func Tenant(id int64) int32 { return int32(id ^ (id >> 32)) }

// Pool is the key that serialises the creation of the pool placement in schema.
func Pool(schema string) int64 { return hash(schema) }

// Template is the key of the database-tier template database named db.
func Template(db string) int64 { return hash("tenancy:template:" + db) }

func hash(s string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int64(h.Sum64())
}
