package driver

import sqldriver "database/sql/driver"

// tx ends a database/sql transaction and releases the connection's tenant pin.
type tx struct {
	conn      *Conn
	inner     sqldriver.Tx
	setInside bool // the session setting was set inside this transaction
}

var _ sqldriver.Tx = (*tx)(nil)

func (t *tx) Commit() error   { return t.end(t.inner.Commit(), false) }
func (t *tx) Rollback() error { return t.end(t.inner.Rollback(), true) }

func (t *tx) end(err error, rollback bool) error {
	t.conn.tx = nil
	if err != nil || (rollback && t.setInside) {
		t.conn.sess.known = false
	}
	return err
}
