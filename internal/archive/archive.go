package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// Format and FormatVersion identify the archive; a reader accepts every version from 1 up to
// FormatVersion, so later releases read earlier archives.
const (
	Format        = "tenancy-archive"
	FormatVersion = 2 // 2 added the tenant's type and its other migration lines
)

// ErrInvalid is the error of an archive that is malformed, truncated, edited or of a newer format.
var ErrInvalid = errors.New("tenancy: invalid archive")

// maxManifest bounds the manifest a reader accepts, so a hostile file cannot exhaust memory.
const maxManifest = 64 << 20

const (
	manifestEntry = "manifest.json"
	endEntry      = "end.json"
)

func tableEntry(i int) string { return fmt.Sprintf("tables/%04d.copy", i+1) }

// Manifest describes an archive. Its fields are written as JSON; new fields may be added in later
// format versions, never removed or changed in meaning.
type Manifest struct {
	Format        string    `json:"format"`
	FormatVersion int       `json:"format_version"`
	CreatedAt     time.Time `json:"created_at"`
	// Catalog names the catalog database the tenant was backed up from (informational).
	Catalog string `json:"catalog"`
	Tenant  Tenant `json:"tenant"`
	// Version is the tenant migration version of the placement the rows came from; Migrations
	// lists the migrations applied there, so that a restore can tell another application's
	// archive from an older one of its own.
	Version    int64       `json:"migration_version"`
	Migrations []Migration `json:"migrations"`
	// Lines are the placement's other migration lines (format 2): its type's and the tenant's
	// own, with what was applied of each. Absent in format 1: no line beside the common one.
	Lines []Line `json:"lines,omitempty"`
	// Session is the session settings the rows were written under; a restore uses the same.
	Session map[string]string `json:"session"`
	// Tables are in load order: a table comes after the tables it references.
	Tables []Table `json:"tables"`
}

// Tenant is the tenant's catalog entry.
type Tenant struct {
	ID     int64  `json:"id"`
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Tier   string `json:"tier"`
	Pool   string `json:"pool,omitempty"` // the pool of a pool-tier tenant
	// Type is the tenant's type (format 2); empty in format 1, which knew one type: "default".
	Type      string          `json:"type,omitempty"`
	Settings  json.RawMessage `json:"settings,omitempty"`
	Domains   []Domain        `json:"domains"`
	CreatedAt time.Time       `json:"created_at"`
}

// Domain is one of the tenant's hosts.
type Domain struct {
	Host    string `json:"host"`
	Primary bool   `json:"primary"`
}

// Line is one migration line beside the common one: "type:<name>" or "custom".
type Line struct {
	Name       string      `json:"name"`
	Version    int64       `json:"version"`
	Migrations []Migration `json:"migrations"`
}

var typeName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// NeededFormat is the oldest format version that can say what m says: 1 unless the tenant has
// a type other than "default" or other lines. Writing the oldest keeps older releases able to
// read what they can restore, and makes them refuse what they cannot.
func (m *Manifest) NeededFormat() int {
	if (m.Tenant.Type != "" && m.Tenant.Type != "default") || len(m.Lines) > 0 {
		return 2
	}
	return 1
}

// Migration is one applied tenant migration.
type Migration struct {
	Version  int64  `json:"version"`
	Name     string `json:"name"`
	Checksum string `json:"checksum"`
}

// Table is one tenant table. Its rows are the COPY text of SELECT Columns ORDER BY OrderBy,
// without the tenant_id column (a restore sets it to the tenant it restores).
type Table struct {
	Name      string     `json:"name"`
	Columns   []Column   `json:"columns"`
	OrderBy   []string   `json:"order_by"`
	Rows      int64      `json:"rows"`
	Bytes     int64      `json:"bytes"`
	SHA256    string     `json:"sha256"`
	Sequences []Sequence `json:"sequences,omitempty"`
}

// Column is a column and its type as format_type prints it.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Sequence is the position of the sequence behind a column (identity or serial).
type Sequence struct {
	Column    string `json:"column"`
	LastValue int64  `json:"last_value"`
	IsCalled  bool   `json:"is_called"`
}

type end struct {
	ManifestSHA256 string `json:"manifest_sha256"`
	Tables         int    `json:"tables"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks the manifest's structure (not what it says about a database).
func (m *Manifest) Validate() error {
	if m.Format != Format {
		return invalid("not a tenancy archive (format %q)", truncate(m.Format, 40))
	}
	if m.FormatVersion < 1 {
		return invalid("format version %d", m.FormatVersion)
	}
	if m.FormatVersion > FormatVersion {
		return invalid("format version %d is newer than this release reads (%d): upgrade tenancy", m.FormatVersion, FormatVersion)
	}
	if m.Tenant.ID <= 0 || m.Tenant.Slug == "" {
		return invalid("the manifest names no tenant")
	}
	if m.Version < 0 {
		return invalid("migration version %d", m.Version)
	}
	if m.Tenant.Type != "" && !typeName.MatchString(m.Tenant.Type) {
		return invalid("tenant type %q", truncate(m.Tenant.Type, 50))
	}
	lines := map[string]bool{}
	for _, l := range m.Lines {
		if (l.Name != "custom" && l.Name != "type:"+m.Tenant.Type) || lines[l.Name] || l.Version < 0 {
			return invalid("migration line %q (version %d) of a tenant of type %q", truncate(l.Name, 50), l.Version, m.Tenant.Type)
		}
		lines[l.Name] = true
	}
	seen := map[string]bool{}
	for i, t := range m.Tables {
		if !validName(t.Name) || seen[t.Name] {
			return invalid("table %d: bad or repeated name %q", i+1, truncate(t.Name, 70))
		}
		seen[t.Name] = true
		if len(t.Columns) == 0 {
			return invalid("table %s has no columns", t.Name)
		}
		cols := map[string]bool{}
		for _, c := range t.Columns {
			if !validName(c.Name) || cols[c.Name] || c.Name == "tenant_id" || c.Type == "" {
				return invalid("table %s: bad column %q", t.Name, truncate(c.Name, 70))
			}
			cols[c.Name] = true
		}
		for _, o := range t.OrderBy {
			if !cols[o] {
				return invalid("table %s: order_by names unknown column %q", t.Name, truncate(o, 70))
			}
		}
		for _, s := range t.Sequences {
			if !cols[s.Column] {
				return invalid("table %s: sequence of unknown column %q", t.Name, truncate(s.Column, 70))
			}
		}
		if t.Rows < 0 || t.Bytes < 0 || len(t.SHA256) != 64 {
			return invalid("table %s: bad row count, size or checksum", t.Name)
		}
		if _, err := hex.DecodeString(t.SHA256); err != nil {
			return invalid("table %s: bad checksum", t.Name)
		}
	}
	return nil
}

// validName accepts what PostgreSQL accepts as an identifier (every one is quoted on use).
func validName(s string) bool {
	return s != "" && len(s) <= 63 && !bytes.ContainsAny([]byte(s), "\x00")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Writer writes an archive: NewWriter writes the manifest, WriteTable each table's rows in the
// manifest's order, Close the seal.
type Writer struct {
	gz       *gzip.Writer
	tw       *tar.Writer
	m        *Manifest
	sum      string
	next     int
	modTime  time.Time
	finished bool
}

// NewWriter validates m and writes it to w.
func NewWriter(w io.Writer, m *Manifest) (*Writer, error) {
	if m.Format == "" {
		m.Format, m.FormatVersion = Format, FormatVersion
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	aw := &Writer{gz: gz, tw: tar.NewWriter(gz), m: m, sum: hex.EncodeToString(sum[:]), modTime: m.CreatedAt}
	if err := aw.entry(manifestEntry, int64(len(data)), bytes.NewReader(data)); err != nil {
		return nil, err
	}
	return aw, nil
}

func (w *Writer) entry(name string, size int64, r io.Reader) error {
	if err := w.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: w.modTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	n, err := io.Copy(w.tw, r)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("archive: entry %s: wrote %d bytes, want %d", name, n, size)
	}
	return nil
}

// WriteTable writes the rows of the next table of the manifest. r must hold exactly the bytes
// the manifest describes (size and checksum are checked as they pass).
func (w *Writer) WriteTable(r io.Reader) error {
	if w.next >= len(w.m.Tables) {
		return errors.New("archive: more tables than the manifest lists")
	}
	t := &w.m.Tables[w.next]
	h := sha256.New()
	if err := w.entry(tableEntry(w.next), t.Bytes, io.TeeReader(r, h)); err != nil {
		return fmt.Errorf("archive: table %s: %w", t.Name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != t.SHA256 {
		return fmt.Errorf("archive: table %s changed while it was written", t.Name)
	}
	w.next++
	return nil
}

// Close writes the seal and flushes the compressed stream. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.finished {
		return nil
	}
	if w.next != len(w.m.Tables) {
		return fmt.Errorf("archive: %d of %d tables written", w.next, len(w.m.Tables))
	}
	data, _ := json.Marshal(end{ManifestSHA256: w.sum, Tables: len(w.m.Tables)})
	if err := w.entry(endEntry, int64(len(data)), bytes.NewReader(data)); err != nil {
		return err
	}
	if err := w.tw.Close(); err != nil {
		return err
	}
	w.finished = true
	return w.gz.Close()
}

// Reader reads an archive in one pass: the manifest first (NewReader), then each table's rows
// (Next), then Close, which checks the seal and the end of the stream. Nothing read is to be
// trusted, nor committed anywhere, until Close returns nil.
type Reader struct {
	gz   *gzip.Reader
	tr   *tar.Reader
	m    *Manifest
	sum  string
	next int
	cur  *tableReader
}

// NewReader reads and validates the manifest.
func NewReader(r io.Reader) (*Reader, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, invalid("not a gzip stream (%v)", err)
	}
	gz.Multistream(false)
	ar := &Reader{gz: gz, tr: tar.NewReader(gz)}
	hdr, err := ar.header(manifestEntry)
	if err != nil {
		return nil, err
	}
	if hdr.Size > maxManifest {
		return nil, invalid("manifest of %d bytes", hdr.Size)
	}
	data, err := io.ReadAll(ar.tr)
	if err != nil {
		return nil, readErr("in the manifest", err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, invalid("manifest: %v", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	ar.m, ar.sum = &m, hex.EncodeToString(sum[:])
	return ar, nil
}

// readErr reports a failure to read the part of the archive where ("in the manifest", "before
// end.json", ...).
func readErr(where string, err error) error {
	if errors.Is(err, ErrInvalid) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return invalid("truncated %s", where)
	}
	return invalid("corrupted %s (%v)", where, err)
}

// header reads the next tar header and requires it to be name.
func (r *Reader) header(name string) (*tar.Header, error) {
	hdr, err := r.tr.Next()
	if err != nil {
		return nil, readErr("before "+name, err)
	}
	if hdr.Name != name || hdr.Typeflag != tar.TypeReg || hdr.Size < 0 {
		return nil, invalid("found entry %q where %s belongs", truncate(hdr.Name, 70), name)
	}
	return hdr, nil
}

// Manifest returns the archive's manifest.
func (r *Reader) Manifest() *Manifest { return r.m }

// Next returns the next table and a reader of its rows (COPY text). The reader fails with
// ErrInvalid, in place of io.EOF, if the rows are not exactly those the manifest describes.
func (r *Reader) Next() (*Table, io.Reader, error) {
	if r.cur != nil && !r.cur.done {
		if _, err := io.Copy(io.Discard, r.cur); err != nil {
			return nil, nil, err
		}
	}
	if r.next >= len(r.m.Tables) {
		return nil, nil, io.EOF
	}
	t := &r.m.Tables[r.next]
	hdr, err := r.header(tableEntry(r.next))
	if err != nil {
		return nil, nil, err
	}
	if hdr.Size != t.Bytes {
		return nil, nil, invalid("table %s: %d bytes, the manifest says %d", t.Name, hdr.Size, t.Bytes)
	}
	r.next++
	r.cur = &tableReader{r: r.tr, t: t, h: sha256.New()}
	return t, r.cur, nil
}

// Close reads the rest of the archive (tables not read are checked too) and checks the seal and
// the end of the compressed stream.
func (r *Reader) Close() error {
	for {
		_, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if r.cur != nil && !r.cur.done {
		if _, err := io.Copy(io.Discard, r.cur); err != nil {
			return err
		}
	}
	if _, err := r.header(endEntry); err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(r.tr, 1<<16))
	if err != nil {
		return readErr("in end.json", err)
	}
	var e end
	if err := json.Unmarshal(data, &e); err != nil {
		return invalid("end.json: %v", err)
	}
	if e.ManifestSHA256 != r.sum || e.Tables != len(r.m.Tables) {
		return invalid("the manifest was edited (its seal does not match)")
	}
	if hdr, err := r.tr.Next(); err == nil {
		return invalid("unexpected entry %q after end.json", truncate(hdr.Name, 70))
	} else if !errors.Is(err, io.EOF) {
		return readErr("at the end of the archive", err)
	}
	// The gzip trailer (CRC and length) is checked when the stream is read to its end.
	if _, err := io.Copy(io.Discard, r.gz); err != nil {
		return readErr("at the end of the archive", err)
	}
	return nil
}

// tableReader passes one table's rows through and checks them at their end.
type tableReader struct {
	r     io.Reader
	t     *Table
	h     hashWriter
	n     int64
	lines int64
	done  bool
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func (tr *tableReader) Read(p []byte) (int, error) {
	if tr.done {
		return 0, io.EOF
	}
	n, err := tr.r.Read(p)
	if n > 0 {
		_, _ = tr.h.Write(p[:n]) // a hash's Write never fails
		tr.n += int64(n)
		tr.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	}
	if errors.Is(err, io.EOF) {
		tr.done = true
		switch {
		case tr.n != tr.t.Bytes:
			return n, invalid("table %s truncated", tr.t.Name)
		case hex.EncodeToString(tr.h.Sum(nil)) != tr.t.SHA256:
			return n, invalid("table %s: rows do not match their checksum", tr.t.Name)
		case tr.lines != tr.t.Rows:
			return n, invalid("table %s: %d rows, the manifest says %d", tr.t.Name, tr.lines, tr.t.Rows)
		}
		return n, io.EOF
	}
	if err != nil {
		tr.done = true
		return n, readErr("in table "+tr.t.Name, err)
	}
	return n, nil
}
