package tenancytest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/tenancy-go/tenancy/internal/pglocal"
)

var (
	secondOnce sync.Once
	second     *Server
	secondErr  error
)

// SecondCluster returns a second PostgreSQL cluster, for placements on another server: a local
// cluster in LocalClusterDir()+"-2", or TEST_DATABASE_URL_2 when set (when only TEST_DATABASE_URL
// is set, the same server stands in for the second).
func SecondCluster(tb testing.TB) *Server {
	tb.Helper()
	secondOnce.Do(func() {
		ctx := context.Background()
		superURL := os.Getenv("TEST_DATABASE_URL_2")
		if superURL == "" {
			superURL = os.Getenv("TEST_DATABASE_URL")
		}
		if superURL == "" {
			c, err := pglocal.Start(ctx, LocalClusterDir()+"-2", &pglocal.Options{Fast: true})
			if err != nil {
				secondErr = err
				return
			}
			superURL = c.URL("postgres")
		}
		second, secondErr = newServer(ctx, superURL)
	})
	if secondErr != nil {
		tb.Fatalf("tenancytest: second cluster: %v", secondErr)
	}
	return second
}

// SecondServer makes an empty home database for db's catalog on the second cluster and returns
// the owner and application role URLs to pass to Client.ServerAdd. Everything the test creates
// there is dropped with the test's own database.
func (db *DB) SecondServer(tb testing.TB) (ownerURL, appURL string) {
	tb.Helper()
	s := SecondCluster(tb)
	home := db.Name + "_home"
	ctx := context.Background()
	if err := s.ensureOwner(ctx, db.owner); err != nil {
		tb.Fatalf("tenancytest: second server: %v", err)
	}
	if _, err := s.admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, home, db.OwnerRole)); err != nil {
		tb.Fatalf("tenancytest: second server database: %v", err)
	}
	db.others = append(db.others, s)
	return s.URL(db.OwnerRole, home), s.URL(AppRole, home)
}
