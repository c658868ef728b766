package app

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestSimultaneousSignUpsForOneAddress: two people sign up for the same address at the same
// moment. One gets the organisation; the other is told the address is taken and becomes a
// member of nothing.
func TestSimultaneousSignUpsForOneAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	people := []string{"anna", "ben", "cat"}
	browsers := make([]*http.Client, len(people))
	forms := make([]url.Values, len(people))
	for i, p := range people {
		browsers[i] = e.browser()
		forms[i] = url.Values{"name": {p}, "email": {p + "@example.com"}, "password": {"correct horse"},
			"org": {"Org of " + p}, "slug": {"same"}}
	}
	statuses := make([]int, len(people))
	bodies := make([]string, len(people))
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range people {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			res, err := browsers[i].PostForm(e.url("", "/signup"), forms[i])
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			var sb strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := res.Body.Read(buf)
				sb.Write(buf[:n])
				if err != nil {
					break
				}
			}
			statuses[i], bodies[i] = res.StatusCode, sb.String()
		}()
	}
	start.Done()
	done.Wait()
	won := 0
	for i, st := range statuses {
		switch {
		case st == http.StatusSeeOther:
			won++
		case st == http.StatusConflict && strings.Contains(bodies[i], "is taken"):
		default:
			t.Errorf("%s: %d, want 303 or 409 \"taken\"", people[i], st)
		}
	}
	if won != 1 {
		t.Fatalf("%d sign-ups for one address succeeded, want 1 (%v)", won, statuses)
	}
	var members, users int
	if err := e.db.OwnerPool.QueryRow(t.Context(), `
		SELECT (SELECT count(*) FROM memberships m JOIN tenancy.tenants t ON t.id = m.tenant_id WHERE t.slug = 'same'),
		       (SELECT count(*) FROM users)`).Scan(&members, &users); err != nil {
		t.Fatal(err)
	}
	if members != 1 || users != 1 {
		t.Fatalf("the organisation has %d members and there are %d users, want 1 and 1 (the losers' accounts removed)", members, users)
	}
}
