package tenancyriver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenancy-go/tenancy"
)

// MetadataKey is the key of the job metadata that holds the tenant (a tenancy.JobRef:
// {"tenant_id": 42}). It holds the id, not the slug: a job waiting in the queue follows renames,
// suspensions and moves.
const MetadataKey = "tenancy"

// MovingRetryDefault is how long a job waits when its tenant is being moved.
const MovingRetryDefault = 5 * time.Second

// Middleware is River middleware (river.Config.Middleware) that carries the tenant from the
// context a job is inserted with to the context it is worked with. A job inserted without a
// tenant in its context is left alone and worked without one.
//
// At work, the tenant is loaded again (Loader: a *tenancy.Client, or a tenancyhttp.Cache for no
// query on a hit) and refused as a binding would refuse it: a tenant being moved snoozes the job
// (MovingRetry), a tenant that is gone or being deleted cancels it, a suspended tenant's job runs.
type Middleware struct {
	river.MiddlewareDefaults

	Loader tenancy.TenantLoader
	// MovingRetry is how long a job of a tenant being moved is snoozed; MovingRetryDefault if 0.
	MovingRetry time.Duration
}

// NewMiddleware returns the middleware for tenants loaded by loader.
func NewMiddleware(loader tenancy.TenantLoader) *Middleware {
	if loader == nil {
		panic("tenancyriver: NewMiddleware needs a TenantLoader")
	}
	return &Middleware{Loader: loader}
}

var (
	_ rivertype.JobInsertMiddleware = (*Middleware)(nil)
	_ rivertype.WorkerMiddleware    = (*Middleware)(nil)
)

// InsertMany writes the tenant of ctx into each job's metadata.
func (m *Middleware) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	ref, err := tenancy.NewJobRef(ctx)
	if err != nil {
		return doInner(ctx) // no tenant: a job of the application's own
	}
	for _, p := range params {
		md, err := setRef(p.Metadata, ref)
		if err != nil {
			return nil, fmt.Errorf("tenancyriver: job %s: %w", p.Kind, err)
		}
		p.Metadata = md
	}
	return doInner(ctx)
}

// Work restores the job's tenant into the context the worker runs with.
func (m *Middleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	ref, ok, err := JobTenant(job)
	if err != nil {
		return river.JobCancel(err)
	}
	if !ok {
		return doInner(ctx)
	}
	tctx, err := ref.Restore(ctx, m.Loader)
	switch {
	case errors.Is(err, tenancy.ErrTenantMoving):
		retry := m.MovingRetry
		if retry <= 0 {
			retry = MovingRetryDefault
		}
		return river.JobSnooze(retry)
	case errors.Is(err, tenancy.ErrTenantNotFound), errors.Is(err, tenancy.ErrTenantNotActive):
		return river.JobCancel(fmt.Errorf("tenancyriver: job %d for tenant %d: %w", job.ID, ref.TenantID, err))
	case err != nil:
		return fmt.Errorf("tenancyriver: job %d for tenant %d: %w", job.ID, ref.TenantID, err)
	}
	return doInner(tctx)
}

// JobTenant reads the tenant a job was inserted for from its metadata; ok is false for a job
// inserted without a tenant.
func JobTenant(job *rivertype.JobRow) (ref tenancy.JobRef, ok bool, err error) {
	if len(job.Metadata) == 0 {
		return ref, false, nil
	}
	var md map[string]json.RawMessage
	if err := json.Unmarshal(job.Metadata, &md); err != nil {
		return ref, false, fmt.Errorf("tenancyriver: job %d: metadata: %w", job.ID, err)
	}
	raw, ok := md[MetadataKey]
	if !ok {
		return ref, false, nil
	}
	if err := json.Unmarshal(raw, &ref); err != nil || ref.TenantID <= 0 {
		return ref, false, fmt.Errorf("tenancyriver: job %d: metadata %q: not a tenant reference: %s", job.ID, MetadataKey, raw)
	}
	return ref, true, nil
}

// setRef returns the metadata md with the tenant reference set.
func setRef(md []byte, ref tenancy.JobRef) ([]byte, error) {
	m := map[string]json.RawMessage{}
	if len(md) > 0 {
		if err := json.Unmarshal(md, &m); err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
	}
	if raw, ok := m[MetadataKey]; ok {
		var old tenancy.JobRef
		if err := json.Unmarshal(raw, &old); err != nil || old.TenantID != ref.TenantID {
			return nil, fmt.Errorf("metadata %q is %s, but the context's tenant is %d", MetadataKey, raw, ref.TenantID)
		}
	}
	b, err := json.Marshal(ref)
	if err != nil {
		return nil, err
	}
	m[MetadataKey] = b
	return json.Marshal(m)
}
