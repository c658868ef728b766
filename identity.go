package tenancy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
)

// Every schema and database tenancy makes for a tenant, and every template database, carries a
// mark (its comment) naming the catalog that made it: the catalog's random identity (table
// tenancy.identity), and for a tenant's placement the tenant id and the placement's random uid.
// Tenant ids start again from 1 in a catalog that was dropped and recreated, or restored from an
// older backup, while the databases and schemas the earlier one made live on: a placement is
// taken to be a tenant's only if its mark names this catalog, that tenant and that placement.
//
//	tenancy:tenant:4 catalog=<identity> placement=<uid> db=<catalog database> own=1
//	tenancy:template:7 catalog=<identity> db=<catalog database> own=1
//
// own=1 says the catalog lived on the same server as the marked database; with db, it tells
// that a marked database whose catalog identity differs was made by an earlier catalog in this
// very database (dropped and recreated), which is gone: only such leftovers and this catalog's
// own may ever be dropped as orphans (DropOrphans).

// catalogIdentity caches the catalog's identity once read.
type catalogIdentity struct {
	mu sync.Mutex
	id string
}

// catalogID returns the catalog's identity.
func (c *Client) catalogID(ctx context.Context) (string, error) {
	c.identity.mu.Lock()
	defer c.identity.mu.Unlock()
	if c.identity.id != "" {
		return c.identity.id, nil
	}
	admin, err := c.adminPool()
	if err != nil {
		return "", err
	}
	if err := admin.QueryRow(ctx, `SELECT id FROM tenancy.identity`).Scan(&c.identity.id); err != nil {
		return "", notFoundOr(err, ErrTenantNotFound, "")
	}
	return c.identity.id, nil
}

// newPlacementUID returns a random placement uid.
func newPlacementUID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// mark is a parsed mark.
type mark struct {
	kind    string // "tenant", "template" or "pool"
	n       int64  // the tenant id, or the template's version
	catalog string // the maker's identity; "" in older marks
	uid     string // the placement's uid (tenant marks)
	db      string // the maker's catalog database
	own     bool   // the maker lived on the marked database's server
}

func (m mark) String() string {
	s := "tenancy:" + m.kind + ":" + strconv.FormatInt(m.n, 10)
	if m.catalog == "" {
		return s
	}
	s += " catalog=" + m.catalog
	if m.uid != "" {
		s += " placement=" + m.uid
	}
	s += " db=" + m.db
	if m.own {
		s += " own=1"
	}
	return s
}

// parseMark reads a mark; ok is false for any other comment.
func parseMark(s string) (m mark, ok bool) {
	rest, found := strings.CutPrefix(s, "tenancy:")
	if !found {
		return m, false
	}
	head, fields, _ := strings.Cut(rest, " ")
	kind, num, found := strings.Cut(head, ":")
	if !found || (kind != "tenant" && kind != "template") {
		return m, false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return m, false
	}
	m.kind, m.n = kind, n
	for _, f := range strings.Fields(fields) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "catalog":
			m.catalog = v
		case "placement":
			m.uid = v
		case "db":
			m.db = v
		case "own":
			m.own = v == "1"
		}
	}
	return m, true
}

// tenantMark is the mark of tenant id's placement p (the older, shorter one for a placement
// made before marks carried identities).
func (c *Client) tenantMark(ctx context.Context, id int64, p Placement) (string, error) {
	if p.uid == "" {
		return ownerMark(id), nil
	}
	cid, err := c.catalogID(ctx)
	if err != nil {
		return "", err
	}
	db, err := c.catalogDatabase(ctx)
	if err != nil {
		return "", err
	}
	return mark{kind: "tenant", n: id, catalog: cid, uid: p.uid, db: db, own: p.Server == ""}.String(), nil
}

// templateMark is the mark of server's template database at version.
func (c *Client) templateMark(ctx context.Context, server string, version int64) (string, error) {
	cid, err := c.catalogID(ctx)
	if err != nil {
		return "", err
	}
	db, err := c.catalogDatabase(ctx)
	if err != nil {
		return "", err
	}
	return mark{kind: "template", n: version, catalog: cid, db: db, own: server == ""}.String(), nil
}
