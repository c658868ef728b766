package app

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// BenchmarkSessionLookup weighs the session design (docs in the taskboard README): "joined" is
// taskboard's lookup, one query that checks the token, the host and the membership; "store+user"
// is the shape a session manager with a key-value store (scs with its pgx store) imposes: the
// store's own query for the session's data, then the application's for the user and membership.
//
//	go test -run '^$' -bench BenchmarkSessionLookup -benchtime 3s ./examples/taskboard/internal/app/
func BenchmarkSessionLookup(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	acme, _ := e.org("acme")
	u, err := e.srv.createUser(ctx, "anna@example.com", "Anna", "password123")
	if err != nil {
		b.Fatal(err)
	}
	if err := e.srv.addMember(ctx, u.ID, acme.ID, "member"); err != nil {
		b.Fatal(err)
	}
	tok, err := e.srv.createSession(ctx, u.ID, acme.ID)
	if err != nil {
		b.Fatal(err)
	}
	// The store's table, as scs's pgxstore defines it, readable by the application role.
	var app string
	if err := e.db.AppPool.QueryRow(ctx, `SELECT current_user`).Scan(&app); err != nil {
		b.Fatal(err)
	}
	if _, err := e.db.OwnerPool.Exec(ctx, `CREATE TABLE scs_sessions (token text PRIMARY KEY, data bytea NOT NULL, expiry timestamptz NOT NULL);
		CREATE INDEX ON scs_sessions (expiry);
		INSERT INTO scs_sessions VALUES ('tok', '\x0102030405060708', now() + interval '1 day');
		GRANT SELECT ON scs_sessions TO `+pgx.Identifier{app}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	pool := e.srv.db.AppPool()
	b.Run("joined", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			se, err := e.srv.lookupSession(ctx, tok, acme.ID)
			if err != nil || se == nil {
				b.Fatal(se, err)
			}
		}
	})
	b.Run("store+user", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var data []byte
			if err := pool.QueryRow(ctx, `SELECT data FROM scs_sessions WHERE token = $1 AND current_timestamp < expiry`, "tok").Scan(&data); err != nil {
				b.Fatal(err)
			}
			var id int64
			var email, name string
			if err := pool.QueryRow(ctx, `SELECT u.id, u.email, u.name FROM users u JOIN memberships m ON m.user_id = u.id
				WHERE u.id = $1 AND m.tenant_id = $2`, u.ID, acme.ID).Scan(&id, &email, &name); err != nil {
				b.Fatal(err)
			}
		}
	})
}
