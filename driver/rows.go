package driver

import (
	sqldriver "database/sql/driver"
	"errors"
	"io"
	"reflect"
)

// txRows are the rows of a statement that runs in a transaction of its own
// (ScopeTransaction): the transaction ends when the rows are exhausted or
// closed. It forwards the optional interfaces *stdlib.Rows implements.
type txRows struct {
	conn   *Conn
	inner  sqldriver.Rows
	failed bool // an error was seen: roll back instead of commit
	done   bool

	// row is the current row when database/sql scans column by column
	// (Go 1.27) and inner cannot: see rows_go127.go.
	row []sqldriver.Value
}

var (
	_ sqldriver.Rows                           = (*txRows)(nil)
	_ sqldriver.RowsColumnTypeDatabaseTypeName = (*txRows)(nil)
	_ sqldriver.RowsColumnTypeLength           = (*txRows)(nil)
	_ sqldriver.RowsColumnTypePrecisionScale   = (*txRows)(nil)
	_ sqldriver.RowsColumnTypeScanType         = (*txRows)(nil)
)

func (c *Conn) wrapRows(r sqldriver.Rows) sqldriver.Rows {
	return &txRows{conn: c, inner: r}
}

func (r *txRows) Columns() []string { return r.inner.Columns() }

// Next returns the commit's error in place of io.EOF, so a failed commit
// reaches rows.Err() instead of being lost.
func (r *txRows) Next(dest []sqldriver.Value) error { return r.advanced(r.inner.Next(dest)) }

// advanced turns what inner answered to a move to the next row (Next, or
// NextRow) into txRows' answer, ending the transaction at the end.
func (r *txRows) advanced(err error) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, io.EOF) {
		r.failed = true
		return err
	}
	if ferr := r.finish(); ferr != nil {
		return ferr
	}
	return io.EOF
}

func (r *txRows) Close() error { return r.finish() }

func (r *txRows) finish() error {
	if r.done {
		return nil
	}
	r.done = true
	err := r.inner.Close()
	if err != nil || r.failed {
		r.conn.endLocal(false)
		return err
	}
	return r.conn.endLocal(true)
}

func (r *txRows) ColumnTypeDatabaseTypeName(i int) string {
	if x, ok := r.inner.(sqldriver.RowsColumnTypeDatabaseTypeName); ok {
		return x.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *txRows) ColumnTypeLength(i int) (int64, bool) {
	if x, ok := r.inner.(sqldriver.RowsColumnTypeLength); ok {
		return x.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *txRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if x, ok := r.inner.(sqldriver.RowsColumnTypePrecisionScale); ok {
		return x.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *txRows) ColumnTypeScanType(i int) reflect.Type {
	if x, ok := r.inner.(sqldriver.RowsColumnTypeScanType); ok {
		return x.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
