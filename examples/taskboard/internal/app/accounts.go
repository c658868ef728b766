package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/bcrypt"

	"github.com/tenancy-go/tenancy"
)

// Shared tables (users, memberships, sessions, login tokens) are read and written on the
// application role's pool: they belong to no tenant, so every query names the tenant it means.

// User is a person; one user may belong to several organisations.
type User struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// Membership is a user's place in one organisation.
type Membership struct {
	Tenant *tenancy.Tenant
	Role   string
}

var (
	errEmailTaken     = errors.New("email address taken") // never shown: it would tell who has an account
	errBadCredentials = errors.New("wrong email address or password")
)

const (
	sessionTTL    = 14 * 24 * time.Hour
	loginTokenTTL = 2 * time.Minute
	invitationTTL = 7 * 24 * time.Hour
	purgeEvery    = time.Hour
)

// interval is d as a PostgreSQL interval parameter.
func interval(d time.Duration) string { return fmt.Sprintf("%d seconds", int(d.Seconds())) }

// newToken returns a random URL-safe token and the SHA-256 that is stored instead of it.
func newToken(prefix string) (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := prefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, hashToken(tok)
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

func validateAccount(email, name, password string) error {
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return errors.New("enter a valid email address")
	}
	if strings.TrimSpace(name) == "" || len(name) > 100 {
		return errors.New("enter your name (up to 100 characters)")
	}
	if len(password) < 8 || len(password) > 72 {
		return errors.New("choose a password of 8 to 72 characters")
	}
	return nil
}

// createUser registers a user. The email is unique regardless of case.
func (s *Server) createUser(ctx context.Context, email, name, password string) (*User, error) {
	email = strings.TrimSpace(email)
	if err := validateAccount(email, name, password); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return nil, err
	}
	u := &User{Email: email, Name: strings.TrimSpace(name)}
	err = s.db.AppPool().QueryRow(ctx, `INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3) RETURNING id`,
		u.Email, u.Name, string(hash)).Scan(&u.ID)
	if isUnique(err) {
		return nil, errEmailTaken
	}
	return u, err
}

func (s *Server) deleteUser(ctx context.Context, id int64) error {
	_, err := s.db.AppPool().Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	return err
}

// authenticate checks an email and password.
func (s *Server) authenticate(ctx context.Context, email, password string) (*User, error) {
	u := &User{}
	var hash string
	err := s.db.AppPool().QueryRow(ctx, `SELECT id, email, name, password_hash FROM users WHERE lower(email) = lower($1)`,
		strings.TrimSpace(email)).Scan(&u.ID, &u.Email, &u.Name, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		// Spend the same time as a real check, so that timing does not reveal who has an account.
		_ = bcrypt.CompareHashAndPassword([]byte("$2a$10$7EqJtq98hPqEX7fNZaFWoOhi5BWX4Z3VoD1cGNXFJtUoDjwDq4XnO"), []byte(password))
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return nil, errBadCredentials
	}
	return u, nil
}

func (s *Server) addMember(ctx context.Context, userID, tenantID int64, role string) error {
	_, err := s.db.AppPool().Exec(ctx, `
		INSERT INTO memberships (user_id, tenant_id, role) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, tenant_id) DO NOTHING`, userID, tenantID, role)
	return err
}

// roleIn returns the user's role in the tenant, or "" if not a member.
func (s *Server) roleIn(ctx context.Context, userID, tenantID int64) (string, error) {
	var role string
	err := s.db.AppPool().QueryRow(ctx, `SELECT role FROM memberships WHERE user_id = $1 AND tenant_id = $2`, userID, tenantID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return role, err
}

// memberships lists the organisations a user belongs to, skipping those that no longer exist.
func (s *Server) memberships(ctx context.Context, userID int64) ([]Membership, error) {
	rows, err := s.db.AppPool().Query(ctx, `SELECT tenant_id, role FROM memberships WHERE user_id = $1 ORDER BY created_at`, userID)
	if err != nil {
		return nil, err
	}
	type m struct {
		id   int64
		role string
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (m, error) {
		var x m
		return x, r.Scan(&x.id, &x.role)
	})
	if err != nil {
		return nil, err
	}
	var out []Membership
	for _, x := range ms {
		t, err := s.db.TenantGetByID(ctx, x.id)
		if errors.Is(err, tenancy.ErrTenantNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if t.Status == tenancy.StatusDeleted || t.Status == tenancy.StatusDeleting {
			continue
		}
		out = append(out, Membership{Tenant: t, Role: x.role})
	}
	return out, nil
}

// members lists the users of a tenant.
func (s *Server) members(ctx context.Context, tenantID int64) ([]memberRow, error) {
	rows, err := s.db.AppPool().Query(ctx, `
		SELECT u.id, u.email, u.name, m.role FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.tenant_id = $1 ORDER BY u.name, u.id`, tenantID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (memberRow, error) {
		var x memberRow
		return x, r.Scan(&x.ID, &x.Email, &x.Name, &x.Role)
	})
}

type memberRow struct {
	User
	Role string
}

// session is a logged-in browser on one host.
type session struct {
	User     *User
	TenantID int64 // 0 on the public host
}

func (s *Server) createSession(ctx context.Context, userID, tenantID int64) (string, error) {
	tok, hash := newToken("")
	var tid *int64
	if tenantID != 0 {
		tid = &tenantID
	}
	_, err := s.db.AppPool().Exec(ctx, `
		INSERT INTO sessions (token_hash, user_id, tenant_id, expires_at) VALUES ($1, $2, $3, now() + $4::interval)`,
		hash, userID, tid, interval(sessionTTL))
	return tok, err
}

// lookupSession returns the live session of a cookie on the given host (tenantID 0: public).
func (s *Server) lookupSession(ctx context.Context, tok string, tenantID int64) (*session, error) {
	se := &session{User: &User{}}
	err := s.db.AppPool().QueryRow(ctx, `
		SELECT u.id, u.email, u.name FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND coalesce(s.tenant_id, 0) = $2 AND s.expires_at > now()
		  AND (s.tenant_id IS NULL OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = s.user_id AND m.tenant_id = s.tenant_id))`,
		hashToken(tok), tenantID).Scan(&se.User.ID, &se.User.Email, &se.User.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	se.TenantID = tenantID
	return se, nil
}

func (s *Server) deleteSession(ctx context.Context, tok string) error {
	_, err := s.db.AppPool().Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1 OR expires_at < now()`, hashToken(tok))
	return err
}

// createLoginToken makes the one-time token that carries a login to an organisation's host, for
// the browser holding state in that host's hand-off cookie.
func (s *Server) createLoginToken(ctx context.Context, userID, tenantID int64, state string) (string, error) {
	tok, hash := newToken("")
	_, err := s.db.AppPool().Exec(ctx, `
		INSERT INTO login_tokens (token_hash, user_id, tenant_id, state_hash, expires_at) VALUES ($1, $2, $3, $4, now() + $5::interval)`,
		hash, userID, tenantID, hashToken(state), interval(loginTokenTTL))
	return tok, err
}

// consumeLoginToken spends a login token for the given tenant: it works once, before it expires,
// only on the host of the organisation it was made for, and only in the browser it was made for
// (the one holding state), so that nobody can log another person in as themselves with it.
func (s *Server) consumeLoginToken(ctx context.Context, tok string, tenantID int64, state string) (int64, error) {
	var userID int64
	err := s.db.AppPool().QueryRow(ctx, `
		DELETE FROM login_tokens WHERE token_hash = $1 AND tenant_id = $2 AND state_hash = $3 AND expires_at > now() RETURNING user_id`,
		hashToken(tok), tenantID, hashToken(state)).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return userID, err
}

func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// createInvitation makes a one-time link to join the organisation as a member. It names nobody:
// whoever opens it while logged in may accept it, so making one reveals nothing about who has
// an account.
func (s *Server) createInvitation(ctx context.Context, tenantID, by int64) (string, error) {
	tok, hash := newToken("inv_")
	_, err := s.db.AppPool().Exec(ctx, `
		INSERT INTO invitations (token_hash, tenant_id, created_by, expires_at) VALUES ($1, $2, $3, now() + $4::interval)`,
		hash, tenantID, nullID(by), interval(invitationTTL))
	return tok, err
}

// invitationTenant is the organisation a live invitation is for; errNotFound if none.
func (s *Server) invitationTenant(ctx context.Context, tok string) (*tenancy.Tenant, error) {
	var id int64
	err := s.db.AppPool().QueryRow(ctx, `SELECT tenant_id FROM invitations WHERE token_hash = $1 AND expires_at > now()`,
		hashToken(tok)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	t, err := s.db.TenantGetByID(ctx, id)
	if errors.Is(err, tenancy.ErrTenantNotFound) {
		return nil, errNotFound
	}
	return t, err
}

// acceptInvitation spends an invitation, once, making the user a member of its organisation.
func (s *Server) acceptInvitation(ctx context.Context, tok string, userID int64) (*tenancy.Tenant, error) {
	t, err := s.invitationTenant(ctx, tok)
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, s.db.AppPool(), func(tx pgx.Tx) error {
		var role string
		err := tx.QueryRow(ctx, `DELETE FROM invitations WHERE token_hash = $1 AND tenant_id = $2 AND expires_at > now() RETURNING role`,
			hashToken(tok), t.ID).Scan(&role)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound // spent by someone else meanwhile
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO memberships (user_id, tenant_id, role) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, tenant_id) DO NOTHING`, userID, t.ID, role)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// purge deletes what has expired: sessions, log-in tokens never used, invitations never accepted,
// and the console's sessions.
func (s *Server) purge(ctx context.Context) error {
	for _, table := range []string{"sessions", "login_tokens", "invitations"} {
		if _, err := s.db.AppPool().Exec(ctx, `DELETE FROM `+table+` WHERE expires_at < now()`); err != nil {
			return fmt.Errorf("purge %s: %w", table, err)
		}
	}
	now := time.Now()
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	for k, a := range s.adminSessions {
		if now.After(a.expires) {
			delete(s.adminSessions, k)
		}
	}
	return nil
}
