package tenancy

import (
	"context"
	"fmt"
)

// TenantLoader finds a tenant by id. *Client is one (a query each time); tenancyhttp.Cache is
// another (no query on a hit).
type TenantLoader interface {
	TenantGetByID(ctx context.Context, id int64) (*Tenant, error)
}

// JobRef is the part of a background job's payload that says whose job it is. Embed it in the
// payload (it marshals as "tenant_id"); it holds the id, not the tenant, so a job that waits in
// a queue picks up renames, suspensions and moves that happen meanwhile.
type JobRef struct {
	TenantID int64 `json:"tenant_id"`
}

// NewJobRef returns the reference to the tenant that ctx carries, for a job enqueued on its
// behalf, or ErrNoTenant.
func NewJobRef(ctx context.Context) (JobRef, error) {
	t, ok := FromContext(ctx)
	if !ok {
		return JobRef{}, ErrNoTenant
	}
	return JobRef{TenantID: t.ID}, nil
}

// Restore loads the job's tenant and returns ctx carrying it, for the worker to run the job with.
// It refuses what a binding would refuse: a tenant that is gone (ErrTenantNotFound), being moved
// (ErrTenantMoving: retry the job later) or otherwise not servable (ErrTenantNotActive).
// Suspended tenants are restored: their data is still theirs, and the job decides.
func (r JobRef) Restore(ctx context.Context, loader TenantLoader) (context.Context, error) {
	if r.TenantID == 0 {
		return ctx, ErrNoTenant
	}
	t, err := loader.TenantGetByID(ctx, r.TenantID)
	if err != nil {
		return ctx, err
	}
	switch t.Status {
	case StatusActive, StatusSuspended:
		return WithTenant(ctx, t), nil
	case StatusMoving:
		return ctx, tenantErr(ErrTenantMoving, t.Slug)
	default:
		return ctx, fmt.Errorf("%w: %s is %s", ErrTenantNotActive, t.Slug, t.Status)
	}
}

// RunJob restores the job's tenant into ctx and runs fn with it: the one line a worker needs.
func RunJob(ctx context.Context, loader TenantLoader, ref JobRef, fn func(ctx context.Context) error) error {
	ctx, err := ref.Restore(ctx, loader)
	if err != nil {
		return fmt.Errorf("tenancy: job for tenant %d: %w", ref.TenantID, err)
	}
	return fn(ctx)
}
