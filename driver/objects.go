package driver

import (
	"context"
	"strings"
)

// Session objects are what a server session keeps between statements
// besides settings: temporary tables, open cursors (WITH HOLD ones survive
// their transaction), LISTEN registrations, session-level advisory locks and
// statements prepared with SQL PREPARE. On a pooled connection they outlive
// the request that made them. With WithClearObjects the driver clears them
// whenever the connection's tenant changes, in the same write as the
// binding (segment 1 of a request, committed on its own).

// clearSQL clears every session object. Statements pgx prepares over the
// protocol are not touched (from_sql is false for them), so pgx's statement
// cache survives; DISCARD ALL would break it and cannot run in a pipeline.
var clearSQL = []string{
	"CLOSE ALL",
	"UNLISTEN *",
	"SELECT pg_catalog.pg_advisory_unlock_all()",
	"DISCARD TEMP",
	`DO $pgxtenant$DECLARE r record; BEGIN
FOR r IN SELECT name FROM pg_catalog.pg_prepared_statements WHERE from_sql LOOP
EXECUTE pg_catalog.format('DEALLOCATE %I', r.name);
END LOOP; END$pgxtenant$`,
}

// clearSimpleSQL is clearSQL as one simple-protocol string, for the general
// path: one round trip, one implicit transaction.
var clearSimpleSQL = strings.Join(clearSQL, "; ")

// objectsState tracks whose session objects may exist on the connection.
type objectsState struct {
	owner binding
	owned bool // objects created under owner may exist
	dirty bool // objects of any tenant may exist: clear before the next statement
	// inTx says the last clearing ran inside a transaction the application
	// opened with SQL: once it ends (it may have rolled back, bringing back
	// what was cleared), clear again.
	inTx bool
}

// needClear reports whether a statement for b must clear the session first.
func (c *Conn) needClear(b binding) bool {
	if !c.cfg.clearObjects {
		return false
	}
	o := &c.objs
	if o.inTx && !c.inServerTx() {
		o.dirty, o.inTx = true, false
	}
	return o.dirty || o.owned && o.owner != b
}

// ranFor records that a statement (or BEGIN) for b reached the server,
// after clearing if cleared. inTx says whether it ran inside a transaction
// the application opened with SQL.
func (c *Conn) ranFor(b binding, cleared, inTx bool) {
	if !c.cfg.clearObjects {
		return
	}
	o := &c.objs
	if cleared {
		o.inTx = inTx
	}
	o.owner, o.owned, o.dirty = b, true, false
}

// clearObjects clears the session objects in an exchange of its own
// (general path).
func (c *Conn) clearObjects(ctx context.Context) error {
	c.used()
	if _, err := c.execer.ExecContext(ctx, clearSimpleSQL, nil); err != nil {
		c.objs.dirty = true
		return err
	}
	return nil
}
