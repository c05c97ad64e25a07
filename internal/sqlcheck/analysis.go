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

// StatementPrefix starts the name of every server-side object the driver
// creates (the statements its pipeline prepares; database/sql Stmts are
// prepared by pgx under their own text). SQL that prepares, executes or
// deallocates a statement whose name starts with it (in any case) is
// tampering: user code could otherwise replace the driver's statements or
// remove them from under the driver.
const StatementPrefix = "pgxtenant_"

// Analysis is what one parse of a SQL text tells the driver. It is immutable
// and shared between goroutines once returned.
type Analysis struct {
	// Statements is the number of statements in the text (a zero-argument
	// Exec may run several through the simple protocol).
	Statements int
	// Tamper, when not empty, names the construct through which the text
	// would change the tenant setting or the session's identity, run or
	// remove the driver's own prepared statements, or change how the
	// server reads SQL text; for example "SET ROLE", "set_config of
	// app.tenant_id" or "set_config of app.tenant_id in SQL passed to
	// query_to_xml".
	Tamper string
	// NoTxBlock is set when the text is a single statement that PostgreSQL
	// refuses inside a transaction block (VACUUM, CREATE INDEX CONCURRENTLY,
	// CREATE DATABASE, COMMIT PREPARED, …).
	NoTxBlock bool
	// TxControl is set when the text contains transaction control
	// (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION, …).
	TxControl bool
	// TxBoundary is set when the text contains a statement that opens or
	// ends the session's transaction: BEGIN, START TRANSACTION, COMMIT,
	// END, ROLLBACK, ABORT (with or without AND CHAIN), PREPARE
	// TRANSACTION. SAVEPOINT, RELEASE and ROLLBACK TO stay inside the
	// transaction, and COMMIT/ROLLBACK PREPARED end another, prepared one:
	// they set TxControl only.
	TxBoundary bool
	// SetTransaction is set when the text is exactly one statement that
	// PostgreSQL accepts only before the first query of a transaction:
	// SET [LOCAL|SESSION] TRANSACTION <modes> (isolation level, READ
	// ONLY/WRITE, [NOT] DEFERRABLE), SET TRANSACTION SNAPSHOT, and
	// SET transaction_isolation/transaction_read_only/
	// transaction_deferrable = …. Such a statement must run before the
	// tenant is bound (the binding is a query). SET SESSION
	// CHARACTERISTICS AS TRANSACTION changes later transactions and is not
	// one.
	SetTransaction bool
	// LeadingSetTransaction is set when the text's first statement is one
	// that SetTransaction describes, whatever follows it.
	LeadingSetTransaction bool
	// UndoThenRun is set when the text rolls back (ROLLBACK, ABORT,
	// ROLLBACK TO [SAVEPOINT]) and then runs more statements: a binding
	// made before the text may be undone before they run.
	UndoThenRun bool
	// LeavesTxOpen is set when a text of several statements opens a
	// transaction (BEGIN, START TRANSACTION) and does not end it.
	LeavesTxOpen bool
	// CopyStdio is set when the text copies to or from the client (COPY …
	// TO STDOUT / FROM STDIN), which needs the protocol's copy
	// sub-protocol rather than a plain result.
	CopyStdio bool
	// Opaque is set when the text runs code the parser cannot see into
	// (DO blocks, CALL): such code may change session state.
	Opaque bool
	// Scope is the scope analysis (relation references and the tenant
	// constraints on them), when the Analyzer was asked for it.
	Scope *Scope
	// Lifted says Scope is that of the text's shape: its literals are the
	// parameters $1, $2, … (their values: Literals of the text; positions
	// map back with OriginalPos).
	Lifted bool
	// Rewrite is the statement scoped to the tenant, when the Analyzer
	// rewrites (SetRewrite) and a reference or an INSERT needs it; nil
	// otherwise. RewriteErr says why a text that needed a rewrite has
	// none (the deparser refused its tree).
	Rewrite    *Rewrite
	RewriteErr error
}

// maxNesting bounds how deep SQL passed as text to a function that runs it
// (SQL given to query_to_xml that itself calls query_to_xml, …) is
// followed; deeper text is refused rather than analysed without limit.
const maxNesting = 8

// textSettings are the run-time settings that change how the server turns
// the bytes of a statement, or of a text parameter, into tokens and
// strings. The parser here assumes their defaults; once one changes, the
// server may read a different statement than the one analysed:
//
//   - standard_conforming_strings=off makes '\' an escape in '…' literals,
//     so 'a\' OR set_config(…) --' is one string to the parser and code to
//     the server (and the reverse);
//   - client_encoding (also SET NAMES) makes the server re-decode the bytes:
//     in SJIS, BIG5, GBK, GB18030 and UHC the second byte of a character
//     can be '\', which then stops being an escape or a quote, and text
//     parameters arrive as different strings;
//   - backslash_quote decides whether \' is accepted inside a literal, so
//     the two parsers could disagree on where a string ends.
//
// Settings that only change values, not tokens, are left alone:
// escape_string_warning (a warning), array_nulls (an array element, not
// the statement), transform_null_equals (applied after parsing, to
// "= NULL" literally, never to a bound tenant), lc_* (formatting and
// messages; identifier case folding uses the fixed database encoding),
// DateStyle, IntervalStyle, xmloption, bytea_output, extra_float_digits
// (how values are read or printed), quote_all_identifiers (output only),
// search_path (name resolution: functions reached through it were created
// with CREATE FUNCTION, whose body is checked).
var textSettings = []string{"standard_conforming_strings", "client_encoding", "backslash_quote"}

func isTextSetting(name string) bool {
	for _, s := range textSettings {
		if name == s {
			return true
		}
	}
	return false
}

// analyze parses sql and classifies it for the tenant setting named setting
// (lower case).
func analyze(sql, setting string) (*Analysis, error) {
	return analyzeAt(sql, setting, 0)
}

// analyzeScope is analyze with the scope analysis for the tenant column
// column ("" for none), from the same parse.
func analyzeScope(sql, setting, column string, rw Tables) (*Analysis, error) {
	if column == "" {
		return analyze(sql, setting)
	}
	// pgx named arguments (@name) are analysed as pgx sends them: $1, $2,
	// … (an @name is otherwise read as the operator @ on a column, and
	// @limit not at all). The tamper check reads the text as written
	// when it parses (positional arguments send it so).
	sub, names := pgxNamed(sql)
	var stree *pg_query.ParseResult // the parse of sub, when it parses
	if sub != "" {
		stree, _ = pg_query.Parse(sub)
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		if stree == nil {
			return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		tree = stree
	}
	a := analyzeTree(tree, sql, setting, 0)
	if stree == nil {
		stree, sub, names = tree, sql, nil
	}
	a.Scope = scope(stree, sub, column, setting)
	a.Scope.Named = names
	if rw != nil && a.Tamper == "" {
		a.Rewrite, a.RewriteErr = rewriteTree(stree, sub, names, column, setting, rw, false)
	}
	return a, nil
}

// analyzeAt is analyze for text found depth levels down in SQL passed to
// functions that run it.
func analyzeAt(sql, setting string, depth int) (*Analysis, error) {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return analyzeTree(tree, sql, setting, depth), nil
}

// analyzeTree is analyzeAt for a text already parsed into tree.
func analyzeTree(tree *pg_query.ParseResult, sql, setting string, depth int) *Analysis {
	a := &Analysis{Statements: len(tree.Stmts)}
	c := checker{setting: setting, depth: depth, a: a}
	open := false // the text's last transaction boundary opened one
	for i, raw := range tree.Stmts {
		root := raw.GetStmt()
		if root == nil {
			continue
		}
		c.text = statementText(sql, raw)
		c.root(root)
		walk(root.ProtoReflect(), c.node)
		if i == 0 {
			a.LeadingSetTransaction = a.SetTransaction
		}
		if t := root.GetTransactionStmt(); t != nil {
			switch t.Kind {
			case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
				open = true
			case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT, pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
				open = t.Chain // AND CHAIN opens the next one
			case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:
				open = t.Chain
				a.UndoThenRun = a.UndoThenRun || i < len(tree.Stmts)-1
			case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
				a.UndoThenRun = a.UndoThenRun || i < len(tree.Stmts)-1
			}
		}
	}
	if a.Statements != 1 {
		a.NoTxBlock = false
		a.SetTransaction = false
		a.LeavesTxOpen = open
	}
	return a
}

// statementText returns the source text of one statement of sql.
func statementText(sql string, raw *pg_query.RawStmt) string {
	start := int(raw.StmtLocation)
	if start < 0 || start > len(sql) {
		return ""
	}
	end := len(sql)
	if raw.StmtLen > 0 && start+int(raw.StmtLen) <= len(sql) {
		end = start + int(raw.StmtLen)
	}
	return sql[start:end]
}

type checker struct {
	setting string
	depth   int
	a       *Analysis
	// text is the source of the top-level statement being checked (the
	// PL/pgSQL parser needs a function's whole CREATE statement).
	text string
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
		v := s.VariableSetStmt
		if v.Kind == pg_query.VariableSetKind_VAR_RESET_ALL {
			c.tamper("RESET ALL")
		}
		c.a.SetTransaction = isSetTransaction(v)
	case *pg_query.Node_DiscardStmt:
		c.tamper("DISCARD")
	case *pg_query.Node_TransactionStmt:
		c.a.TxControl = true
		switch s.TransactionStmt.Kind {
		case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START,
			pg_query.TransactionStmtKind_TRANS_STMT_COMMIT, pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK,
			pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
			c.a.TxBoundary = true
		case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED,
			pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
			c.a.NoTxBlock = true
		}
	case *pg_query.Node_CopyStmt:
		c.a.CopyStdio = s.CopyStmt.Filename == "" && !s.CopyStmt.IsProgram
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

// isSetTransaction reports whether v may only run before the first query of
// a transaction. The parser gives SET TRANSACTION … the kind VAR_SET_MULTI
// and the name "TRANSACTION" (also with LOCAL or SESSION), SET TRANSACTION
// SNAPSHOT the name "TRANSACTION SNAPSHOT", and SET SESSION CHARACTERISTICS
// the name "SESSION CHARACTERISTICS"; the settings behind the modes can also
// be set by name, with the same restriction.
func isSetTransaction(v *pg_query.VariableSetStmt) bool {
	switch v.Kind {
	case pg_query.VariableSetKind_VAR_SET_MULTI:
		return v.Name == "TRANSACTION" || v.Name == "TRANSACTION SNAPSHOT"
	case pg_query.VariableSetKind_VAR_SET_VALUE:
		switch strings.ToLower(v.Name) {
		case "transaction_isolation", "transaction_read_only", "transaction_deferrable":
			return true
		}
	}
	return false
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
		case isTextSetting(name):
			c.tamper("SET/RESET of " + name) // SET NAMES reads as client_encoding
		}
	case *pg_query.FuncCall:
		name := funcName(n.Funcname)
		if name == "set_config" {
			c.setConfig(n.Args)
			return
		}
		c.runsSQL(name, n.Args)
	case *pg_query.UpdateStmt:
		if n.Relation != nil && strings.EqualFold(n.Relation.Relname, "pg_settings") {
			c.tamper("UPDATE of pg_settings")
		}
	case *pg_query.PrepareStmt:
		if driverOwned(n.Name) {
			c.tamper("PREPARE of a statement named " + StatementPrefix + "…")
		}
	case *pg_query.ExecuteStmt:
		if driverOwned(n.Name) {
			c.tamper("EXECUTE of a statement named " + StatementPrefix + "…")
		}
	case *pg_query.DeallocateStmt:
		// DEALLOCATE [PREPARE] ALL has no name (PostgreSQL 16's tree has
		// no separate flag for it).
		switch {
		case n.Name == "":
			c.tamper("DEALLOCATE ALL")
		case driverOwned(n.Name):
			c.tamper("DEALLOCATE of a statement named " + StatementPrefix + "…")
		}
	case *pg_query.DoStmt:
		c.body(n.Args, "plpgsql", "DO block")
	case *pg_query.CreateFunctionStmt:
		what := "function body"
		if n.IsProcedure {
			what = "procedure body"
		}
		c.body(n.Options, "sql", what)

	// Objects through which the server calls a function by name, without
	// a call in the text: an aggregate whose state function is set_config
	// runs set_config('app.tenant_id', …) for every row it aggregates.
	case *pg_query.DefineStmt:
		c.funcRefs("CREATE "+strings.TrimPrefix(n.Kind.String(), "OBJECT_"), nodes(n.Definition)...)
	case *pg_query.CreateCastStmt:
		c.funcRefs("CREATE CAST", n.Func)
	case *pg_query.CreateTransformStmt:
		c.funcRefs("CREATE TRANSFORM", n.Fromsql, n.Tosql)
	case *pg_query.CreateOpClassStmt:
		c.funcRefs("CREATE OPERATOR CLASS", nodes(n.Items)...)
	case *pg_query.AlterOpFamilyStmt:
		c.funcRefs("ALTER OPERATOR FAMILY", nodes(n.Items)...)
	case *pg_query.AlterOperatorStmt:
		c.funcRefs("ALTER OPERATOR", nodes(n.Options)...)
	case *pg_query.AlterTypeStmt:
		c.funcRefs("ALTER TYPE", nodes(n.Options)...)
	case *pg_query.CreateRangeStmt:
		c.funcRefs("CREATE TYPE AS RANGE", nodes(n.Params)...)
	case *pg_query.CreateConversionStmt:
		c.funcRefs("CREATE CONVERSION", nodes(n.FuncName)...)
	case *pg_query.CreateTrigStmt:
		c.funcRefs("CREATE TRIGGER", nodes(n.Funcname)...)
	case *pg_query.CreateEventTrigStmt:
		c.funcRefs("CREATE EVENT TRIGGER", nodes(n.Funcname)...)
	}
}

// setConfig checks the arguments of a set_config call.
func (c *checker) setConfig(args []*pg_query.Node) {
	if len(args) == 0 {
		return // not the built-in; the server rejects the call
	}
	name, ok := constString(args[0])
	switch {
	case !ok:
		c.tamper("set_config with a setting name that is not a constant")
	case name == c.setting:
		c.tamper("set_config of " + c.setting)
	case name == "role" || name == "session_authorization" || isTextSetting(name):
		c.tamper("set_config of " + name)
	}
}

// funcRefs refuses a reference, by name, to set_config or to a function
// that runs SQL text, in parts of a statement that name functions the server
// will call.
func (c *checker) funcRefs(what string, parts ...protoreflect.ProtoMessage) {
	for _, p := range parts {
		if p == nil || !p.ProtoReflect().IsValid() {
			continue
		}
		names(p.ProtoReflect(), func(s string) {
			if s = strings.ToLower(s); s == "set_config" || isSQLFunc(s) {
				c.tamper(what + " naming " + s)
			}
		})
	}
}

func nodes(ns []*pg_query.Node) []protoreflect.ProtoMessage {
	ms := make([]protoreflect.ProtoMessage, len(ns))
	for i, n := range ns {
		ms[i] = n
	}
	return ms
}

// driverOwned reports whether a prepared statement name is one the driver
// may use. Server names are case-sensitive; comparing without case refuses
// a little more than needed, and nothing legitimate is named like that.
func driverOwned(name string) bool {
	return len(name) >= len(StatementPrefix) && strings.EqualFold(name[:len(StatementPrefix)], StatementPrefix)
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
	s, ok := rawConstString(n)
	return strings.ToLower(s), ok
}

// rawConstString returns the value of a string constant as written (after
// the parser decoded escapes and dollar quotes), looking through casts. A
// NULL is not a string.
func rawConstString(n *pg_query.Node) (string, bool) {
	n = uncast(n)
	ac := n.GetAConst()
	if ac == nil || ac.Isnull {
		return "", false
	}
	sv, ok := ac.Val.(*pg_query.A_Const_Sval)
	if !ok {
		return "", false
	}
	return sv.Sval.GetSval(), true
}

// uncast returns the expression under any casts.
func uncast(n *pg_query.Node) *pg_query.Node {
	for {
		tc := n.GetTypeCast()
		if tc == nil {
			return n
		}
		n = tc.Arg
	}
}

// walk calls visit for m and every message below it.
func walk(m protoreflect.Message, visit func(protoreflect.ProtoMessage)) {
	walkUntil(m, func(pm protoreflect.ProtoMessage) bool {
		visit(pm)
		return true
	})
}

// walkUntil is walk whose visit can decline to descend below a message.
func walkUntil(m protoreflect.Message, visit func(protoreflect.ProtoMessage) bool) {
	if !visit(m.Interface()) {
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkUntil(l.Get(i).Message(), visit)
			}
			return true
		}
		walkUntil(v.Message(), visit)
		return true
	})
}

// names calls visit with every identifier (String node) below m, leaving
// out string constants.
func names(m protoreflect.Message, visit func(string)) {
	walkUntil(m, func(pm protoreflect.ProtoMessage) bool {
		switch x := pm.(type) {
		case *pg_query.A_Const:
			return false
		case *pg_query.String:
			visit(x.Sval)
		}
		return true
	})
}
