//go:build go1.27

package driver

import (
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// As of Go 1.27 *stdlib.Rows scans columns itself; pipeRows does it the
// same way, so a destination gets the same value through either.
var _ sqldriver.RowsColumnScanner = (*pipeRows)(nil)

func (r *pipeRows) NextRow() error { return r.advance() }

// ScanColumn fills dest as stdlib does: a destination database/sql knows
// (see viaDriverValue) gets the column's driver.Value through database/sql's
// conversions, so Scan behaves as it did before Go 1.27; any other (a Go
// slice, pgtype.Array, pgtype.Range, …) is scanned from the raw value by the
// connection's type map.
func (r *pipeRows) ScanColumn(scanCtx sqldriver.ScanContext, i int, dest any) error {
	if dest == nil {
		return errors.New("destination not a pointer")
	}
	v := reflect.ValueOf(dest)
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return errors.New("destination pointer is nil")
	}
	raw := r.rr.Values()[i]
	if !viaDriverValue(v.Type()) {
		f := r.fields[i]
		return r.m.Scan(f.DataTypeOID, f.Format, raw, dest)
	}
	var value sqldriver.Value
	if raw != nil {
		var err error
		if value, err = r.conv[i](raw); err != nil {
			return err
		}
	}
	return sql.ConvertAssign(scanCtx, dest, value)
}

// viaDriverValueOf caches viaDriverValue by destination type.
var viaDriverValueOf sync.Map // reflect.Type → bool

// viaDriverValue reports whether stdlib's ScanColumn fills a destination of
// type t through the driver.Value: a sql.Scanner, or (pointers, at any
// depth, to) a scalar, an interface, a byte slice or a time.Time-like
// struct. pgx's own byte-slice types (FlatArray[byte], PreallocBytes) look
// like []byte but are scanned by pgx.
func viaDriverValue(t reflect.Type) bool {
	if v, ok := viaDriverValueOf.Load(t); ok {
		return v.(bool)
	}
	v := classifyDest(t)
	viaDriverValueOf.Store(t, v)
	return v
}

var (
	scannerType      = reflect.TypeFor[sql.Scanner]()
	arraySetterType  = reflect.TypeFor[pgtype.ArraySetter]()
	bytesScannerType = reflect.TypeFor[pgtype.BytesScanner]()
	timeType         = reflect.TypeFor[time.Time]()
)

func classifyDest(t reflect.Type) bool {
	var seen map[reflect.Type]bool // pointer types visited: type P *P never ends
	for {
		switch {
		case t.Implements(scannerType):
			return true
		case t.Implements(arraySetterType), t.Implements(bytesScannerType):
			return false
		case t.Kind() != reflect.Pointer:
			return scalarKind(t)
		case seen[t]:
			return false
		}
		if seen == nil {
			seen = make(map[reflect.Type]bool)
		}
		seen[t] = true
		t = t.Elem()
	}
}

// scalarKind reports whether database/sql converts driver.Values into a t.
func scalarKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Interface,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Uint8
	case reflect.Struct:
		return t.ConvertibleTo(timeType)
	}
	return false
}
