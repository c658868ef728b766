package placement

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/migrate"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/archive"
)

// Row operations: every statement here that reads, copies, counts, verifies or deletes tenant
// rows as the owner names the tenant (TenantRows), in every tier.

// ErrBadArchive is archive.ErrInvalid (the root re-exports it).
var ErrBadArchive = archive.ErrInvalid

// SessionSettings make the text form of every value exact and identical wherever it is read or
// written; they are recorded in the archive and set on both sides.
var SessionSettings = [][2]string{
	{"TimeZone", "UTC"},
	{"DateStyle", "ISO, MDY"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "3"},
	{"bytea_output", "hex"},
	{"standard_conforming_strings", "on"},
}

// BindOwnerTx sets, for tx, the session settings and the tenant the forced RLS policies see. On
// a Citus coordinator they must reach the workers too, where the shards' policies run: Citus
// carries only SET LOCAL there, with citus.propagate_set_commands = local, inside a transaction
// block (docs/citus.md). The statement says whether citus is installed, so that a plain server
// pays nothing more.
func BindOwnerTx(ctx context.Context, tx pgx.Tx, tenantID int64) error {
	id := QuoteLiteral(strconv.FormatInt(tenantID, 10))
	var b strings.Builder
	b.WriteString("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus'), set_config('tenancy.tenant_id', ")
	b.WriteString(id)
	b.WriteString(", true)")
	for _, s := range SessionSettings {
		fmt.Fprintf(&b, ", set_config(%s, %s, true)", QuoteLiteral(s[0]), QuoteLiteral(s[1]))
	}
	rows, err := tx.Query(ctx, b.String())
	if err != nil {
		return err
	}
	citus := false
	dest := make([]any, 2+len(SessionSettings)) // nil skips a column
	dest[0] = &citus
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return err
		}
	}
	if err := rows.Err(); err != nil || !citus {
		return err
	}
	// One message of two SET LOCALs: Citus sends the text of the whole message that a
	// propagated SET came in to the workers (so nothing else may be in it), once per SET that
	// it propagates (citus.* settings are not). The session settings stay on the coordinator,
	// which formats what the archive holds.
	_, err = tx.Exec(ctx, "SET LOCAL citus.propagate_set_commands TO local; SET LOCAL tenancy.tenant_id TO "+id, pgx.QueryExecModeSimpleProtocol)
	return err
}

// TableInfo is one tenant table as the catalog of its database describes it.
type TableInfo struct {
	name    string
	cols    []string // without tenant_id and generated columns, in attnum order
	types   []string
	pk      []string // primary key columns without tenant_id
	pkC     []bool   // whether each pk column is collatable (ordered by "C", so that any server agrees)
	refs    []string // tables of the same schema it references
	seqCols []string // columns backed by a sequence (identity, serial)
}

// selectSQL reads the table's rows of tenant id in the archive's order.
func (ti *TableInfo) selectSQL(schema string, id int64) string {
	return selectRowsSQL(schema, ti.name, id, ti.cols, ti.pk, ti.pkC)
}

// TenantRows names the rows of tenant id in a tenant table: "schema.table WHERE tenant_id = id",
// for FROM and DELETE FROM. Every owner-side statement that reads, copies, counts, verifies or
// deletes tenant rows goes through it, in every tier: the owner role may be a superuser or have
// BYPASSRLS, which even forced RLS does not stop, and in a pool the other tenants' rows are
// beside this one's (in a dedicated placement, a stray row of another tenant stays out too).
// The id is a literal because COPY (query) takes no parameters.
func TenantRows(schema, table string, id int64) string {
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
	return "SELECT " + q + " FROM " + TenantRows(schema, table, id) + " ORDER BY " + strings.Join(order, ", ")
}

func quoteIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// ListTables describes the tables of schema, referenced tables first. The schema's relations
// are found through pg_depend's index on the namespace (pg_class has none on relnamespace, and
// a scan of it grows with the whole fleet).
func ListTables(ctx context.Context, tx pgx.Tx, schema string) ([]*TableInfo, error) {
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
	var all []*TableInfo
	for rows.Next() {
		ti := &TableInfo{}
		if err := rows.Scan(&ti.name, &ti.cols, &ti.types, &ti.pk, &ti.pkC, &ti.refs, &ti.seqCols); err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, ti)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return refsFirst(all, func(ti *TableInfo) string { return ti.name }, func(ti *TableInfo) []string { return ti.refs }), nil
}

// refsFirst orders tables depth-first so that each comes after the tables it references (a
// table of another schema is not in all and is skipped); ties in name order.
func refsFirst[T any](all []T, name func(T) string, refs func(T) []string) []T {
	byName := make(map[string]T, len(all))
	for _, t := range all {
		byName[name(t)] = t
	}
	var out []T
	state := map[string]int{}
	var visit func(T)
	visit = func(t T) {
		if state[name(t)] != 0 {
			return
		}
		state[name(t)] = 1
		rs := append([]string(nil), refs(t)...)
		sort.Strings(rs)
		for _, r := range rs {
			if to, ok := byName[r]; ok {
				visit(to)
			}
		}
		state[name(t)] = 2
		out = append(out, t)
	}
	for _, t := range all {
		visit(t)
	}
	return out
}

// Load loads the archive's rows into schema for tenant id, inside tx (bound to id), and
// checks them. An archive older than the placement is loaded into a staging schema made at the
// archive's version, migrated forward there, then copied over. Into a pool (schema is shared
// with other tenants) the ids behind its sequences are bounded (checkPoolIDs).
func (e *Env) Load(ctx context.Context, tx pgx.Tx, ar *archive.Reader, id int64, schema string, version int64, local, pool bool, onTable func(string, int64)) error {
	m := ar.Manifest()
	if m.Version > version {
		return fmt.Errorf("%w: the archive is at tenant migration version %d, the target placement at %d (migrate it first)", ErrArchiveTooNew, m.Version, version)
	}
	if pool {
		if err := checkPoolKeys(ctx, tx, schema); err != nil {
			return err
		}
	}
	into := schema
	var stagingID int64
	if m.Version < version {
		into = "tenancy_restore_" + strconv.FormatInt(id, 10)
		var err error
		if stagingID, err = e.createStaging(ctx, tx, id, into, m.Version, local); err != nil {
			return err
		}
	}
	tables, err := ListTables(ctx, tx, into)
	if err != nil {
		return err
	}
	insertTail, err := insertSelectTail(ctx, tx)
	if err != nil {
		return err
	}
	byName := map[string]*TableInfo{}
	for _, ti := range tables {
		byName[ti.name] = ti
	}
	if len(tables) != len(m.Tables) {
		return fmt.Errorf("%w: it has %d tables, the placement at version %d has %d", ErrBadArchive, len(m.Tables), m.Version, len(tables))
	}
	for i := range m.Tables {
		mt := &m.Tables[i]
		ti := byName[mt.Name]
		if ti == nil {
			return fmt.Errorf("%w: table %s is not in the placement at version %d", ErrBadArchive, mt.Name, m.Version)
		}
		if err := sameShape(mt, ti); err != nil {
			return err
		}
	}
	// COPY FROM is refused on tables with RLS: rows go to a temporary table first, then into the
	// tenant table by INSERT ... SELECT, whose WITH CHECK the bound tenant passes. tenant_id is
	// not in the archive: the rows become the restored tenant's, whatever the archive says.
	// Sequences are advanced only once every table is loaded and checked: setval is not undone
	// by a rollback, and in a pool the sequences are every tenant's.
	advances := make([]map[string]int64, len(m.Tables))
	for i := range m.Tables {
		mt := &m.Tables[i]
		_, rows, err := ar.Next()
		if err != nil {
			return err
		}
		names := make([]string, len(mt.Columns))
		for j, col := range mt.Columns {
			names[j] = col.Name
		}
		cols := quoteIdents(names)
		target := pgx.Identifier{into, mt.Name}.Sanitize()
		tmp := pgx.Identifier{"tenancy_load_" + strconv.Itoa(i)}.Sanitize()
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE `+tmp+` ON COMMIT DROP AS SELECT `+cols+` FROM `+target+` WITH NO DATA`); err != nil {
			return fmt.Errorf("load %s: %w", mt.Name, err)
		}
		src := &errReader{r: rows}
		tag, err := tx.Conn().PgConn().CopyFrom(ctx, src, `COPY pg_temp.`+tmp+` (`+cols+`) FROM STDIN`)
		if src.err != nil {
			return src.err // what the archive reader found says more than COPY's failure
		}
		if err != nil {
			return fmt.Errorf("%w: the rows of %s do not load: %v", ErrBadArchive, mt.Name, err)
		}
		if tag.RowsAffected() != mt.Rows {
			return fmt.Errorf("%w: table %s has %d rows, the manifest says %d", ErrBadArchive, mt.Name, tag.RowsAffected(), mt.Rows)
		}
		archived := map[string]int64{}
		for _, sq := range mt.Sequences {
			if sq.IsCalled {
				archived[sq.Column] = sq.LastValue
			}
		}
		if pool && into == schema { // else checked as the staging schema's rows are promoted
			if err := checkPoolIDs(ctx, tx, schema, byName[mt.Name], `pg_temp.`+tmp, archived); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+target+` (tenant_id, `+cols+`) OVERRIDING SYSTEM VALUE SELECT $1, `+cols+` FROM pg_temp.`+tmp+insertTail, id); err != nil {
			return fmt.Errorf("load %s: %w", mt.Name, err)
		}
		if _, err := tx.Exec(ctx, `DROP TABLE pg_temp.`+tmp); err != nil {
			return err
		}
		advances[i] = archived
		if onTable != nil {
			onTable(mt.Name, mt.Rows)
		}
	}
	// The seal and the end of the stream are checked before anything is verified or committed.
	if err := ar.Close(); err != nil {
		return err
	}
	for i := range m.Tables {
		mt := &m.Tables[i]
		ti := byName[mt.Name]
		names := make([]string, len(mt.Columns))
		for j, col := range mt.Columns {
			names[j] = col.Name
		}
		h := NewCountingHash()
		tag, err := tx.Conn().PgConn().CopyTo(ctx, h, "COPY ("+selectRowsSQL(into, mt.Name, id, names, ti.pk, ti.pkC)+") TO STDOUT")
		if err != nil {
			return fmt.Errorf("verify %s: %w", mt.Name, err)
		}
		if tag.RowsAffected() != mt.Rows || h.Sum() != mt.SHA256 {
			return fmt.Errorf("tenancy: verify %s: %d rows loaded with checksum %s, the archive has %d with %s", mt.Name, tag.RowsAffected(), h.Sum()[:12], mt.Rows, mt.SHA256[:12])
		}
	}
	for i := range m.Tables {
		if err := advanceSequences(ctx, tx, into, byName[m.Tables[i].Name], advances[i]); err != nil {
			return err
		}
	}
	if stagingID == 0 {
		return nil
	}
	return e.promoteStaging(ctx, tx, id, into, schema, stagingID, version, local, pool)
}

// createStaging makes schema at tenant migration version, with a placement row of its own for
// the migrations' ledger (all inside tx, so a failure leaves nothing).
func (e *Env) createStaging(ctx context.Context, tx pgx.Tx, id int64, schema string, version int64, local bool) (int64, error) {
	if err := catalog.KeepLocal(ctx, tx); err != nil { // docs/citus.md
		return 0, err
	}
	s := pgx.Identifier{schema}.Sanitize()
	if _, err := tx.Exec(ctx, `CREATE SCHEMA `+s); err != nil {
		return 0, err
	}
	var pid int64
	var err error
	if local {
		pid, err = catalog.StagingInsert(ctx, tx, schema)
	} else {
		var catalogDB string
		if catalogDB, err = e.CatalogDB(ctx); err == nil {
			pid = -id
			err = catalog.LocalInsert(ctx, tx, pid, KindSchema, schema, &id, catalogDB)
		}
	}
	if err != nil {
		return 0, err
	}
	if _, err := migrate.Apply(ctx, tx, pid, s+", "+pgx.Identifier{e.Shared}.Sanitize(), e.TenantMigs, version); err != nil {
		return 0, fmt.Errorf("staging schema at version %d: %w", version, err)
	}
	return pid, BindOwnerTx(ctx, tx, id)
}

// promoteStaging migrates the staging schema forward to version, copies its rows into schema
// and drops it.
func (e *Env) promoteStaging(ctx context.Context, tx pgx.Tx, id int64, staging, schema string, stagingID, version int64, local, pool bool) error {
	s := pgx.Identifier{staging}.Sanitize()
	if _, err := migrate.Apply(ctx, tx, stagingID, s+", "+pgx.Identifier{e.Shared}.Sanitize(), e.TenantMigs, version); err != nil {
		return fmt.Errorf("migrate the restored rows forward to version %d: %w", version, err)
	}
	if err := BindOwnerTx(ctx, tx, id); err != nil {
		return err
	}
	tables, err := ListTables(ctx, tx, schema)
	if err != nil {
		return err
	}
	insertTail, err := insertSelectTail(ctx, tx)
	if err != nil {
		return err
	}
	advances := make([]map[string]int64, 0, len(tables))
	for _, ti := range tables {
		cols := quoteIdents(ti.cols)
		// The staging schema's sequences carry the archive's positions.
		archived := map[string]int64{}
		for _, col := range ti.seqCols {
			var last *int64
			err := tx.QueryRow(ctx, `SELECT pg_sequence_last_value(pg_get_serial_sequence($1, $2)::regclass)`, pgx.Identifier{staging, ti.name}.Sanitize(), col).Scan(&last)
			if err == nil && last != nil {
				archived[col] = *last
			}
		}
		if pool {
			if err := checkPoolIDs(ctx, tx, schema, ti, pgx.Identifier{staging, ti.name}.Sanitize(), archived); err != nil {
				return err
			}
		}
		var n, want int64
		tag, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, ti.name}.Sanitize()+` (tenant_id, `+cols+`) OVERRIDING SYSTEM VALUE SELECT tenant_id, `+cols+` FROM `+TenantRows(staging, ti.name, id)+insertTail)
		if err != nil {
			return fmt.Errorf("copy %s from the staging schema: %w", ti.name, err)
		}
		n = tag.RowsAffected()
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+TenantRows(staging, ti.name, id)).Scan(&want); err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("tenancy: copy %s: %d rows of %d", ti.name, n, want)
		}
		advances = append(advances, archived)
	}
	// Sequences move only once every table is in: setval and nextval are not undone by a rollback.
	for i, ti := range tables {
		if err := advanceSequences(ctx, tx, schema, ti, advances[i]); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `DROP SCHEMA `+s+` CASCADE`); err != nil {
		return err
	}
	return catalog.LocalDelete(ctx, tx, stagingID)
}

// advanceSequences moves the sequences behind ti's columns past the restored rows and the
// archived positions, and never back: in a pool they are shared with other tenants, whose
// nextval calls run concurrently. Only sequences of the placement's own schema are touched.
//
// A read-then-setval would move a sequence back over ids other tenants drew in between. So a
// sequence is first drawn from (nextval only moves forward); a gap up to seqDrawMax is closed
// by drawing, and only a larger gap is closed by setval, which could go back only if other
// tenants drew more than seqDrawMax ids between two statements.
func advanceSequences(ctx context.Context, tx pgx.Tx, schema string, ti *TableInfo, archived map[string]int64) error {
	table := pgx.Identifier{schema, ti.name}.Sanitize()
	for _, col := range ti.seqCols {
		var seq *string
		var target int64
		err := tx.QueryRow(ctx, `
			SELECT s.seq::text, greatest($3::bigint, (SELECT max(`+pgx.Identifier{col}.Sanitize()+`) FROM `+table+`)::bigint, 0)
			FROM (SELECT pg_get_serial_sequence($1, $2)::regclass AS seq) s
			JOIN pg_class q ON q.oid = s.seq AND q.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $4)`,
			table, col, archived[col], schema).Scan(&seq, &target)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && (seq == nil || target <= 0)) {
			continue
		}
		if err == nil {
			// Read first: a sequence already past the rows is not drawn from.
			var at int64
			err = tx.QueryRow(ctx, `SELECT coalesce(pg_sequence_last_value($1::regclass), 0)`, *seq).Scan(&at)
			if err == nil && target > at {
				err = tx.QueryRow(ctx, `SELECT nextval($1::regclass)`, *seq).Scan(&at)
			}
			if err == nil && target > at {
				if target-at <= seqDrawMax {
					_, err = tx.Exec(ctx, `SELECT max(nextval($1::regclass)) FROM generate_series(1, $2::bigint)`, *seq, target-at)
				} else {
					_, err = tx.Exec(ctx, `SELECT setval($1::regclass, $2::bigint, true) WHERE $2::bigint > pg_sequence_last_value($1::regclass)`, *seq, target)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("sequence of %s.%s: %w", ti.name, col, err)
		}
	}
	return nil
}

// seqDrawMax is the largest gap advanceSequences closes by drawing from the sequence.
const seqDrawMax = 100_000

// poolIDBound is the largest id, and sequence position, that a restore may bring into a pool
// (less for a sequence whose type ends sooner: half its maximum). A pool's sequences are shared
// by its tenants: an archive must not push them near their end. 2^53 ids last 285 years at a
// million a second, and are the integers JSON clients read exactly.
const poolIDBound = 1 << 53

// checkPoolIDs refuses, before they are written into pool schema, rows of table ti (read from
// the relation src) or archived sequence positions beyond poolIDBound.
func checkPoolIDs(ctx context.Context, tx pgx.Tx, schema string, ti *TableInfo, src string, archived map[string]int64) error {
	table := pgx.Identifier{schema, ti.name}.Sanitize()
	for _, col := range ti.seqCols {
		var top, bound int64
		err := tx.QueryRow(ctx, `
			SELECT greatest($3::bigint, (SELECT max(`+pgx.Identifier{col}.Sanitize()+`) FROM `+src+`)::bigint, 0),
			       least($4::bigint, (SELECT seqmax / 2 FROM pg_sequence WHERE seqrelid = pg_get_serial_sequence($1, $2)::regclass))`,
			table, col, archived[col], int64(poolIDBound)).Scan(&top, &bound)
		if err != nil {
			return fmt.Errorf("ids of %s.%s: %w", ti.name, col, err)
		}
		if top > bound {
			return fmt.Errorf("%w: %s.%s reaches %d, beyond the %d a restore may move a pool's shared sequence to", ErrBadArchive, ti.name, col, top, bound)
		}
	}
	return nil
}

// checkPoolKeys refuses a pool whose tables have a unique or exclusion index not led by
// tenant_id: restored rows could collide with, wait on or reveal another tenant's.
func checkPoolKeys(ctx context.Context, tx pgx.Tx, schema string) error {
	var table, index string
	err := tx.QueryRow(ctx, `
		SELECT c.relname, i.relname FROM pg_index x
		JOIN pg_class c ON c.oid = x.indrelid
		JOIN pg_class i ON i.oid = x.indexrelid
		WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND (x.indisunique OR x.indisexclusion)
		  AND x.indkey[0] IS DISTINCT FROM (SELECT attnum FROM pg_attribute WHERE attrelid = c.oid AND attname = 'tenant_id' AND NOT attisdropped)
		ORDER BY 1, 2 LIMIT 1`, schema).Scan(&table, &index)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: restore into a pool: table %s has unique index %s not led by tenant_id, so one tenant's rows could collide with another's (put tenant_id first, or restore into the schema or database tier)", ErrTierNotAvailable, table, index)
}

// sameShape checks an archived table against the placement's table of the same name.
func sameShape(mt *archive.Table, ti *TableInfo) error {
	types := map[string]string{}
	for i, col := range ti.cols {
		types[col] = ti.types[i]
	}
	if len(types) != len(mt.Columns) {
		return fmt.Errorf("%w: table %s has %d columns in the archive, %d in the placement", ErrBadArchive, mt.Name, len(mt.Columns), len(types))
	}
	for _, col := range mt.Columns {
		if t, ok := types[col.Name]; !ok || t != col.Type {
			return fmt.Errorf("%w: column %s.%s (%s) does not match the placement", ErrBadArchive, mt.Name, col.Name, col.Type)
		}
	}
	if len(mt.OrderBy) != len(ti.pk) {
		return fmt.Errorf("%w: table %s: primary key differs", ErrBadArchive, mt.Name)
	}
	for i, k := range mt.OrderBy {
		if ti.pk[i] != k {
			return fmt.Errorf("%w: table %s: primary key differs", ErrBadArchive, mt.Name)
		}
	}
	return nil
}

// errReader keeps the first error other than io.EOF that its reader returned.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// GrantSchema gives role the schema and row access to its tables and sequences. The tables are
// named one by one (found through pg_depend's index, see GrantMissing): GRANT ... ON ALL TABLES
// IN SCHEMA scans all of pg_class, which costs time in proportion to the whole fleet.
func GrantSchema(ctx context.Context, tx pgx.Tx, schema, role string) error {
	if _, err := tx.Exec(ctx, `GRANT USAGE ON SCHEMA `+pgx.Identifier{schema}.Sanitize()+` TO `+pgx.Identifier{role}.Sanitize()); err != nil {
		return err
	}
	return GrantMissing(ctx, tx, schema, role)
}

// GrantMissing gives role row access to the tables and sequences of schema that it cannot use
// yet (new ones), without rewriting the privileges of every table of every tenant. The schema's
// relations are found through pg_depend's index on the referenced namespace: pg_class has no
// index on relnamespace, and scanning it (as GRANT ... ON ALL TABLES IN SCHEMA does) costs time
// in proportion to the whole fleet's tables, for each tenant.
func GrantMissing(ctx context.Context, tx pgx.Tx, schema, role string) error {
	rows, err := tx.Query(ctx, missingGrantsSQL, schema, role)
	if err != nil {
		return err
	}
	sql, err := grantsFor(rows, schema, role)
	if err != nil || sql == "" {
		return err
	}
	// One message per statement, in one round trip: Citus refuses a message of two statements
	// on a distributed schema's tables (citus_schema.go).
	return migrate.ExecEach(ctx, tx, migrate.SplitSQL(sql))
}

// missingGrantsSQL lists the relations of schema $1 that role $2 cannot use: (is a sequence, name).
const missingGrantsSQL = `
	SELECT c.relkind = 'S', c.relname
	FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
	WHERE d.refclassid = 'pg_namespace'::regclass AND d.classid = 'pg_class'::regclass
	  AND d.refobjid = (SELECT oid FROM pg_namespace WHERE nspname = $1)
	  AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
	  AND NOT CASE WHEN c.relkind = 'S' THEN has_sequence_privilege($2, c.oid, 'USAGE')
	               ELSE has_table_privilege($2, c.oid, 'SELECT') END
	ORDER BY 2`

// grantsFor reads missingGrantsSQL's rows and returns the GRANT statements that give role
// what it lacks, or "".
func grantsFor(rows pgx.Rows, schema, role string) (string, error) {
	var tables, seqs []string
	var isSeq bool
	var name string
	if _, err := pgx.ForEachRow(rows, []any{&isSeq, &name}, func() error {
		id := pgx.Identifier{schema, name}.Sanitize()
		if isSeq {
			seqs = append(seqs, id)
		} else {
			tables = append(tables, id)
		}
		return nil
	}); err != nil {
		return "", err
	}
	app := pgx.Identifier{role}.Sanitize()
	var sql []string
	if len(tables) > 0 {
		sql = append(sql, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s", strings.Join(tables, ", "), app))
	}
	if len(seqs) > 0 {
		sql = append(sql, fmt.Sprintf("GRANT USAGE, SELECT ON SEQUENCE %s TO %s", strings.Join(seqs, ", "), app))
	}
	return strings.Join(sql, "; "), nil
}

// tablesReferencingFirst lists the tables of schema so that every table comes before the
// tables it references (self-references ignored).
func TablesReferencingFirst(ctx context.Context, tx pgx.Tx, schema string) ([]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.relname, coalesce(array_agg(r.relname) FILTER (WHERE r.relname IS NOT NULL AND r.oid <> c.oid), '{}')
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'f'
		LEFT JOIN pg_class r ON r.oid = k.confrelid AND r.relnamespace = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		GROUP BY c.relname ORDER BY c.relname`, schema)
	if err != nil {
		return nil, err
	}
	refs := map[string][]string{}
	var names []string
	for rows.Next() {
		var name string
		var to []string
		if err := rows.Scan(&name, &to); err != nil {
			return nil, err
		}
		names = append(names, name)
		refs[name] = to
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Depth-first: a table is emitted after everything that references it.
	referencedBy := map[string][]string{}
	for from, tos := range refs {
		for _, to := range tos {
			referencedBy[to] = append(referencedBy[to], from)
		}
	}
	var out []string
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var visit func(string)
	visit = func(n string) {
		if state[n] != 0 {
			return
		}
		state[n] = 1
		for _, from := range referencedBy[n] {
			visit(from)
		}
		state[n] = 2
		out = append(out, n)
	}
	for _, n := range names {
		visit(n)
	}
	return out, nil
}

func NewCountingHash() *CountingHash { return &CountingHash{h: sha256.New()} }

func (c *CountingHash) Sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// CountingHash hashes and counts what is written to it.
type CountingHash struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (c *CountingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// Dump writes the rows of tenant id in every table of placement p to w, inside tx (a
// repeatable-read transaction on p's database, bound to the tenant), and reads p's migration
// version and ledger from its local catalog. Each table's rows are hashed as they are written.
func Dump(ctx context.Context, tx pgx.Tx, p Placement, id int64, w io.Writer, onTable func(string, int64)) (version int64, migs []archive.Migration, tables []archive.Table, err error) {
	version, applied, err := catalog.PlacementLedger(ctx, tx, p.LocalID())
	if err != nil {
		return 0, nil, nil, fmt.Errorf("placement version: %w", err)
	}
	for _, a := range applied {
		migs = append(migs, archive.Migration{Version: a.Version, Name: a.Name, Checksum: a.Checksum})
	}
	infos, err := ListTables(ctx, tx, p.Schema)
	if err != nil {
		return 0, nil, nil, err
	}
	for _, ti := range infos {
		at := archive.Table{Name: ti.name, OrderBy: ti.pk}
		for i, col := range ti.cols {
			at.Columns = append(at.Columns, archive.Column{Name: col, Type: ti.types[i]})
		}
		h := NewCountingHash()
		tag, err := tx.Conn().PgConn().CopyTo(ctx, io.MultiWriter(w, h), "COPY ("+ti.selectSQL(p.Schema, id)+") TO STDOUT")
		if err != nil {
			return 0, nil, nil, fmt.Errorf("read %s: %w", ti.name, err)
		}
		at.Rows, at.Bytes, at.SHA256 = tag.RowsAffected(), h.n, h.Sum()
		for _, col := range ti.seqCols {
			s := archive.Sequence{Column: col}
			var last *int64
			if err := tx.QueryRow(ctx, `SELECT pg_sequence_last_value(pg_get_serial_sequence($1, $2)::regclass)`,
				pgx.Identifier{p.Schema, ti.name}.Sanitize(), col).Scan(&last); err != nil {
				return 0, nil, nil, fmt.Errorf("sequence of %s.%s: %w", ti.name, col, err)
			}
			if last != nil {
				s.LastValue, s.IsCalled = *last, true
			}
			at.Sequences = append(at.Sequences, s)
		}
		tables = append(tables, at)
		if onTable != nil {
			onTable(ti.name, at.Rows)
		}
	}
	return version, migs, tables, nil
}
