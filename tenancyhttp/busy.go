package tenancyhttp

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tenancy-go/tenancy"
)

// RetryAfterBusy is the Retry-After that WriteError sends with a 429 (tenancy.ErrTenantBusy):
// a tenant's cap frees up as soon as one of its calls ends.
const RetryAfterBusy = time.Second

// WriteError answers a request whose tenant-bound call failed with one of tenancy's refusals:
// tenancy.ErrTenantBusy (the tenant's Limits.MaxConcurrent; 429 Too Many Requests), or
// tenancy.ErrTenantMoving (503), each with Retry-After, or the other statuses of StatusCode. It
// writes the status and its standard text, nothing of err. Handlers call it with the error of
// Client.Tx, Exec, Query and the like:
//
//	if err := client.Tx(r.Context(), fn); err != nil {
//		tenancyhttp.WriteError(w, r, err)
//		return
//	}
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	code := StatusCode(err)
	switch code {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(int(RetryAfterBusy/time.Second)))
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(int(RetryAfterDefault/time.Second)))
	}
	DefaultErrorHandler(w, r, err)
}

// busyStatus maps tenancy.ErrTenantBusy to 429 (StatusCode).
func busyStatus(err error) (int, bool) {
	if errors.Is(err, tenancy.ErrTenantBusy) {
		return http.StatusTooManyRequests, true
	}
	return 0, false
}
