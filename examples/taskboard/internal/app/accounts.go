package app

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/bcrypt"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store"
	"github.com/tenancy-go/tenancy/examples/taskboard/internal/store/shareddb"
)

// Shared tables (users, memberships, sessions, login tokens) are read and written on the
// application role's pool with sqlc's generated shareddb (internal/store): they belong to no
// tenant, so every query names the tenant it means.

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
	signupTTL     = time.Hour
	invitationTTL = 7 * 24 * time.Hour
	purgeEvery    = time.Hour
)

// sdb runs generated shared queries on the application pool, unbound.
func (s *Server) sdb() *shareddb.Queries { return shareddb.New(s.db.AppPool()) }

// nullID is NULL for 0, the id of no user.
func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// seconds is a time to live as the queries take it.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }

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
	return s.insertUser(ctx, email, name, string(hash))
}

// insertUser registers a user whose password is already hashed; errEmailTaken if the address
// has an account.
func (s *Server) insertUser(ctx context.Context, email, name, hash string) (*User, error) {
	u := &User{Email: email, Name: strings.TrimSpace(name)}
	var err error
	u.ID, err = s.sdb().CreateUser(ctx, shareddb.CreateUserParams{Email: u.Email, Name: u.Name, PasswordHash: hash})
	if isUnique(err) {
		return nil, errEmailTaken
	}
	return u, err
}

// userByEmail returns the account of an address, or nil if it has none.
func (s *Server) userByEmail(ctx context.Context, email string) (*User, error) {
	r, err := s.sdb().UserByEmail(ctx, email)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &User{ID: r.ID, Email: r.Email, Name: r.Name}, nil
}

// createSignup keeps a sign-up until its address is confirmed and returns the token of the
// link to mail; only its hash is stored. The password is hashed whether or not the address has
// an account, so that the time taken does not tell.
func (s *Server) createSignup(ctx context.Context, email, name, password, org, slug string) (string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return "", err
	}
	tok, tokHash := store.NewToken("su_")
	err = s.sdb().CreateSignup(ctx, shareddb.CreateSignupParams{TokenHash: tokHash, Email: email, Name: strings.TrimSpace(name),
		PasswordHash: string(hash), OrgName: org, Slug: slug, TTLSeconds: seconds(signupTTL)})
	return tok, err
}

// pendingSignup is the live sign-up of a link; store.ErrNotFound if none.
func (s *Server) pendingSignup(ctx context.Context, tok string) (*shareddb.PendingSignupRow, error) {
	p, err := s.sdb().PendingSignup(ctx, store.HashToken(tok))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return &p, err
}

// checkSignupPassword checks the password given to follow a sign-up link: the account's, if the
// address has one (u), else the one chosen at sign-up. errBadCredentials if wrong.
func (s *Server) checkSignupPassword(ctx context.Context, p *shareddb.PendingSignupRow, u *User, password string) error {
	if u != nil {
		_, err := s.authenticate(ctx, p.Email, password)
		return err
	}
	if bcrypt.CompareHashAndPassword([]byte(p.PasswordHash), []byte(password)) != nil {
		return errBadCredentials
	}
	return nil
}

// spendSignup takes a sign-up's link, once, before it expires; store.ErrNotFound if it is gone.
func (s *Server) spendSignup(ctx context.Context, tok string) (*shareddb.SpendSignupRow, error) {
	p, err := s.sdb().SpendSignup(ctx, store.HashToken(tok))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return &p, err
}

// authenticate checks an email and password.
func (s *Server) authenticate(ctx context.Context, email, password string) (*User, error) {
	r, err := s.sdb().UserByEmail(ctx, strings.TrimSpace(email))
	if errors.Is(err, pgx.ErrNoRows) {
		// Spend the same time as a real check, so that timing does not reveal who has an account.
		_ = bcrypt.CompareHashAndPassword([]byte("$2a$10$7EqJtq98hPqEX7fNZaFWoOhi5BWX4Z3VoD1cGNXFJtUoDjwDq4XnO"), []byte(password))
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(r.PasswordHash), []byte(password)) != nil {
		return nil, errBadCredentials
	}
	return &User{ID: r.ID, Email: r.Email, Name: r.Name}, nil
}

func (s *Server) addMember(ctx context.Context, userID, tenantID int64, role string) error {
	return s.sdb().AddMember(ctx, shareddb.AddMemberParams{UserID: userID, TenantID: tenantID, Role: role})
}

// roleIn returns the user's role in the tenant, or "" if not a member.
func (s *Server) roleIn(ctx context.Context, userID, tenantID int64) (string, error) {
	role, err := s.sdb().RoleIn(ctx, shareddb.RoleInParams{UserID: userID, TenantID: tenantID})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return role, err
}

// memberships lists the organisations a user belongs to, skipping those that no longer exist.
func (s *Server) memberships(ctx context.Context, userID int64) ([]Membership, error) {
	ms, err := s.sdb().MembershipsOf(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []Membership
	for _, x := range ms {
		t, err := s.db.TenantGetByID(ctx, x.TenantID)
		if errors.Is(err, tenancy.ErrTenantNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if t.Status == tenancy.StatusDeleted || t.Status == tenancy.StatusDeleting {
			continue
		}
		out = append(out, Membership{Tenant: t, Role: x.Role})
	}
	return out, nil
}

// members lists the users of a tenant.
func (s *Server) members(ctx context.Context, tenantID int64) ([]memberRow, error) {
	rows, err := s.sdb().Members(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]memberRow, len(rows))
	for i, r := range rows {
		out[i] = memberRow{User: User{ID: r.ID, Email: r.Email, Name: r.Name}, Role: r.Role}
	}
	return out, nil
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
	tok, hash := store.NewToken("")
	err := s.sdb().CreateSession(ctx, shareddb.CreateSessionParams{TokenHash: hash, UserID: userID, TenantID: nullID(tenantID),
		TTLSeconds: seconds(sessionTTL)})
	return tok, err
}

// lookupSession returns the live session of a cookie on the given host (tenantID 0: public).
func (s *Server) lookupSession(ctx context.Context, tok string, tenantID int64) (*session, error) {
	r, err := s.sdb().LookupSession(ctx, shareddb.LookupSessionParams{TokenHash: store.HashToken(tok), TenantID: tenantID})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &session{User: &User{ID: r.ID, Email: r.Email, Name: r.Name}, TenantID: tenantID}, nil
}

func (s *Server) deleteSession(ctx context.Context, tok string) error {
	return s.sdb().DeleteSession(ctx, store.HashToken(tok))
}

// createLoginToken makes the one-time token that carries a login to an organisation's host, for
// the browser holding state in that host's hand-off cookie.
func (s *Server) createLoginToken(ctx context.Context, userID, tenantID int64, state string) (string, error) {
	tok, hash := store.NewToken("")
	err := s.sdb().CreateLoginToken(ctx, shareddb.CreateLoginTokenParams{TokenHash: hash, UserID: userID, TenantID: tenantID,
		StateHash: store.HashToken(state), TTLSeconds: seconds(loginTokenTTL)})
	return tok, err
}

// consumeLoginToken spends a login token for the given tenant: it works once, before it expires,
// only on the host of the organisation it was made for, and only in the browser it was made for
// (the one holding state), so that nobody can log another person in as themselves with it.
func (s *Server) consumeLoginToken(ctx context.Context, tok string, tenantID int64, state string) (int64, error) {
	userID, err := s.sdb().ConsumeLoginToken(ctx, shareddb.ConsumeLoginTokenParams{TokenHash: store.HashToken(tok), TenantID: tenantID,
		StateHash: store.HashToken(state)})
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
	tok, hash := store.NewToken("inv_")
	err := s.sdb().CreateInvitation(ctx, shareddb.CreateInvitationParams{TokenHash: hash, TenantID: tenantID, CreatedBy: nullID(by),
		TTLSeconds: seconds(invitationTTL)})
	return tok, err
}

// invitationTenant is the organisation a live invitation is for; store.ErrNotFound if none.
func (s *Server) invitationTenant(ctx context.Context, tok string) (*tenancy.Tenant, error) {
	id, err := s.sdb().InvitationTenant(ctx, store.HashToken(tok))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	t, err := s.db.TenantGetByID(ctx, id)
	if errors.Is(err, tenancy.ErrTenantNotFound) {
		return nil, store.ErrNotFound
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
		q := shareddb.New(tx)
		role, err := q.SpendInvitation(ctx, shareddb.SpendInvitationParams{TokenHash: store.HashToken(tok), TenantID: t.ID})
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound // spent by someone else meanwhile
		}
		if err != nil {
			return err
		}
		return q.AddMember(ctx, shareddb.AddMemberParams{UserID: userID, TenantID: t.ID, Role: role})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// purge deletes what has expired: sessions, log-in tokens never used, invitations never accepted,
// sign-ups never confirmed, and the console's sessions.
func (s *Server) purge(ctx context.Context) error {
	q := s.sdb()
	for table, purge := range map[string]func(context.Context) error{
		"sessions": q.PurgeSessions, "login_tokens": q.PurgeLoginTokens, "invitations": q.PurgeInvitations,
		"signups": q.PurgeSignups,
	} {
		if err := purge(ctx); err != nil {
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
