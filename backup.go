package tenancy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/archive"
	"github.com/tenancy-go/tenancy/internal/lockkey"
)

// Backup, restore and move (docs/archive.md). A tenant's rows are read, in any tier, by the owner role
// in one repeatable-read transaction bound to the tenant, and every statement names the tenant
// (tenantRows): forced RLS alone does not hold back a superuser or BYPASSRLS owner. Every catalog lookup goes through an index (the tenant by
// slug, the schema's tables through pg_depend), so the cost grows with the tenant, not the fleet.

// BackupOpts are the options of Backup.
type BackupOpts struct {
	// OnTable, if set, is called after each table is read.
	OnTable func(table string, rows int64)
}

// BackupResult describes an archive written by Backup.
type BackupResult struct {
	Tenant   string        `json:"tenant"`
	ID       int64         `json:"id"`
	Version  int64         `json:"version"` // the tenant migration version of the rows
	Tables   int           `json:"tables"`
	Rows     int64         `json:"rows"`
	Bytes    int64         `json:"bytes"` // archive bytes written
	Duration time.Duration `json:"duration_ns"`
}

// sessionSettings make the text form of every value exact and identical wherever it is read or
// written; they are recorded in the archive and set on both sides.
var sessionSettings = [][2]string{
	{"TimeZone", "UTC"},
	{"DateStyle", "ISO, MDY"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "3"},
	{"bytea_output", "hex"},
	{"standard_conforming_strings", "on"},
}

// bindOwnerTx sets, for tx, the session settings and the tenant the forced RLS policies see.
func bindOwnerTx(ctx context.Context, tx pgx.Tx, tenantID int64) error {
	var b strings.Builder
	b.WriteString("SELECT set_config('tenancy.tenant_id', ")
	b.WriteString(quoteLiteral(strconv.FormatInt(tenantID, 10)))
	b.WriteString(", true)")
	for _, s := range sessionSettings {
		fmt.Fprintf(&b, ", set_config(%s, %s, true)", quoteLiteral(s[0]), quoteLiteral(s[1]))
	}
	_, err := tx.Exec(ctx, b.String())
	return err
}

// Backup writes the tenant slug to w as an archive (docs/archive.md): its catalog entry and
// domains, its migration version, and every row of its tables, read in one repeatable-read
// transaction. It works in every tier; in the pool tier the archive holds only the tenant's rows.
func (c *Client) Backup(ctx context.Context, slug string, w io.Writer, opts *BackupOpts) (*BackupResult, error) {
	if _, err := c.ownerPool(); err != nil {
		return nil, err
	}
	t, err := c.TenantGet(ctx, slug)
	if err != nil {
		return nil, err
	}
	switch t.Status {
	case StatusActive, StatusSuspended, StatusDeleted:
	default:
		return nil, fmt.Errorf("%w: %s is %s", ErrTenantNotActive, slug, t.Status)
	}
	res, err := c.backupTenant(ctx, t, w, opts)
	if err != nil {
		return nil, fmt.Errorf("tenancy: backup %s: %w", slug, err)
	}
	return res, nil
}

// localPlacementID is the id of a placement in the catalog of the database it lives in: the
// central id in the catalog's database and on other servers' home databases, 1 in a tenant database.
func localPlacementID(t Tier, p Placement) int64 {
	if t == TierDatabase {
		return templatePlacementID
	}
	return p.ID
}

// placementIsLocal reports whether a placement lives in the catalog's own database.
func placementIsLocal(t Tier, p Placement) bool { return t != TierDatabase && p.Server == "" }

// ownerConnFor returns an owner connection to the database of a placement and its release.
func (c *Client) ownerConnFor(ctx context.Context, tier Tier, p Placement) (*pgx.Conn, func(), error) {
	if placementIsLocal(tier, p) {
		pc, err := c.owner.Acquire(ctx)
		if err != nil {
			return nil, nil, err
		}
		return pc.Conn(), pc.Release, nil
	}
	conn, err := c.ownerConn(ctx, p.Server, p.Database)
	if err != nil {
		return nil, nil, err
	}
	return conn, func() { conn.Close(context.WithoutCancel(ctx)) }, nil
}

// backupTenant writes t's archive. The rows are spooled to a temporary file while they are
// hashed, so that the manifest, which carries the checksums, can come first in the archive.
func (c *Client) backupTenant(ctx context.Context, t *Tenant, w io.Writer, opts *BackupOpts) (*BackupResult, error) {
	start := time.Now()
	if opts == nil {
		opts = &BackupOpts{}
	}
	catalogDB, err := c.catalogDatabase(ctx)
	if err != nil {
		return nil, err
	}
	m := &archive.Manifest{
		Format: archive.Format, FormatVersion: archive.FormatVersion, CreatedAt: time.Now().UTC().Truncate(time.Second),
		Catalog: catalogDB, Session: map[string]string{},
		Tenant: archive.Tenant{ID: t.ID, Slug: t.Slug, Name: t.Name, Status: string(t.Status), Tier: string(t.Tier),
			Settings: t.Settings, CreatedAt: t.CreatedAt, Domains: []archive.Domain{}},
	}
	for _, s := range sessionSettings {
		m.Session[s[0]] = s[1]
	}
	if t.Tier == TierPool {
		m.Tenant.Pool = strings.TrimPrefix(t.Placement.Schema, "pool_")
	}
	rows, err := c.owner.Query(ctx, `SELECT host, is_primary FROM tenancy.domains WHERE tenant_id = $1 ORDER BY is_primary DESC, host`, t.ID)
	if err != nil {
		return nil, err
	}
	var d archive.Domain
	if _, err := pgx.ForEachRow(rows, []any{&d.Host, &d.Primary}, func() error { m.Tenant.Domains = append(m.Tenant.Domains, d); return nil }); err != nil {
		return nil, err
	}

	spool, err := os.CreateTemp("", "tenancy-backup-*")
	if err != nil {
		return nil, err
	}
	defer func() { spool.Close(); os.Remove(spool.Name()) }()

	conn, release, err := c.ownerConnFor(ctx, t.Tier, t.Placement)
	if err != nil {
		return nil, err
	}
	defer func() { release() }()
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := bindOwnerTx(ctx, tx, t.ID); err != nil {
			return err
		}
		localID := localPlacementID(t.Tier, t.Placement)
		if err := tx.QueryRow(ctx, `SELECT version FROM tenancy.placements WHERE id = $1`, localID).Scan(&m.Version); err != nil {
			return fmt.Errorf("placement version: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT version, name, checksum FROM tenancy.migrations WHERE placement_id = $1 ORDER BY version`, localID)
		if err != nil {
			return err
		}
		var mig archive.Migration
		if _, err := pgx.ForEachRow(rows, []any{&mig.Version, &mig.Name, &mig.Checksum}, func() error {
			m.Migrations = append(m.Migrations, mig)
			return nil
		}); err != nil {
			return err
		}
		tables, err := listTables(ctx, tx, t.Placement.Schema)
		if err != nil {
			return err
		}
		for _, ti := range tables {
			at := archive.Table{Name: ti.name, OrderBy: ti.pk}
			for i, col := range ti.cols {
				at.Columns = append(at.Columns, archive.Column{Name: col, Type: ti.types[i]})
			}
			h := newCountingHash()
			tag, err := tx.Conn().PgConn().CopyTo(ctx, io.MultiWriter(spool, h), "COPY ("+ti.selectSQL(t.Placement.Schema, t.ID)+") TO STDOUT")
			if err != nil {
				return fmt.Errorf("read %s: %w", ti.name, err)
			}
			at.Rows, at.Bytes, at.SHA256 = tag.RowsAffected(), h.n, h.sum()
			for _, col := range ti.seqCols {
				s := archive.Sequence{Column: col}
				var last *int64
				if err := tx.QueryRow(ctx, `SELECT pg_sequence_last_value(pg_get_serial_sequence($1, $2)::regclass)`,
					pgx.Identifier{t.Placement.Schema, ti.name}.Sanitize(), col).Scan(&last); err != nil {
					return fmt.Errorf("sequence of %s.%s: %w", ti.name, col, err)
				}
				if last != nil {
					s.LastValue, s.IsCalled = *last, true
				}
				at.Sequences = append(at.Sequences, s)
			}
			m.Tables = append(m.Tables, at)
			if opts.OnTable != nil {
				opts.OnTable(ti.name, at.Rows)
			}
		}
		return nil
	})
	release()
	release = func() {}
	if err != nil {
		return nil, err
	}
	cw := &countingWriter{w: w}
	aw, err := archive.NewWriter(cw, m)
	if err != nil {
		return nil, err
	}
	var off int64
	res := &BackupResult{Tenant: t.Slug, ID: t.ID, Version: m.Version, Tables: len(m.Tables)}
	for _, tb := range m.Tables {
		if err := aw.WriteTable(io.NewSectionReader(spool, off, tb.Bytes)); err != nil {
			return nil, err
		}
		off += tb.Bytes
		res.Rows += tb.Rows
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	res.Bytes, res.Duration = cw.n, time.Since(start)
	return res, nil
}

// tableInfo is one tenant table as the catalog of its database describes it.
type tableInfo struct {
	name    string
	cols    []string // without tenant_id and generated columns, in attnum order
	types   []string
	pk      []string // primary key columns without tenant_id
	pkC     []bool   // whether each pk column is collatable (ordered by "C", so that any server agrees)
	refs    []string // tables of the same schema it references
	seqCols []string // columns backed by a sequence (identity, serial)
}

// selectSQL reads the table's rows of tenant id in the archive's order.
func (ti *tableInfo) selectSQL(schema string, id int64) string {
	return selectRowsSQL(schema, ti.name, id, ti.cols, ti.pk, ti.pkC)
}

// tenantRows names the rows of tenant id in a tenant table: "schema.table WHERE tenant_id = id",
// for FROM and DELETE FROM. Every owner-side statement that reads, copies, counts, verifies or
// deletes tenant rows goes through it, in every tier: the owner role may be a superuser or have
// BYPASSRLS, which even forced RLS does not stop, and in a pool the other tenants' rows are
// beside this one's (in a dedicated placement, a stray row of another tenant stays out too).
// The id is a literal because COPY (query) takes no parameters.
func tenantRows(schema, table string, id int64) string {
	return pgx.Identifier{schema, table}.Sanitize() + " WHERE tenant_id = " + strconv.FormatInt(id, 10)
}

func selectRowsSQL(schema, table string, id int64, cols, pk []string, collatable []bool) string {
	q := quoteIdents(cols)
	var order []string
	for i, k := range pk {
		o := pgx.Identifier{k}.Sanitize()
		if i < len(collatable) && collatable[i] {
			o += ` COLLATE "C"`
		}
		order = append(order, o)
	}
	if len(order) == 0 {
		// No primary key: order by the whole row's text, which every type has.
		order = []string{`(ROW(` + q + `))::text COLLATE "C"`}
	}
	return "SELECT " + q + " FROM " + tenantRows(schema, table, id) + " ORDER BY " + strings.Join(order, ", ")
}

func quoteIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// listTables describes the tables of schema, referenced tables first. The schema's relations
// are found through pg_depend's index on the namespace (pg_class has none on relnamespace, and
// a scan of it grows with the whole fleet).
func listTables(ctx context.Context, tx pgx.Tx, schema string) ([]*tableInfo, error) {
	rows, err := tx.Query(ctx, `
		WITH rels AS (
			SELECT c.oid, c.relname FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
			WHERE d.refclassid = 'pg_namespace'::regclass AND d.classid = 'pg_class'::regclass
			  AND d.refobjid = (SELECT oid FROM pg_namespace WHERE nspname = $1)
			  AND c.relkind IN ('r', 'p') AND NOT c.relispartition),
		cols AS (
			SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attcollation <> 0 AS collatable,
			       pg_get_serial_sequence(quote_ident($1) || '.' || quote_ident(r.relname), a.attname) IS NOT NULL AS has_seq
			FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid
			WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' AND a.attname <> 'tenant_id')
		SELECT r.relname,
		       coalesce((SELECT array_agg(attname::text ORDER BY attnum) FROM cols WHERE attrelid = r.oid), '{}'),
		       coalesce((SELECT array_agg(type ORDER BY attnum) FROM cols WHERE attrelid = r.oid), '{}'),
		       coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_index i
		                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
		                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		                 WHERE i.indrelid = r.oid AND i.indisprimary AND a.attname <> 'tenant_id'), '{}'),
		       coalesce((SELECT array_agg(a.attcollation <> 0 ORDER BY k.ord) FROM pg_index i
		                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
		                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		                 WHERE i.indrelid = r.oid AND i.indisprimary AND a.attname <> 'tenant_id'), '{}'),
		       coalesce((SELECT array_agg(DISTINCT f.relname::text) FROM pg_constraint k JOIN rels f ON f.oid = k.confrelid
		                 WHERE k.conrelid = r.oid AND k.contype = 'f' AND f.oid <> r.oid), '{}'),
		       coalesce((SELECT array_agg(attname::text ORDER BY attnum) FROM cols WHERE attrelid = r.oid AND has_seq), '{}')
		FROM rels r ORDER BY r.relname`, schema)
	if err != nil {
		return nil, err
	}
	var all []*tableInfo
	byName := map[string]*tableInfo{}
	for rows.Next() {
		ti := &tableInfo{}
		if err := rows.Scan(&ti.name, &ti.cols, &ti.types, &ti.pk, &ti.pkC, &ti.refs, &ti.seqCols); err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, ti)
		byName[ti.name] = ti
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Depth-first: a table comes after the tables it references; ties in name order.
	var out []*tableInfo
	state := map[string]int{}
	var visit func(*tableInfo)
	visit = func(ti *tableInfo) {
		if state[ti.name] != 0 {
			return
		}
		state[ti.name] = 1
		refs := append([]string(nil), ti.refs...)
		sort.Strings(refs)
		for _, r := range refs {
			if to := byName[r]; to != nil {
				visit(to)
			}
		}
		state[ti.name] = 2
		out = append(out, ti)
	}
	for _, ti := range all {
		visit(ti)
	}
	return out, nil
}

func newCountingHash() *countingHash { return &countingHash{h: sha256.New()} }

func (c *countingHash) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// countingHash hashes and counts what is written to it.
type countingHash struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// backupBeforeDelete writes slug's archive to w for a hard delete, after fencing the tenant in
// its placement (bound transactions in flight finish, new ones are kept out), and checks it by
// reading it back before anything is dropped. The returned func lets go of the fence; the
// caller calls it once the placement is dropped.
func (c *Client) backupBeforeDelete(ctx context.Context, slug string, w io.Writer) (func(), error) {
	t, err := c.TenantGet(ctx, slug)
	if err != nil {
		return nil, err
	}
	fence, err := c.ownerConn(ctx, t.Placement.Server, t.Placement.Database)
	if err != nil {
		return nil, err
	}
	// Unlock before closing: the server drops a closed session's locks only when its backend has
	// exited, a moment after Close returns, and a caller may bind the tenant at once.
	release := func() {
		_, _ = fence.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock_all()`)
		fence.Close(context.WithoutCancel(ctx))
	}
	fail := func(err error) (func(), error) {
		release()
		return nil, fmt.Errorf("tenancy: back up %s before deleting it: %w", slug, err)
	}
	if _, err := fence.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockkey.Fence, lockkey.Tenant(t.ID)); err != nil {
		return fail(err)
	}
	spool, err := os.CreateTemp("", "tenancy-delete-*")
	if err != nil {
		return fail(err)
	}
	defer func() { spool.Close(); os.Remove(spool.Name()) }()
	if _, err := c.backupTenant(ctx, t, spool, nil); err != nil {
		return fail(err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	ar, err := archive.NewReader(spool)
	if err == nil {
		err = ar.Close() // reads every table back and checks it against the manifest
	}
	if err != nil {
		return fail(err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	if _, err := io.Copy(w, spool); err != nil {
		return fail(err)
	}
	if f, ok := w.(interface{ Sync() error }); ok {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	return release, nil
}
