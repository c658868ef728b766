package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/archive"
	"github.com/tenancy-go/tenancy/internal/lockkey"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// RestoreOpts are the options of Restore. The zero value restores the archive's tenant under its
// own slug, in its own tier.
type RestoreOpts struct {
	Slug   string // restore under this slug; the archive's if empty
	Name   string // display name; the archive's if empty
	Tier   Tier   // the archive's tier if empty
	Server string // as TenantCreateOpts.Server
	Pool   string // with TierPool: the pool to join (if empty: the archive's if it exists, else PoolDefault)
	// Domains also restores the archive's domains; the restore is refused if one is taken.
	Domains bool
	// OnTable, if set, is called after each table is loaded.
	OnTable func(table string, rows int64)
}

// Restore loads an archive written by Backup into a new tenant and a new placement of any tier.
// The tenant is made in "provisioning", its placement is built and filled in one transaction,
// every table's row count and checksum are checked against the manifest, and only then does it
// become active. An archive from a newer tenant migration version is refused (ErrArchiveTooNew);
// an older one is loaded at its own version and migrated forward. A restore that fails, or a
// bad archive (ErrBadArchive), leaves no tenant and no placement behind; one interrupted by a
// crash is removed by Repair.
func (c *Client) Restore(ctx context.Context, r io.Reader, opts *RestoreOpts) (*Tenant, error) {
	if _, err := c.ownerPool(); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &RestoreOpts{}
	}
	ar, err := archive.NewReader(r)
	if err != nil {
		return nil, err
	}
	m := ar.Manifest()
	if err := c.checkArchiveMigrations(m); err != nil {
		return nil, err
	}
	slug := opts.Slug
	if slug == "" {
		slug = m.Tenant.Slug
	}
	if err := ValidateSlug(slug); err != nil {
		return nil, err
	}
	if err := c.checkSlugAddress(ctx, c.owner, slug, slug); err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = m.Tenant.Name
	}
	tier := opts.Tier
	if tier == "" {
		tier = Tier(m.Tenant.Tier)
	}
	if _, err := ParseTier(string(tier)); err != nil {
		return nil, err
	}
	settings := []byte("{}")
	if len(m.Tenant.Settings) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(m.Tenant.Settings, &obj); err != nil {
			return nil, fmt.Errorf("%w: tenant settings are not a JSON object", ErrBadArchive)
		}
		settings = m.Tenant.Settings
	}
	var hosts []string
	var primary []bool
	if opts.Domains {
		for _, d := range m.Tenant.Domains {
			h, err := normalizeDomain(d.Host)
			if err != nil {
				return nil, err
			}
			if err := c.reservedHosts.check(h); err != nil {
				return nil, err
			}
			hosts, primary = append(hosts, h), append(primary, d.Primary)
		}
	}
	pool := opts.Pool
	if pool == "" && tier == TierPool && m.Tenant.Pool != "" {
		// The archive's pool if it exists here; an archive never makes a pool.
		var exists bool
		if err := c.owner.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenancy.placements WHERE kind = 'pool' AND server = '' AND database = '' AND schema = $1)`,
			poolSchema(m.Tenant.Pool)).Scan(&exists); err != nil {
			return nil, notFoundOr(err, ErrTenantNotFound, slug)
		}
		if exists {
			pool = m.Tenant.Pool
		}
	}
	target, err := c.newPlacement(ctx, tier, opts.Server, pool)
	if err != nil {
		return nil, err
	}

	// The tenant's operation lock is taken, at session level, inside the transaction that makes
	// the tenant: Repair never sees the restore's record without the lock held.
	opConn, err := c.owner.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	var id int64
	err = pgx.BeginFunc(ctx, opConn, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO tenancy.tenants (slug, name, status, tier, settings)
			VALUES ($1, $2, 'provisioning', $3, $4)
			ON CONFLICT (slug) DO NOTHING RETURNING id`, slug, name, string(tier), settings).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return tenantErr(ErrTenantExists, slug)
		}
		if err != nil {
			return err
		}
		if err := target.insert(ctx, tx, id, true); err != nil {
			return err
		}
		for i, h := range hosts {
			_, err := tx.Exec(ctx, `INSERT INTO tenancy.domains (host, tenant_id, is_primary) VALUES ($1, $2, $3)`, h, id, primary[i])
			if isUniqueViolation(err) {
				return fmt.Errorf("%w: %s", ErrDomainExists, h)
			}
			if err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO tenancy.moves (tenant_id, kind, to_placement, to_tier, phase, prev_status)
			VALUES ($1, 'restore', $2, $3, 'copying', 'active')`, id, target.p.ID, string(tier))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockkey.TenantOp, lockkey.Tenant(id))
		return err
	})
	if err != nil {
		opConn.Release()
		return nil, notFoundOr(err, ErrTenantNotFound, slug)
	}
	defer unlockTenantOp(ctx, opConn, id)
	if err := c.opCrashPoint(ctx, crashRestoreCreated, nil); err != nil {
		return nil, err
	}
	load := func(ctx context.Context, tx pgx.Tx, schema string, version int64, local bool) error {
		return c.loadArchive(ctx, tx, ar, id, schema, version, local, tier == TierPool, opts.OnTable)
	}
	finish := func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE tenancy.tenants SET status = 'active', updated_at = now() WHERE id = $1 AND status = 'provisioning'`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM tenancy.moves WHERE tenant_id = $1`, id)
		return err
	}
	if err := c.fillPlacement(ctx, opConn, id, tier, target.p, load, finish); err != nil {
		if !errors.Is(err, errCrashHook) {
			_ = c.abandonRestore(context.WithoutCancel(ctx), id)
		}
		return nil, fmt.Errorf("tenancy: restore %s: %w", slug, err)
	}
	return c.TenantGetByID(ctx, id)
}

// checkArchiveMigrations refuses an archive of a newer tenant migration version, or whose
// applied migrations are not this application's.
func (c *Client) checkArchiveMigrations(m *archive.Manifest) error {
	if latest := c.LatestVersion(); m.Version > latest {
		return fmt.Errorf("%w: the archive is at tenant migration version %d, this application at %d (upgrade it first)", ErrArchiveTooNew, m.Version, latest)
	}
	byVersion := map[int64]migrate.Migration{}
	for _, mg := range c.tenantMigs {
		byVersion[mg.Version] = mg
	}
	for _, am := range m.Migrations {
		mine, ok := byVersion[am.Version]
		if !ok || mine.Checksum != am.Checksum {
			return fmt.Errorf("%w: its tenant migration %d_%s is not this application's", ErrBadArchive, am.Version, am.Name)
		}
	}
	return nil
}

// plannedPlacement is a placement to be made for a tenant (or, for the pool tier, joined).
type plannedPlacement struct {
	tier Tier
	kind string
	p    Placement
}

// newPlacement resolves where a tenant of tier would go, as TenantCreate does.
func (c *Client) newPlacement(ctx context.Context, tier Tier, server, pool string) (*plannedPlacement, error) {
	if tier == TierPool {
		if server != "" && server != ServerDefault {
			return nil, fmt.Errorf("%w: pools live on the catalog's server", ErrTierNotAvailable)
		}
		if pool == "" {
			pool = PoolDefault
		}
		pid, err := c.ensurePool(ctx, pool)
		if err != nil {
			return nil, err
		}
		return &plannedPlacement{tier: tier, kind: "pool", p: Placement{ID: pid, Schema: poolSchema(pool)}}, nil
	}
	switch server {
	case ServerDefault:
		server = ""
	case "":
		var err error
		if server, err = c.chooseServer(ctx); err != nil {
			return nil, notFoundOr(err, ErrServerNotFound, "")
		}
	default:
		if _, err := c.serverConfig(ctx, server); err != nil {
			return nil, err
		}
	}
	if tier == TierDatabase {
		// The template first (as TenantCreate does): tenant migrations it cannot take are
		// refused before anything is made or any tenant held.
		conn, err := c.ownerConn(ctx, server, "")
		if err != nil {
			return nil, err
		}
		_, err = c.ensureTemplate(ctx, server, conn)
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
	}
	return &plannedPlacement{tier: tier, kind: string(tier), p: Placement{Server: server}}, nil
}

// insert records the placement for tenant id (a pool exists already), and with attach points
// the tenant at it (a restore; a move switches later).
func (pp *plannedPlacement) insert(ctx context.Context, tx pgx.Tx, id int64, attach bool) error {
	if pp.kind == "pool" {
		if !attach {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE tenancy.tenants SET placement_id = $2 WHERE id = $1`, id, pp.p.ID)
		return err
	}
	var catalogDB string
	if err := tx.QueryRow(ctx, `SELECT current_database()`).Scan(&catalogDB); err != nil {
		return err
	}
	pp.p.Schema = "tenant_" + strconv.FormatInt(id, 10)
	if pp.kind == "database" {
		pp.p.Database, pp.p.Schema = tenantDatabaseName(catalogDB, id), databaseSchema
	}
	pp.p.uid = newPlacementUID()
	err := tx.QueryRow(ctx, `INSERT INTO tenancy.placements (kind, server, database, schema, owned, uid) VALUES ($1, $2, $3, $4, true, $5) RETURNING id`,
		pp.kind, pp.p.Server, pp.p.Database, pp.p.Schema, pp.p.uid).Scan(&pp.p.ID)
	if isUniqueViolation(err) {
		return fmt.Errorf("tenancy: placement %s exists already (a move or restore left it: run repair)", placementLabel(pp.p))
	}
	if err != nil || !attach {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE tenancy.tenants SET placement_id = $2 WHERE id = $1`, id, pp.p.ID)
	return err
}

func placementLabel(p Placement) string {
	s := p.Schema
	if p.Database != "" {
		s = p.Database + "." + s
	}
	return serverLabel(p.Server) + ":" + s
}

// abandonRestore removes a restore that failed: the tenant goes to "deleting" and is dropped as
// a hard delete would (only what tenancy made for it). A crash in between leaves it to Repair.
func (c *Client) abandonRestore(ctx context.Context, id int64) error {
	_, err := c.owner.Exec(ctx, `
		WITH m AS (DELETE FROM tenancy.moves WHERE tenant_id = $1)
		UPDATE tenancy.tenants SET status = 'deleting', updated_at = now() WHERE id = $1 AND status = 'provisioning'`, id)
	if err == nil {
		err = c.dropTenant(ctx, id)
	}
	if err != nil {
		c.logger.Warn("tenancy: removing a failed restore", "tenant_id", id, "err", err)
	}
	return err
}

// loadFunc fills schema (a placement at version, in the transaction tx bound to the tenant);
// local says whether tx is on the catalog's database (else on a placement database with a local catalog).
type loadFunc func(ctx context.Context, tx pgx.Tx, schema string, version int64, local bool) error

// fillPlacement makes placement p of tier for tenant id (or, in a pool, uses it), fills it with
// load in the same transaction, and runs finish in the catalog (on cat): in that same
// transaction when the placement lives in the catalog's database, else in the catalog
// transaction that follows the placement's commit and copies its ledger.
func (c *Client) fillPlacement(ctx context.Context, cat catalogConn, id int64, tier Tier, p Placement, load loadFunc, finish func(ctx context.Context, tx pgx.Tx) error) error {
	shared := pgx.Identifier{c.shared}.Sanitize()
	switch {
	case tier == TierPool:
		return pgx.BeginFunc(ctx, cat, func(tx pgx.Tx) error {
			var version int64
			// FOR SHARE holds off a fleet migration of the pool while its rows are loaded.
			if err := tx.QueryRow(ctx, `SELECT version FROM tenancy.placements WHERE id = $1 FOR SHARE`, p.ID).Scan(&version); err != nil {
				return err
			}
			if err := bindOwnerTx(ctx, tx, id); err != nil {
				return err
			}
			if err := load(ctx, tx, p.Schema, version, true); err != nil {
				return err
			}
			if err := c.opCrashPoint(ctx, crashFillLoaded, tx); err != nil {
				return err
			}
			return finish(ctx, tx)
		})
	case placementIsLocal(tier, p):
		return pgx.BeginFunc(ctx, cat, func(tx pgx.Tx) error {
			if err := c.createLocalSchema(ctx, tx, id, &p); err != nil {
				return err
			}
			s := pgx.Identifier{p.Schema}.Sanitize()
			version, err := migrate.Apply(ctx, tx, p.ID, s+", "+shared, c.tenantMigs, 0)
			if err != nil {
				return err
			}
			if err := grantSchemaTo(ctx, tx, p.Schema, c.appRole); err != nil {
				return err
			}
			if err := bindOwnerTx(ctx, tx, id); err != nil {
				return err
			}
			if err := load(ctx, tx, p.Schema, version, true); err != nil {
				return err
			}
			if err := c.opCrashPoint(ctx, crashFillLoaded, tx); err != nil {
				return err
			}
			return finish(ctx, tx)
		})
	}
	kind := string(tier)
	var db string
	if tier == TierDatabase {
		home, err := c.ownerConn(ctx, p.Server, "")
		if err != nil {
			return err
		}
		db, err = c.createTenantDatabase(ctx, cat, home, id, p)
		home.Close(context.WithoutCancel(ctx))
		if err != nil {
			return err
		}
		p.Database = db
		if err := c.opCrashPoint(ctx, crashFillDatabase, nil); err != nil {
			return err
		}
	}
	sc, err := c.serverConfig(ctx, p.Server)
	if err != nil {
		return err
	}
	conn, err := c.ownerConn(ctx, p.Server, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	localID := localPlacementID(tier, p)
	var ledger [][]any
	var version int64
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if kind == "database" {
			if err := c.claimTemplateCopy(ctx, tx, id, p); err != nil {
				return err
			}
		} else if err := c.createRemoteSchema(ctx, tx, id, localID, p); err != nil {
			return err
		}
		if version, err = c.applyTenantMigrations(ctx, tx, localID, p.Schema); err != nil {
			return err
		}
		if err := grantSchemaTo(ctx, tx, p.Schema, sc.app.ConnConfig.User); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `GRANT USAGE ON SCHEMA tenancy TO `+pgx.Identifier{sc.app.ConnConfig.User}.Sanitize()); err != nil {
			return err
		}
		if err := bindOwnerTx(ctx, tx, id); err != nil {
			return err
		}
		if err := load(ctx, tx, p.Schema, version, false); err != nil {
			return err
		}
		if err := c.opCrashPoint(ctx, crashFillLoaded, tx); err != nil {
			return err
		}
		ledger, err = localLedger(ctx, tx, localID)
		return err
	})
	if err != nil {
		return err
	}
	if err := c.opCrashPoint(ctx, crashFillCommitted, nil); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, cat, func(tx pgx.Tx) error {
		if err := copyLedger(ctx, tx, p.ID, version, ledger); err != nil {
			return err
		}
		return finish(ctx, tx)
	})
}

// loadArchive loads the archive's rows into schema for tenant id, inside tx (bound to id), and
// checks them. An archive older than the placement is loaded into a staging schema made at the
// archive's version, migrated forward there, then copied over. Into a pool (schema is shared
// with other tenants) the ids behind its sequences are bounded (checkPoolIDs).
func (c *Client) loadArchive(ctx context.Context, tx pgx.Tx, ar *archive.Reader, id int64, schema string, version int64, local, pool bool, onTable func(string, int64)) error {
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
		if stagingID, err = c.createStaging(ctx, tx, id, into, m.Version, local); err != nil {
			return err
		}
	}
	tables, err := listTables(ctx, tx, into)
	if err != nil {
		return err
	}
	byName := map[string]*tableInfo{}
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
		if _, err := tx.Exec(ctx, `INSERT INTO `+target+` (tenant_id, `+cols+`) OVERRIDING SYSTEM VALUE SELECT $1, `+cols+` FROM pg_temp.`+tmp, id); err != nil {
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
		h := newCountingHash()
		tag, err := tx.Conn().PgConn().CopyTo(ctx, h, "COPY ("+selectRowsSQL(into, mt.Name, id, names, ti.pk, ti.pkC)+") TO STDOUT")
		if err != nil {
			return fmt.Errorf("verify %s: %w", mt.Name, err)
		}
		if tag.RowsAffected() != mt.Rows || h.sum() != mt.SHA256 {
			return fmt.Errorf("tenancy: verify %s: %d rows loaded with checksum %s, the archive has %d with %s", mt.Name, tag.RowsAffected(), h.sum()[:12], mt.Rows, mt.SHA256[:12])
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
	return c.promoteStaging(ctx, tx, id, into, schema, stagingID, version, local, pool)
}

// createStaging makes schema at tenant migration version, with a placement row of its own for
// the migrations' ledger (all inside tx, so a failure leaves nothing).
func (c *Client) createStaging(ctx context.Context, tx pgx.Tx, id int64, schema string, version int64, local bool) (int64, error) {
	s := pgx.Identifier{schema}.Sanitize()
	if _, err := tx.Exec(ctx, `CREATE SCHEMA `+s); err != nil {
		return 0, err
	}
	var pid int64
	var err error
	if local {
		err = tx.QueryRow(ctx, `INSERT INTO tenancy.placements (kind, schema, owned) VALUES ('schema', $1, true) RETURNING id`, schema).Scan(&pid)
	} else {
		var catalogDB string
		if catalogDB, err = c.catalogDatabase(ctx); err == nil {
			pid = -id
			_, err = tx.Exec(ctx, `INSERT INTO tenancy.placements (id, kind, schema, tenant_id, catalog) VALUES ($1, 'schema', $2, $3, $4)`, pid, schema, id, catalogDB)
		}
	}
	if err != nil {
		return 0, err
	}
	if _, err := migrate.Apply(ctx, tx, pid, s+", "+pgx.Identifier{c.shared}.Sanitize(), c.tenantMigs, version); err != nil {
		return 0, fmt.Errorf("staging schema at version %d: %w", version, err)
	}
	return pid, bindOwnerTx(ctx, tx, id)
}

// promoteStaging migrates the staging schema forward to version, copies its rows into schema
// and drops it.
func (c *Client) promoteStaging(ctx context.Context, tx pgx.Tx, id int64, staging, schema string, stagingID, version int64, local, pool bool) error {
	s := pgx.Identifier{staging}.Sanitize()
	if _, err := migrate.Apply(ctx, tx, stagingID, s+", "+pgx.Identifier{c.shared}.Sanitize(), c.tenantMigs, version); err != nil {
		return fmt.Errorf("migrate the restored rows forward to version %d: %w", version, err)
	}
	if err := bindOwnerTx(ctx, tx, id); err != nil {
		return err
	}
	tables, err := listTables(ctx, tx, schema)
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
		tag, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, ti.name}.Sanitize()+` (tenant_id, `+cols+`) OVERRIDING SYSTEM VALUE SELECT tenant_id, `+cols+` FROM `+tenantRows(staging, ti.name, id))
		if err != nil {
			return fmt.Errorf("copy %s from the staging schema: %w", ti.name, err)
		}
		n = tag.RowsAffected()
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+tenantRows(staging, ti.name, id)).Scan(&want); err != nil {
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
	_, err = tx.Exec(ctx, `DELETE FROM tenancy.placements WHERE id = $1`, stagingID)
	return err
}

// advanceSequences moves the sequences behind ti's columns past the restored rows and the
// archived positions, and never back: in a pool they are shared with other tenants, whose
// nextval calls run concurrently. Only sequences of the placement's own schema are touched.
//
// A read-then-setval would move a sequence back over ids other tenants drew in between. So a
// sequence is first drawn from (nextval only moves forward); a gap up to seqDrawMax is closed
// by drawing, and only a larger gap is closed by setval, which could go back only if other
// tenants drew more than seqDrawMax ids between two statements.
func advanceSequences(ctx context.Context, tx pgx.Tx, schema string, ti *tableInfo, archived map[string]int64) error {
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
func checkPoolIDs(ctx context.Context, tx pgx.Tx, schema string, ti *tableInfo, src string, archived map[string]int64) error {
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
func sameShape(mt *archive.Table, ti *tableInfo) error {
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

// normalizeDomain is the spelling the domains table stores.
func normalizeDomain(host string) (string, error) {
	h, err := NormalizeHost(host)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	return h, nil
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
