package tenancy

import "github.com/tenancy-go/tenancy/internal/lockkey"

// The fence keeps a tenant's rows still while they are copied elsewhere (move, backup before a
// hard delete). Every bound transaction takes a shared advisory lock on the tenant in the
// placement's database, pg_try_advisory_xact_lock_shared(lockkey.Fence, lockkey.Tenant(id)); a
// mover takes the same lock exclusively, at session level, on a connection to the source
// placement's database: that waits for the transactions in flight to end, and while it is held
// new bound transactions fail at once with ErrTenantMoving instead of writing rows the copy would
// miss. Every advisory-lock key is in internal/lockkey.

// FenceKey returns the two keys of the advisory lock that fences tenant id (for tools that move
// tenants, and tests).
func FenceKey(id int64) (class, key int32) { return lockkey.Fence, lockkey.Tenant(id) }
