package app

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Sign-up confirms the address by mail before it makes anything (issue 12, item 2).

var confirmLink = regexp.MustCompile(`http://\S+/signup/confirm\?token=\S+`)

// mailedLink is the latest sign-up link mailed to the address, from the outbox.
func (e *env) mailedLink(email string) string {
	e.t.Helper()
	sent := e.outbox.Sent()
	for i := len(sent) - 1; i >= 0; i-- {
		if sent[i].To == email {
			if link := confirmLink.FindString(sent[i].Body); link != "" {
				return link
			}
		}
	}
	e.t.Fatalf("no sign-up link mailed to %s", email)
	return ""
}

// signUp signs up in c, as a browser would, and checks the answer is "check your email".
func (e *env) signUp(c *http.Client, values url.Values) {
	e.t.Helper()
	st, body := e.formBody(c, "", "/", "/signup", values)
	if st != http.StatusOK || !strings.Contains(body, "Check your email") {
		e.t.Fatalf("sign-up of %s: %d, want 200 \"Check your email\"", values.Get("email"), st)
	}
}

// confirm opens the link mailed to email in c and posts its form with the password ("": none);
// it returns the answer.
func (e *env) confirm(c *http.Client, email, password string) *http.Response {
	e.t.Helper()
	link := e.mailedLink(email)
	res, err := c.Get(link)
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `action="/signup/confirm"`) {
		e.t.Fatalf("sign-up link of %s: %d, no form", email, res.StatusCode)
	}
	u, _ := url.Parse(link)
	values := url.Values{"token": {u.Query().Get("token")}}
	if password != "" {
		values.Set("password", password)
	}
	res, err = c.PostForm(e.url("", "/signup/confirm"), values)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// signUpConfirmed signs up in c and follows the mailed link: the answer is on its way to the
// new organisation.
func (e *env) signUpConfirmed(c *http.Client, values url.Values) *http.Response {
	e.t.Helper()
	e.signUp(c, values)
	return e.confirm(c, values.Get("email"), values.Get("password"))
}

// TestSignUpLinkWorksOnceAndOnlyFromTheMail: the link makes the organisation once, with the
// password chosen at sign-up (so a link sent to someone else does not log them in as the
// sender); the answer to the sign-up carries no link and no token; a made-up or expired link
// is refused.
func TestSignUpLinkWorksOnceAndOnlyFromTheMail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.browser()
	values := url.Values{"name": {"Anna"}, "email": {"anna@example.com"}, "password": {"correct horse"}, "org": {"Alpha"}, "slug": {"alpha"}}
	st, body := e.formBody(c, "", "/", "/signup", values)
	link := e.mailedLink("anna@example.com")
	token, _ := url.Parse(link)
	if st != http.StatusOK || strings.Contains(body, token.Query().Get("token")) {
		t.Fatalf("sign-up answer: %d, or it shows the mailed token", st)
	}
	if res := e.confirm(e.browser(), "anna@example.com", "wrong password"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the link with a wrong password: %d, want 401", res.StatusCode)
	}
	e.handoffLink(c, e.confirm(c, "anna@example.com", "correct horse"))
	if _, err := e.db.Client.TenantGet(t.Context(), "alpha"); err != nil {
		t.Fatalf("confirmed sign-up: %v", err)
	}
	if _, status := e.get(c, "", strings.TrimPrefix(link, e.url("", ""))); status != http.StatusNotFound {
		t.Fatalf("the link opened again: %d, want 404", status)
	}
	res, err := c.PostForm(e.url("", "/signup/confirm"), url.Values{"token": {token.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("the link spent twice: %d, want 404", res.StatusCode)
	}
	if _, status := e.get(c, "", "/signup/confirm?token=su_made-up"); status != http.StatusNotFound {
		t.Fatalf("a made-up link: %d, want 404", status)
	}
	var left int
	if err := e.db.AppPool.QueryRow(t.Context(), `SELECT count(*) FROM signups`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d sign-ups left after confirmation (%v)", left, err)
	}
	e.signUp(c, url.Values{"name": {"Anna"}, "email": {"anna@example.com"}, "password": {"correct horse"}, "org": {"Gamma"}, "slug": {"gamma"}})
	if _, err := e.db.OwnerPool.Exec(t.Context(), `UPDATE signups SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	expired, _ := url.Parse(e.mailedLink("anna@example.com"))
	res, err = c.PostForm(e.url("", "/signup/confirm"), url.Values{"token": {expired.Query().Get("token")}, "password": {"correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("an expired link: %d, want 404", res.StatusCode)
	}
}

// TestSignUpLinkOfARegisteredAddressNeedsItsOwner: a sign-up with a registered address (by
// someone else, with another password) makes the organisation only for the address's owner,
// on their account: with its password, not with the one typed at sign-up.
func TestSignUpLinkOfARegisteredAddressNeedsItsOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ben := e.member(nil, "ben@example.com", "Ben")
	mallory := e.browser()
	e.signUp(mallory, url.Values{"name": {"Mallory"}, "email": {"ben@example.com"}, "password": {"mallorys password"},
		"org": {"Probe"}, "slug": {"probe"}})
	// The link reaches Ben's mailbox only; were it to leak, the sign-up password does not open it.
	if res := e.confirm(mallory, "ben@example.com", "mallorys password"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the registered address's link with the sign-up password: %d, want 401", res.StatusCode)
	}
	if _, err := e.db.Client.TenantGet(t.Context(), "probe"); err == nil {
		t.Fatal("the organisation was made without the address's owner")
	}
	c := e.browser()
	e.handoffLink(c, e.confirm(c, "ben@example.com", "password123"))
	if e.roleOf(ben, "probe") != "owner" {
		t.Fatal("Ben does not own the organisation made with his address")
	}
	var users int
	if err := e.db.AppPool.QueryRow(t.Context(), `SELECT count(*) FROM users`).Scan(&users); err != nil || users != 1 {
		t.Fatalf("%d users, want Ben's account only (%v)", users, err)
	}
}
