package app

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
)

// TestSimultaneousSignUpsForOneAddress: three people sign up for the same organisation address
// and follow their links at the same moment. One gets the organisation; the others keep their
// confirmed accounts, are told the address is taken and are members of nothing.
func TestSimultaneousSignUpsForOneAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	people := []string{"anna", "ben", "cat"}
	browsers := make([]*http.Client, len(people))
	links := make([]string, len(people))
	for i, p := range people {
		browsers[i] = e.browser()
		e.signUp(browsers[i], url.Values{"name": {p}, "email": {p + "@example.com"}, "password": {"correct horse"},
			"org": {"Org of " + p}, "slug": {"same"}})
		links[i] = e.mailedLink(p + "@example.com")
	}
	statuses := make([]int, len(people))
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range people {
		u, _ := url.Parse(links[i])
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			res, err := browsers[i].PostForm(e.url("", "/signup/confirm"), url.Values{"token": {u.Query().Get("token")}, "password": {"correct horse"}})
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
		}()
	}
	start.Done()
	done.Wait()
	won := 0
	for i, st := range statuses {
		switch st {
		case http.StatusSeeOther:
			won++
		case http.StatusConflict:
		default:
			t.Errorf("%s: %d, want 303 or 409", people[i], st)
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
	if members != 1 || users != 3 {
		t.Fatalf("the organisation has %d members and there are %d users, want 1 and 3", members, users)
	}
}
