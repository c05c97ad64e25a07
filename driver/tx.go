package driver

import sqldriver "database/sql/driver"

// tx ends a database/sql transaction and releases the connection's tenant pin.
type tx struct {
	conn  *Conn
	inner sqldriver.Tx
}

var _ sqldriver.Tx = (*tx)(nil)

func (t *tx) Commit() error   { return t.end(t.inner.Commit()) }
func (t *tx) Rollback() error { return t.end(t.inner.Rollback()) }

// end releases the pin. A session-level binding is always committed before
// BEGIN, so neither outcome undoes it; an error leaves the session unknown.
func (t *tx) end(err error) error {
	t.conn.tx = nil
	t.conn.used() // COMMIT and ROLLBACK went as simple queries
	if err != nil {
		t.conn.sess.known = false
	}
	return err
}
