package tenancysql

import (
	"database/sql/driver"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// rows turns pgx's rows into driver values, one conversion per column planned on the first row.
type rows struct {
	rows   pgx.Rows
	fields []pgconn.FieldDescription
	conv   []func(src []byte) (driver.Value, error)
}

var _ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)

func newRows(r pgx.Rows) *rows { return &rows{rows: r, fields: r.FieldDescriptions()} }

func (r *rows) Columns() []string {
	names := make([]string, len(r.fields))
	for i, f := range r.fields {
		names[i] = f.Name
	}
	return names
}

// ColumnTypeDatabaseTypeName returns the column's type name in upper case (INT8, TEXT, ...), or
// its OID for a type pgx does not know.
func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.rows.Conn().TypeMap().TypeForOID(r.fields[i].DataTypeOID); ok {
		return strings.ToUpper(t.Name)
	}
	return strconv.FormatUint(uint64(r.fields[i].DataTypeOID), 10)
}

func (r *rows) Close() error {
	r.rows.Close()
	return r.rows.Err()
}

func (r *rows) Next(dest []driver.Value) error {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	if r.conv == nil {
		m := r.rows.Conn().TypeMap()
		r.conv = make([]func([]byte) (driver.Value, error), len(r.fields))
		for i, f := range r.fields {
			r.conv[i] = converter(m, f)
		}
	}
	for i, src := range r.rows.RawValues() {
		if src == nil {
			dest[i] = nil
			continue
		}
		v, err := r.conv[i](src)
		if err != nil {
			return fmt.Errorf("tenancysql: column %q: %w", r.fields[i].Name, err)
		}
		dest[i] = v
	}
	return nil
}

// converter returns the conversion of f's values to the driver.Value types database/sql scans
// from: pgx decodes into T (a []byte into a new slice each time, as database/sql needs), then to
// returns the value.
func converter(m *pgtype.Map, f pgconn.FieldDescription) func([]byte) (driver.Value, error) {
	switch f.DataTypeOID {
	case pgtype.BoolOID:
		return scan(m, f, func(v bool) (driver.Value, error) { return v, nil })
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		return scan(m, f, func(v int64) (driver.Value, error) { return v, nil })
	case pgtype.OIDOID, pgtype.XIDOID, pgtype.CIDOID:
		return scan(m, f, pgtype.Uint32.Value)
	case pgtype.Float4OID, pgtype.Float8OID:
		return scan(m, f, func(v float64) (driver.Value, error) { return v, nil })
	case pgtype.ByteaOID, pgtype.JSONOID, pgtype.JSONBOID:
		return scan(m, f, func(v []byte) (driver.Value, error) { return v, nil })
	case pgtype.DateOID:
		return scan(m, f, pgtype.Date.Value)
	case pgtype.TimestampOID:
		return scan(m, f, pgtype.Timestamp.Value)
	case pgtype.TimestamptzOID:
		return scan(m, f, pgtype.Timestamptz.Value)
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.NumericOID, pgtype.UUIDOID:
		return scan(m, f, func(v string) (driver.Value, error) { return v, nil })
	}
	if f.Format == pgtype.TextFormatCode {
		// PostgreSQL's own text: types pgx does not know (enums, domains of them, extensions').
		return func(src []byte) (driver.Value, error) { return string(src), nil }
	}
	// Other types pgx reads in binary (interval, arrays, inet, ...): decoded, then
	// written in PostgreSQL's text form, which the types' sql.Scanner implementations read.
	return func(src []byte) (driver.Value, error) {
		t, ok := m.TypeForOID(f.DataTypeOID)
		if !ok {
			return nil, fmt.Errorf("type OID %d in binary format is unknown", f.DataTypeOID)
		}
		v, err := t.Codec.DecodeValue(m, f.DataTypeOID, f.Format, src)
		if err != nil {
			return nil, err
		}
		text, err := m.Encode(f.DataTypeOID, pgtype.TextFormatCode, v, nil)
		if err != nil { // ranges, say
			return nil, fmt.Errorf("%w (cast the column to text in the query)", err)
		}
		return string(text), nil
	}
}

func scan[T any](m *pgtype.Map, f pgconn.FieldDescription, to func(T) (driver.Value, error)) func([]byte) (driver.Value, error) {
	var v T
	plan := m.PlanScan(f.DataTypeOID, f.Format, &v)
	return func(src []byte) (driver.Value, error) {
		if err := plan.Scan(src, &v); err != nil {
			return nil, err
		}
		return to(v)
	}
}
