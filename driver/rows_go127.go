//go:build go1.27

package driver

import (
	"database/sql"
	sqldriver "database/sql/driver"
)

// As of Go 1.27 *stdlib.Rows scans columns itself, and database/sql then
// calls NextRow and ScanColumn instead of Next.
var _ sqldriver.RowsColumnScanner = (*txRows)(nil)

// NextRow is Next for column scanning: the commit's error comes in place of
// io.EOF.
func (r *txRows) NextRow() error {
	if x, ok := r.inner.(sqldriver.RowsColumnScanner); ok {
		return r.advanced(x.NextRow())
	}
	if r.row == nil {
		r.row = make([]sqldriver.Value, len(r.inner.Columns()))
	}
	return r.Next(r.row)
}

// ScanColumn lets inner scan, or, when it cannot (a wrapped driver other
// than pgx), converts the value Next read as database/sql does for rows
// without ScanColumn.
func (r *txRows) ScanColumn(scanCtx sqldriver.ScanContext, i int, dest any) error {
	if x, ok := r.inner.(sqldriver.RowsColumnScanner); ok {
		return x.ScanColumn(scanCtx, i, dest)
	}
	return sql.ConvertAssign(scanCtx, dest, r.row[i])
}
