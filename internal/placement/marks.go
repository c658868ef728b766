package placement

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"hash/fnv"
	"strconv"
	"strings"
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
// own may ever be dropped as orphans.

// Mark is a parsed mark.
type Mark struct {
	Kind    string // "tenant" or "template"
	N       int64  // the tenant id, or the template's version
	Catalog string // the maker's identity; "" in older marks
	UID     string // the placement's uid (tenant marks)
	DB      string // the maker's catalog database
	Own     bool   // the maker lived on the marked database's server
}

func (m Mark) String() string {
	s := "tenancy:" + m.Kind + ":" + strconv.FormatInt(m.N, 10)
	if m.Catalog == "" {
		return s
	}
	s += " catalog=" + m.Catalog
	if m.UID != "" {
		s += " placement=" + m.UID
	}
	s += " db=" + m.DB
	if m.Own {
		s += " own=1"
	}
	return s
}

// ParseMark reads a mark; ok is false for any other comment.
func ParseMark(s string) (m Mark, ok bool) {
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
	m.Kind, m.N = kind, n
	for _, f := range strings.Fields(fields) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "catalog":
			m.Catalog = v
		case "placement":
			m.UID = v
		case "db":
			m.DB = v
		case "own":
			m.Own = v == "1"
		}
	}
	return m, true
}

// OwnerMark is the comment of every schema tenancy created for a tenant before marks carried
// the catalog's identity (see TenantMark).
func OwnerMark(id int64) string { return "tenancy:tenant:" + strconv.FormatInt(id, 10) }

// PoolMark is the comment of a pool's schema.
func PoolMark(name string) string { return "tenancy:pool:" + name }

// TenantMark is the mark of tenant id's placement p (the older, shorter one for a placement
// made before marks carried identities).
func (e *Env) TenantMark(ctx context.Context, id int64, p Placement) (string, error) {
	if p.UID == "" {
		return OwnerMark(id), nil
	}
	return e.newMark(ctx, Mark{Kind: "tenant", N: id, UID: p.UID, Own: p.Server == ""})
}

// TemplateMark is the mark of server's template database at version.
func (e *Env) TemplateMark(ctx context.Context, server string, version int64) (string, error) {
	return e.newMark(ctx, Mark{Kind: "template", N: version, Own: server == ""})
}

// newMark completes m with this catalog's identity and database name.
func (e *Env) newMark(ctx context.Context, m Mark) (string, error) {
	var err error
	if m.Catalog, err = e.CatalogID(ctx); err != nil {
		return "", err
	}
	if m.DB, err = e.CatalogDB(ctx); err != nil {
		return "", err
	}
	return m.String(), nil
}

// madeHere reports whether a local placement row's catalog column names this catalog: its
// identity, or (for a placement older than marks) the catalog database's name, as it used to.
func (e *Env) madeHere(ctx context.Context, made string, p Placement) (bool, error) {
	cid, err := e.CatalogID(ctx)
	if err != nil {
		return false, err
	}
	if made == cid {
		return true, nil
	}
	catalogDB, err := e.CatalogDB(ctx)
	return p.UID == "" && made == catalogDB, err
}

// NewUID returns a random placement uid.
func NewUID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TenantDatabaseName derives a database-tier tenant's database name from the catalog's database
// name and the tenant id: never from anything a user typed, and distinct per catalog.
func TenantDatabaseName(catalogDB string, id int64) string {
	return Prefix(catalogDB) + "_t" + strconv.FormatInt(id, 10)
}

// TemplateDatabaseName names the template of the catalog with identity cid: a catalog recreated
// under the same name (a new identity) never meets an earlier one's template.
func TemplateDatabaseName(catalogDB, cid string) string {
	return Prefix(catalogDB) + "_template_" + cid[:min(8, len(cid))]
}

// Prefix is what the names of the databases a catalog makes start with.
func Prefix(catalogDB string) string {
	if len(catalogDB) > 40 {
		h := fnv.New32a()
		h.Write([]byte(catalogDB))
		return catalogDB[:30] + "_" + strconv.FormatUint(uint64(h.Sum32()), 36)
	}
	return catalogDB
}
