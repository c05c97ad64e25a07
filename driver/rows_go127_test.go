//go:build go1.27

package driver

import (
	"database/sql"
	sqldriver "database/sql/driver"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

func init() {
	newerInterfaces["RowsColumnScanner"] = reflect.TypeFor[sqldriver.RowsColumnScanner]()
}

// scanningRows are fakeRows that scan columns themselves, as *stdlib.Rows
// does as of Go 1.27.
type scanningRows struct {
	fakeRows
	row []sqldriver.Value
}

func (r *scanningRows) NextRow() error {
	r.row = make([]sqldriver.Value, 1)
	return r.Next(r.row)
}

func (r *scanningRows) ScanColumn(scanCtx sqldriver.ScanContext, i int, dest any) error {
	return sql.ConvertAssign(scanCtx, dest, r.row[i])
}

// TestTxRowsNextRowEndsTransaction checks that NextRow, like Next, ends the
// transaction at the end of the rows and returns a failed commit's error in
// place of io.EOF, whether or not the wrapped rows scan columns themselves.
// (database/sql would report the failed commit anyway, from the Close that
// follows io.EOF: only a direct call tells the two apart.)
func TestTxRowsNextRowEndsTransaction(t *testing.T) {
	for _, scanning := range []bool{true, false} {
		var log []string
		fc := &fakeConn{f: &fakeConnector{log: &log, failOn: "COMMIT"}}
		var inner sqldriver.Rows = &fakeRows{c: fc, left: 1}
		if scanning {
			inner = &scanningRows{fakeRows: fakeRows{c: fc, left: 1}}
		}
		r := &txRows{conn: &Conn{execer: fc}, inner: inner}
		if err := r.NextRow(); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := r.ScanColumn(sqldriver.ScanContext{}, 0, &v); err != nil || v != "0" {
			t.Fatalf("scanning=%v: ScanColumn: %q, %v; want \"0\"", scanning, v, err)
		}
		wantLog(t, &log)
		err := r.NextRow()
		if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "COMMIT") {
			t.Fatalf("scanning=%v: NextRow at the end = %v, want the COMMIT failure", scanning, err)
		}
		wantLog(t, &log, "rows.close", "exec COMMIT")
		if err := r.Close(); err != nil {
			t.Fatalf("scanning=%v: Close after the end: %v", scanning, err)
		}
		wantLog(t, &log)
	}
}

// TestTxRowsScanWithoutColumnScanner checks the general path over a wrapped
// driver whose rows lack ScanColumn: values still go through database/sql's
// conversions, and the transaction still ends with the rows.
func TestTxRowsScanWithoutColumnScanner(t *testing.T) {
	var log []string
	db := fakeDB(t, &fakeConnector{log: &log})
	rows, err := db.QueryContext(acme(), "SELECT x FROM items")
	if err != nil {
		t.Fatal(err)
	}
	var got []any
	for rows.Next() {
		var s string
		var v any
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, s, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []any{"1", int64(1), "0", int64(0)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("scanned %#v, want %#v", got, want)
	}
	wantLog(t, &log, "exec BEGIN", setLocalAcme, "query SELECT x FROM items", "rows.close", "exec COMMIT")
}

type (
	namedBytes   []byte
	namedTime    time.Time
	selfPointer  *selfPointer
	valueScanner struct{}
	toScanner    *valueScanner
)

func (valueScanner) Scan(any) error { return nil }

// TestViaDriverValue pins which destinations pipeRows.ScanColumn fills from
// the driver.Value (database/sql's conversions) rather than with the pgx
// type map; the conformance test checks the outcome against stdlib.
func TestViaDriverValue(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		want bool
	}{
		{reflect.TypeFor[*bool](), true},
		{reflect.TypeFor[*uint16](), true},
		{reflect.TypeFor[*float32](), true},
		{reflect.TypeFor[***int64](), true},
		{reflect.TypeFor[*any](), true},
		{reflect.TypeFor[*sql.RawBytes](), true},
		{reflect.TypeFor[*json.RawMessage](), true},
		{reflect.TypeFor[*namedBytes](), true},
		{reflect.TypeFor[*namedTime](), true},
		{reflect.TypeFor[**time.Time](), true},
		{reflect.TypeFor[*sql.NullInt64](), true},
		{reflect.TypeFor[*sql.Null[string]](), true},
		{reflect.TypeFor[*pgtype.Int8](), true}, // a sql.Scanner
		{reflect.TypeFor[*sql.Scanner](), true},
		{reflect.TypeFor[toScanner](), true},
		{reflect.TypeFor[*toScanner](), true},

		{reflect.TypeFor[*[]int64](), false},
		{reflect.TypeFor[*[]*string](), false},
		{reflect.TypeFor[*[16]byte](), false},
		{reflect.TypeFor[*map[string]any](), false},
		{reflect.TypeFor[*struct{ A int }](), false},
		{reflect.TypeFor[*complex128](), false},
		{reflect.TypeFor[*pgtype.FlatArray[byte]](), false},
		{reflect.TypeFor[*pgtype.PreallocBytes](), false},
		{reflect.TypeFor[*pgtype.Array[int32]](), false},
		{reflect.TypeFor[*pgtype.Range[pgtype.Int4]](), false},
		{reflect.TypeFor[*pgtype.Multirange[pgtype.Range[pgtype.Int8]]](), false},
		{reflect.TypeFor[selfPointer](), false},
		{reflect.TypeFor[*selfPointer](), false},
	}
	for _, tt := range tests {
		for range 2 { // uncached, then cached
			if got := viaDriverValue(tt.typ); got != tt.want {
				t.Errorf("viaDriverValue(%v) = %v, want %v", tt.typ, got, tt.want)
			}
		}
	}
}
