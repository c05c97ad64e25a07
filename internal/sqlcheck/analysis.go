package sqlcheck

import (
	"errors"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ErrSyntax is wrapped by the error Analyze returns for SQL the parser rejects.
var ErrSyntax = errors.New("SQL could not be parsed")

// Analysis is what one parse of a SQL text tells the driver. It is immutable
// and shared between goroutines once returned.
type Analysis struct {
	// Statements is the number of statements in the text (a zero-argument
	// Exec may run several through the simple protocol).
	Statements int
	// Tamper, when not empty, names the construct through which the text
	// would change the tenant setting or the session's identity, for
	// example "SET ROLE" or "set_config of app.tenant_id".
	Tamper string
	// NoTxBlock is set when the text is a single statement that PostgreSQL
	// refuses inside a transaction block (VACUUM, CREATE INDEX CONCURRENTLY,
	// CREATE DATABASE, …).
	NoTxBlock bool
	// TxControl is set when the text contains transaction control
	// (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION, …).
	TxControl bool
	// Opaque is set when the text runs code the parser cannot see into
	// (DO blocks, CALL): such code may change session state.
	Opaque bool
}

// analyze parses sql and classifies it for the tenant setting named setting
// (lower case).
func analyze(sql, setting string) (*Analysis, error) {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	a := &Analysis{Statements: len(tree.Stmts)}
	c := checker{setting: setting, a: a}
	for _, raw := range tree.Stmts {
		root := raw.GetStmt()
		if root == nil {
			continue
		}
		c.root(root)
		walk(root.ProtoReflect(), c.node)
	}
	if a.Statements != 1 {
		a.NoTxBlock = false
	}
	return a, nil
}

type checker struct {
	setting string
	a       *Analysis
}

func (c *checker) tamper(reason string) {
	if c.a.Tamper == "" {
		c.a.Tamper = reason
	}
}

// root classifies a top-level statement.
func (c *checker) root(n *pg_query.Node) {
	switch s := n.Node.(type) {
	case *pg_query.Node_VariableSetStmt:
		if s.VariableSetStmt.Kind == pg_query.VariableSetKind_VAR_RESET_ALL {
			c.tamper("RESET ALL")
		}
	case *pg_query.Node_DiscardStmt:
		c.tamper("DISCARD")
	case *pg_query.Node_TransactionStmt:
		c.a.TxControl = true
		k := s.TransactionStmt.Kind
		if k == pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED ||
			k == pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED {
			c.a.NoTxBlock = true
		}
	case *pg_query.Node_DoStmt, *pg_query.Node_CallStmt:
		c.a.Opaque = true
	case *pg_query.Node_VacuumStmt:
		c.a.NoTxBlock = s.VacuumStmt.IsVacuumcmd
	case *pg_query.Node_CreatedbStmt, *pg_query.Node_DropdbStmt, *pg_query.Node_AlterDatabaseStmt,
		*pg_query.Node_CreateTableSpaceStmt, *pg_query.Node_DropTableSpaceStmt, *pg_query.Node_AlterSystemStmt,
		*pg_query.Node_CreateSubscriptionStmt, *pg_query.Node_AlterSubscriptionStmt, *pg_query.Node_DropSubscriptionStmt:
		c.a.NoTxBlock = true
	case *pg_query.Node_ClusterStmt:
		c.a.NoTxBlock = s.ClusterStmt.Relation == nil
	case *pg_query.Node_IndexStmt:
		c.a.NoTxBlock = s.IndexStmt.Concurrent
	case *pg_query.Node_DropStmt:
		c.a.NoTxBlock = s.DropStmt.Concurrent
	case *pg_query.Node_ReindexStmt:
		r := s.ReindexStmt
		c.a.NoTxBlock = r.Kind == pg_query.ReindexObjectType_REINDEX_OBJECT_SYSTEM ||
			r.Kind == pg_query.ReindexObjectType_REINDEX_OBJECT_DATABASE || hasDefElem(r.Params, "concurrently")
	case *pg_query.Node_AlterTableStmt:
		for _, cmd := range s.AlterTableStmt.Cmds {
			if pc := cmd.GetAlterTableCmd().GetDef().GetPartitionCmd(); pc != nil && pc.Concurrent {
				c.a.NoTxBlock = true
			}
		}
	}
}

// node inspects every node of the tree, however deeply nested: a set_config
// call hides as easily in a CTE or a sub-select as at the top.
func (c *checker) node(m protoreflect.ProtoMessage) {
	switch n := m.(type) {
	case *pg_query.VariableSetStmt:
		name := strings.ToLower(n.Name)
		switch {
		case name == c.setting:
			c.tamper("SET/RESET of " + c.setting)
		case name == "role":
			c.tamper("SET ROLE")
		case name == "session_authorization":
			c.tamper("SET SESSION AUTHORIZATION")
		}
	case *pg_query.FuncCall:
		if funcName(n.Funcname) != "set_config" {
			return
		}
		if len(n.Args) == 0 {
			return // not the built-in; the server rejects the call
		}
		name, ok := constString(n.Args[0])
		switch {
		case !ok:
			c.tamper("set_config with a setting name that is not a constant")
		case name == c.setting:
			c.tamper("set_config of " + c.setting)
		case name == "role" || name == "session_authorization":
			c.tamper("set_config of " + name)
		}
	case *pg_query.UpdateStmt:
		if n.Relation != nil && strings.EqualFold(n.Relation.Relname, "pg_settings") {
			c.tamper("UPDATE of pg_settings")
		}
	case *pg_query.DoStmt:
		c.body(n.Args, "DO block")
	case *pg_query.CreateFunctionStmt:
		c.body(n.Options, "function body")
	}
}

// body looks into the source text of a DO block or function. The parser
// cannot see inside procedural code, so a plain-text match on the words that
// change the setting is the best available, and errs on the side of refusal.
func (c *checker) body(opts []*pg_query.Node, what string) {
	for _, o := range opts {
		d := o.GetDefElem()
		if d == nil || d.Defname != "as" {
			continue
		}
		var text strings.Builder
		walk(d.ProtoReflect(), func(m protoreflect.ProtoMessage) {
			if s, ok := m.(*pg_query.String); ok {
				text.WriteString(strings.ToLower(s.Sval))
				text.WriteByte(' ')
			}
		})
		t := text.String()
		for _, word := range []string{c.setting, "set_config", "pg_settings", "set role", "session authorization", "reset all", "discard"} {
			if strings.Contains(t, word) {
				c.tamper(what + " mentioning " + word)
				return
			}
		}
	}
}

func hasDefElem(params []*pg_query.Node, name string) bool {
	for _, p := range params {
		if d := p.GetDefElem(); d != nil && d.Defname == name {
			return true
		}
	}
	return false
}

// funcName returns the unqualified, lower-cased name of a function call, so
// pg_catalog.set_config and "set_config" both read as set_config.
func funcName(parts []*pg_query.Node) string {
	if len(parts) == 0 {
		return ""
	}
	return strings.ToLower(parts[len(parts)-1].GetString_().GetSval())
}

// constString returns the lower-cased value of a string constant, looking
// through casts such as 'app.tenant_id'::text.
func constString(n *pg_query.Node) (string, bool) {
	for {
		if tc := n.GetTypeCast(); tc != nil {
			n = tc.Arg
			continue
		}
		break
	}
	ac := n.GetAConst()
	if ac == nil || ac.Isnull {
		return "", false
	}
	sv, ok := ac.Val.(*pg_query.A_Const_Sval)
	if !ok {
		return "", false
	}
	return strings.ToLower(sv.Sval.Sval), true
}

// walk calls visit for m and every message below it.
func walk(m protoreflect.Message, visit func(protoreflect.ProtoMessage)) {
	visit(m.Interface())
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walk(l.Get(i).Message(), visit)
			}
			return true
		}
		walk(v.Message(), visit)
		return true
	})
}
