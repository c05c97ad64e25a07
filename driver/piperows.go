package driver

import (
	sqldriver "database/sql/driver"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// pipeRows are the rows of a pipelined statement. pgx stdlib's Rows cannot
// be built from outside its package, so this type reproduces its contract:
// the same driver.Value for every column type, the same column metadata, and
// the same optional interfaces (checked by TestOptionalInterfacesMatchStdlib;
// the values by the conformance test).
type pipeRows struct {
	m      *pgtype.Map
	s      *sent
	rr     *pgconn.ResultReader
	fields []pgconn.FieldDescription // copied: pgconn reuses its slice
	conv   []func([]byte) (sqldriver.Value, error)
	names  []string

	preloaded bool // the first row is read but not yet returned
	closed    bool
}

var (
	_ sqldriver.Rows                           = (*pipeRows)(nil)
	_ sqldriver.RowsColumnTypeDatabaseTypeName = (*pipeRows)(nil)
	_ sqldriver.RowsColumnTypeLength           = (*pipeRows)(nil)
	_ sqldriver.RowsColumnTypePrecisionScale   = (*pipeRows)(nil)
	_ sqldriver.RowsColumnTypeScanType         = (*pipeRows)(nil)
)

func newPipeRows(m *pgtype.Map, s *sent) *pipeRows {
	rr := s.rr
	r := &pipeRows{m: m, s: s, rr: rr}
	r.fields = append([]pgconn.FieldDescription(nil), rr.FieldDescriptions()...)
	r.conv = make([]func([]byte) (sqldriver.Value, error), len(r.fields))
	for i, f := range r.fields {
		r.conv[i] = converter(m, f.DataTypeOID, f.Format)
	}
	return r
}

// preload reads the first row, so that an error in it is returned by
// QueryContext rather than by the first Next.
func (r *pipeRows) preload() error {
	if r.rr.NextRow() {
		r.preloaded = true
		return nil
	}
	if err := r.finish(); err != nil {
		return err
	}
	return nil
}

func (r *pipeRows) Columns() []string {
	if r.names == nil {
		r.names = make([]string, len(r.fields))
		for i, f := range r.fields {
			r.names[i] = f.Name
		}
	}
	return r.names
}

func (r *pipeRows) Next(dest []sqldriver.Value) error {
	if err := r.advance(); err != nil {
		return err
	}
	for i, raw := range r.rr.Values() {
		if raw == nil {
			dest[i] = nil
			continue
		}
		v, err := r.conv[i](raw)
		if err != nil {
			return fmt.Errorf("convert field %d failed: %w", i, err)
		}
		dest[i] = v
	}
	return nil
}

// advance makes the next row current: the preloaded one first. At the end
// it finishes the rows, and returns their error in place of io.EOF.
func (r *pipeRows) advance() error {
	switch {
	case r.closed:
		return io.EOF
	case r.preloaded:
		r.preloaded = false
	case !r.rr.NextRow():
		if err := r.finish(); err != nil {
			return err
		}
		return io.EOF
	}
	return nil
}

// finish reads the statement's completion and the end of the implicit
// transaction; an error there (a failed commit, say) is the rows' error.
func (r *pipeRows) finish() error {
	if r.closed {
		return nil
	}
	r.closed = true
	_, err := r.rr.Close()
	if cerr := r.s.end(); err == nil {
		err = cerr
	}
	return err
}

func (r *pipeRows) Close() error { return r.finish() }

func (r *pipeRows) ColumnTypeDatabaseTypeName(i int) string {
	oid := r.fields[i].DataTypeOID
	if t, ok := r.m.TypeForOID(oid); ok {
		return strings.ToUpper(t.Name)
	}
	return strconv.FormatUint(uint64(oid), 10)
}

// typmodHeader is the 4 bytes PostgreSQL adds to character type modifiers.
const typmodHeader = 4

func (r *pipeRows) ColumnTypeLength(i int) (int64, bool) {
	f := r.fields[i]
	switch f.DataTypeOID {
	case pgtype.TextOID, pgtype.ByteaOID:
		return math.MaxInt64, true
	case pgtype.VarcharOID, pgtype.BPCharOID:
		return int64(f.TypeModifier - typmodHeader), true
	case pgtype.VarbitOID:
		return int64(f.TypeModifier), true
	}
	return 0, false
}

func (r *pipeRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	f := r.fields[i]
	if f.DataTypeOID != pgtype.NumericOID {
		return 0, 0, false
	}
	mod := f.TypeModifier - typmodHeader
	return int64((mod >> 16) & 0xffff), int64(mod & 0xffff), true
}

func (r *pipeRows) ColumnTypeScanType(i int) reflect.Type {
	switch r.fields[i].DataTypeOID {
	case pgtype.Float8OID, pgtype.NumericOID:
		return reflect.TypeFor[float64]()
	case pgtype.Float4OID:
		return reflect.TypeFor[float32]()
	case pgtype.Int8OID:
		return reflect.TypeFor[int64]()
	case pgtype.Int4OID:
		return reflect.TypeFor[int32]()
	case pgtype.Int2OID:
		return reflect.TypeFor[int16]()
	case pgtype.BoolOID:
		return reflect.TypeFor[bool]()
	case pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID:
		return reflect.TypeFor[time.Time]()
	case pgtype.ByteaOID:
		return reflect.TypeFor[[]byte]()
	}
	return reflect.TypeFor[string]()
}

// converter returns the function that turns one raw column value into the
// driver.Value pgx stdlib produces for that type: native Go values for the
// types stdlib fetches in binary, the text form for everything else.
func converter(m *pgtype.Map, oid uint32, format int16) func([]byte) (sqldriver.Value, error) {
	switch oid {
	case pgtype.BoolOID:
		return scanAs[bool](m, oid, format, func(v bool) (sqldriver.Value, error) { return v, nil })
	case pgtype.ByteaOID, pgtype.JSONOID, pgtype.JSONBOID, pgtype.XMLOID:
		return scanAs[[]byte](m, oid, format, func(v []byte) (sqldriver.Value, error) { return v, nil })
	case pgtype.CIDOID, pgtype.OIDOID, pgtype.XIDOID:
		return scanAs[pgtype.Uint32](m, oid, format, pgtype.Uint32.Value)
	case pgtype.DateOID:
		return scanAs[pgtype.Date](m, oid, format, pgtype.Date.Value)
	case pgtype.Float4OID:
		return scanAs[float32](m, oid, format, func(v float32) (sqldriver.Value, error) { return float64(v), nil })
	case pgtype.Float8OID:
		return scanAs[float64](m, oid, format, func(v float64) (sqldriver.Value, error) { return v, nil })
	case pgtype.Int2OID:
		return scanAs[int16](m, oid, format, func(v int16) (sqldriver.Value, error) { return int64(v), nil })
	case pgtype.Int4OID:
		return scanAs[int32](m, oid, format, func(v int32) (sqldriver.Value, error) { return int64(v), nil })
	case pgtype.Int8OID:
		return scanAs[int64](m, oid, format, func(v int64) (sqldriver.Value, error) { return v, nil })
	case pgtype.TimestampOID:
		return scanAs[pgtype.Timestamp](m, oid, format, pgtype.Timestamp.Value)
	case pgtype.TimestamptzOID:
		return scanAs[pgtype.Timestamptz](m, oid, format, pgtype.Timestamptz.Value)
	}
	return scanAs[string](m, oid, format, func(v string) (sqldriver.Value, error) { return v, nil })
}

// scanAs plans a scan of (oid, format) into a T once and applies it, then
// value, to each raw value.
func scanAs[T any](m *pgtype.Map, oid uint32, format int16, value func(T) (sqldriver.Value, error)) func([]byte) (sqldriver.Value, error) {
	var probe T
	plan := m.PlanScan(oid, format, &probe)
	return func(src []byte) (sqldriver.Value, error) {
		var v T
		if err := plan.Scan(src, &v); err != nil {
			return nil, err
		}
		return value(v)
	}
}
