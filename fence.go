package tenancy

// The fence keeps a tenant's rows still while they are copied elsewhere (move, backup before a
// hard delete). Every bound transaction takes a shared advisory lock on the tenant in the
// placement's database, with pg_try_advisory_xact_lock_shared(fenceClass, fenceID(id)); a mover
// takes the same lock exclusively, at session level, on a connection to the source placement's
// database: that waits for the transactions in flight to end, and while it is held new bound
// transactions fail at once with ErrTenantMoving instead of writing rows the copy would miss.

// fenceClass is the first key of the fence's advisory lock ("tena").
const fenceClass int32 = 0x74656e61

// fenceID is the second key: the tenant id folded to 32 bits. Two tenants whose ids are 2^32
// apart share a fence, which only makes one wait while the other moves.
func fenceID(id int64) int32 { return int32(id ^ (id >> 32)) }

// FenceKey returns the two keys of the advisory lock that fences tenant id (for tools that move
// tenants, and tests).
func FenceKey(id int64) (class, key int32) { return fenceClass, fenceID(id) }
