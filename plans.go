package tenancy

import (
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Per-tenant statements. PostgreSQL re-analyses and re-plans a prepared statement whenever it
// runs under another search_path than the one it was planned under, so in the schema tier a
// connection that switches tenants re-plans pgx's cached statement nearly every time (at 20
// tenants a lookup costs three times the hand-written one). A one-shot statement of a schema-tier
// tenant therefore gets a text of its own, "/* tenant N */ sql", which pgx prepares and caches
// apart from other tenants' and which stays planned for that tenant's schema.
//
// Budgeted per connection: at most half of pgx's statement cache holds such texts, the first
// (tenant, statement) pairs a connection serves, so that with thousands of tenants they never
// push the application's own statements out of the cache (or each other: an evicted text costs
// a Parse round trip when it comes back). Past the budget the shared text is used, and re-planned.
//
// Safe by construction: the text only picks which prepared statement runs. Names are resolved
// when the statement is analysed, under the search_path of the binding in force, and PostgreSQL
// analyses it again whenever that search_path differs from the one it was planned under; RLS
// reads the bound tenant at execution.

// tenantPlansKey is the key of a connection's *tenantPlans in pgconn's CustomData.
const tenantPlansKey = "tenancy.tenantPlans"

// tenantPlans is one connection's budget of per-tenant statement texts.
type tenantPlans struct {
	max   int
	texts map[tenantStatement]string
}

type tenantStatement struct {
	tenant int64
	sql    string
}

// tenantSQL returns the text to send for sql on conn for b's tenant: a text of the tenant's own
// if b asks for one, conn caches statements and its budget allows, sql otherwise.
func tenantSQL(conn *pgx.Conn, b *binding, sql string, args []any) string {
	if !b.ownPlans {
		return sql
	}
	cfg := conn.Config()
	if cfg.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement || cfg.StatementCacheCapacity < 2 {
		return sql
	}
	if len(args) > 0 {
		// A first argument may choose the exec mode or rewrite the query (pgx's options).
		switch args[0].(type) {
		case pgx.QueryExecMode, pgx.QueryRewriter:
			return sql
		}
	}
	data := conn.PgConn().CustomData()
	p, _ := data[tenantPlansKey].(*tenantPlans)
	if p == nil {
		p = &tenantPlans{max: cfg.StatementCacheCapacity / 2, texts: map[tenantStatement]string{}}
		data[tenantPlansKey] = p
	}
	k := tenantStatement{b.id, sql}
	if s, ok := p.texts[k]; ok {
		return s
	}
	if len(p.texts) >= p.max {
		return sql
	}
	s := "/* tenant " + strconv.FormatInt(b.id, 10) + " */ " + sql
	p.texts[k] = s
	return s
}
