// Command mutate checks that the test suite guards each protection: it
// removes one mechanism at a time from a copy of the repository and expects
// the named tests to fail. A mutation that survives is a protection no test
// proves.
//
//	go run ./scripts/mutate            # every mutation (a few minutes)
//	go run ./scripts/mutate -run lazy  # those whose name contains "lazy"
//
// Each mutation replaces an exact snippet of one file; if the snippet is no
// longer found, the mutation is reported as stale so the list keeps up with
// the code.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

type mutation struct {
	name     string
	file     string
	old, new string
	pkg      string // package whose tests must catch it
	tests    string // go test -run pattern
}

var mutations = []mutation{
	{
		name: "session set shares the statement's transaction (no own Sync)",
		file: "driver/pipeline.go",
		old:  "\t\tpl.SendPipelineSync()\n\t}\n\tif rq.begin",
		new:  "\t}\n\tif rq.begin",
		pkg:  "./driver", tests: "TestProcedureThatRollsBack",
	},
	{
		name: "transaction control as SQL allowed inside a Tx",
		file: "driver/conn.go",
		old:  "\tcase c.tx != nil && a.TxBoundary:",
		new:  "\tcase false:",
		pkg:  "./driver", tests: "TestTxControlAsSQLRefused|TestRefusalsSendNothing",
	},
	{
		name: "Tx bound eagerly, before a leading SET TRANSACTION (lazy binding removed)",
		file: "driver/conn.go",
		old:  "\t\tif t.bound || a.SetTransaction {",
		new:  "\t\tif t.bound {",
		pkg:  "./driver", tests: "TestSetTransactionFirst",
	},
	{
		name: "user's BEGIN sent as SQL: general path wraps in its own BEGIN/COMMIT (runLocalSet removed)",
		file: "driver/conn.go",
		old:  "\tif c.inServerTx() {\n\t\t// The application opened a transaction with SQL",
		new:  "\tif false {\n\t\t// The application opened a transaction with SQL",
		pkg:  "./driver", tests: "TestUserTransactionOnConn",
	},
	{
		name: "procedures take the general path's BEGIN … COMMIT in simple_protocol/describe_exec",
		file: "driver/conn.go",
		old:  "\tif p == nil && (a.Opaque || x.described) {",
		new:  "\tif p == nil && x.described {",
		pkg:  "./driver", tests: "TestProcedureThatCommits",
	},
	{
		name: "binding calls an unqualified set_config (search_path can shadow it)",
		file: "driver/conn.go",
		old:  `setLocalSQL   = "SELECT pg_catalog.set_config($1, $2, true)"`,
		new:  `setLocalSQL   = "SELECT set_config($1, $2, true)"`,
		pkg:  "./driver", tests: "TestShadowedSetConfig",
	},
	{
		name: "pipeline's statements registered with pgx (reachable by name from SQL)",
		file: "driver/pipeline.go",
		old:  "sd, err = p.pgx.PgConn().Prepare(ctx, name, query, nil)",
		new:  "sd, err = p.pgx.Prepare(ctx, name, query)",
		pkg:  "./driver", tests: "TestDriverStatementsUnreachable",
	},
	{
		name: "text-reading settings not pinned at connect",
		file: "driver/connector.go",
		old:  "\tpin(config.RuntimeParams)\n",
		new:  "",
		pkg:  "./driver", tests: "TestTextReadingSettingsPinned",
	},
	{
		name: "session objects not cleared on tenant change",
		file: "driver/objects.go",
		old:  "\treturn o.dirty || o.owned && o.owner != b",
		new:  "\treturn false",
		pkg:  "./driver", tests: "TestSessionObjects",
	},
	{
		name: "no warning for a role that bypasses RLS",
		file: "driver/connector.go",
		old:  "\tif super || bypass || owned > 0 {",
		new:  "\tif super && bypass && owned < 0 {",
		pkg:  "./driver", tests: "TestRoleWarning",
	},
	{
		name: "pipeline disabled in exec mode",
		file: "driver/pipeline.go",
		old:  "\tcase pgx.QueryExecModeExec:\n",
		new:  "\tcase pgx.QueryExecModeExec:\n\t\treturn nil\n",
		pkg:  "./driver", tests: "TestRoundTrips",
	},
	{
		name: "extra optional interface on pipeRows",
		file: "driver/piperows.go",
		old:  "func (r *pipeRows) Close() error { return r.finish() }",
		new:  "func (r *pipeRows) Close() error { return r.finish() }\n\nfunc (r *pipeRows) HasNextResultSet() bool { return false }\nfunc (r *pipeRows) NextResultSet() error    { return nil }",
		pkg:  "./driver", tests: "TestOptionalInterfacesMatchStdlib",
	},
	{
		name: "SET of a text-reading setting (standard_conforming_strings, …) allowed",
		file: "internal/sqlcheck/analysis.go",
		old:  "\t\tcase isTextSetting(name):",
		new:  "\t\tcase false:",
		pkg:  "./driver", tests: "TestTextReadingSettingsPinned|TestTamperRejected",
	},
	{
		name: "SQL passed as a string to query_to_xml, ts_stat, … not analysed",
		file: "internal/sqlcheck/analysis.go",
		old:  "\t\tc.runsSQL(name, n.Args)\n",
		new:  "",
		pkg:  "./driver", tests: "TestTamperRejected",
	},
	{
		name: "DEALLOCATE ALL allowed",
		file: "internal/sqlcheck/analysis.go",
		old:  "\t\t\tc.tamper(\"DEALLOCATE ALL\")",
		new:  "",
		pkg:  "./driver", tests: "TestDriverStatementsUnreachable",
	},
	{
		name: "trigger word dropped from the prefilter (deallocate)",
		file: "internal/sqlcheck/prefilter.go",
		old:  "\"execute\", \"deallocate\",",
		new:  "\"execute\",",
		pkg:  "./internal/sqlcheck", tests: "TestEveryTriggerWordHasWitness|TestPrefilterCorpus",
	},
	{
		name: "no retry when the reused unnamed set statement is gone (pgx's idle ping)",
		file: "driver/pipeline.go",
		old:  `sqlState(err) == "26000" && !retried {`,
		new:  `sqlState(err) == "26000" && false {`,
		pkg:  "./driver", tests: "TestUnnamedSetAfterPing",
	},
	{
		name: "general-path set_config through pgx's statement cache (a named, replaceable statement)",
		file: "driver/conn.go",
		old:  "\tif c.pgx != nil {\n\t\targs = append(",
		new:  "\tif false {\n\t\targs = append(",
		pkg:  "./driver", tests: "TestDriverStatementsUnreachable",
	},
	{
		name: "session BeginTx inside the application's own transaction trusted",
		file: "driver/conn.go",
		old:  "\t\t\tc.sess = sessionState{known: !inTx, b: b}\n\t\t}\n\t\tc.ranFor(b, rq.clear, inTx)",
		new:  "\t\t\tc.sess = sessionState{known: true, b: b}\n\t\t}\n\t\tc.ranFor(b, rq.clear, inTx)",
		pkg:  "./driver", tests: "TestSessionBeginTxInsideUserTx",
	},
	{
		name: "ROLLBACK [TO] followed by more statements in one text allowed",
		file: "driver/conn.go",
		old:  "\tcase a.UndoThenRun:",
		new:  "\tcase false:",
		pkg:  "./driver", tests: "TestTextsThatWouldUndoTheBinding",
	},
	{
		name: "text leaving a transaction open wrapped in the driver's BEGIN … COMMIT",
		file: "driver/conn.go",
		old:  "\tcase a.LeavesTxOpen &&",
		new:  "\tcase false &&",
		pkg:  "./driver", tests: "TestTextsThatWouldUndoTheBinding",
	},
	{
		name: "COPY to the client pipelined",
		file: "driver/conn.go",
		old:  " && !a.CopyStdio",
		new:  "",
		pkg:  "./driver", tests: "TestCopyToClient",
	},
	{
		name: "stale cache_describe description kept",
		file: "driver/pipeline.go",
		old:  "\tif p.mode == pgx.QueryExecModeCacheDescribe && p.stmts != nil {",
		new:  "\tif false {",
		pkg:  "./driver", tests: "TestStaleDescription",
	},
	{
		name: "parameter limit not checked before the pipeline (ErrBadConn)",
		file: "driver/pipeline.go",
		old:  "\tif len(args) > math.MaxUint16 {\n\t\treturn stmtMessage{}, fmt.Errorf(\"extended protocol limited to %v parameters\", math.MaxUint16)\n\t}\n\tif len(sd.ParamOIDs)",
		new:  "\tif len(sd.ParamOIDs)",
		pkg:  "./driver", tests: "TestTooManyParameters",
	},
	{
		name: "objects cleared again inside the application's transaction",
		file: "driver/objects.go",
		old:  "\tif o.inTx && !c.inServerTx() {",
		new:  "\tif o.inTx || c.inServerTx() {",
		pkg:  "./driver", tests: "TestClearObjectsKeepsTheSameTenants",
	},
	{
		name: "tx re-bound after opaque code removed",
		file: "driver/conn.go",
		old:  "\tif a.Opaque {\n\t\tc.tx.bound = false",
		new:  "\tif false {\n\t\tc.tx.bound = false",
		pkg:  "./driver", tests: "TestOpaqueInTxRebinds",
	},
	{
		name: "session scope keeps trusting its binding after opaque code",
		file: "driver/conn.go",
		old:  "\tif err != nil || a.Opaque || a.TxControl || c.inServerTx() {\n\t\tc.sess.known = false",
		new:  "\tif err != nil || a.TxControl || c.inServerTx() {\n\t\tc.sess.known = false",
		pkg:  "./driver", tests: "TestOpaqueInSessionRebinds",
	},
	{
		name: "a Stmt on a connection without a statement cache keeps no description (exec-mode encoding)",
		file: "driver/conn.go",
		old:  "\t\ts.own, s.sd = true, sd",
		new:  "\t\t_ = sd",
		pkg:  "./driver", tests: "TestStmtEncodesLikeStdlib|TestRoundTrips",
	},
	{
		name: "a BeforeConnect hook may turn pgx's statement cache back on behind a pooler",
		file: "driver/connector.go",
		old:  "\tif err == nil && conn.pgx != nil && c.cfg.pooler == PoolerTransaction {",
		new:  "\tif false {",
		pkg:  "./driver", tests: "TestPoolerRefusesCacheTurnedBackOn",
	},
	{
		name: "PL/pgSQL bodies matched as words instead of parsed (false refusals)",
		file: "internal/sqlcheck/body.go",
		old:  "\tcase lang == \"plpgsql\" && c.plpgsql(what, strings.Join(src, \" \")):",
		new:  "\tcase false:",
		pkg:  "./...", tests: "TestBodies|TestMigrationsPass",
	},
	{
		name: "constant SQL run by EXECUTE in PL/pgSQL not checked",
		file: "internal/sqlcheck/plpgsql.go",
		old:  "\t\tif s, ok := soleString(parsed); ok {\n\t\t\tc.dynamicSQL(s, what)",
		new:  "\t\tif s, ok := soleString(parsed); ok {\n\t\t\t_ = s",
		pkg:  "./...", tests: "TestBodies|TestTamperSurvivesWrapping|TestTamperRejected",
	},
	{
		name: "computed EXECUTE in PL/pgSQL: constant parts not checked",
		file: "internal/sqlcheck/plpgsql.go",
		old:  "\t\tif reason := fragmentTamper(append(consts, texts...), c.setting, unread); reason != \"\" {",
		new:  "\t\tif reason := fragmentTamper(append(consts[:0:0], texts[:0]...), c.setting, unread); reason != \"\" {",
		pkg:  "./...", tests: "TestBodies|TestTamperRejected",
	},
	{
		name: "PL/pgSQL: the code's words not checked under the parse (array subscripts, RECORD defaults)",
		file: "internal/sqlcheck/plpgsql.go",
		old:  "\tif reason := bodyTamperWrites(code, c.setting); reason != \"\" {",
		new:  "\tif reason := bodyTamperWrites(code[:0], c.setting); reason != \"\" {",
		pkg:  "./internal/sqlcheck", tests: "TestBodies",
	},
	{
		name: "PL/pgSQL: computed EXECUTE's skeleton not read",
		file: "internal/sqlcheck/plpgsql.go",
		old:  "\t\tskel, ok := skeleton(parsed)",
		new:  "\t\tskel, ok := \"\", false",
		pkg:  "./internal/sqlcheck", tests: "TestBodies",
	},
	{
		name: "a Stmt keeps a stale description after the server refused it",
		file: "driver/stmt.go",
		old:  "\tif s.own && isServerError(err) {\n\t\ts.sd = nil",
		new:  "\tif false {\n\t\ts.sd = nil",
		pkg:  "./driver", tests: "TestStmtAfterSchemaChange",
	},
	{
		name: "guard: leading pgx options counted as arguments",
		file: "driver/guard.go",
		old:  "func pgxOptions(nv []sqldriver.NamedValue) int {\n",
		new:  "func pgxOptions(nv []sqldriver.NamedValue) int {\n\treturn 0\n",
		pkg:  "./driver", tests: "TestGuardArgsAfterOptions",
	},
	{
		name: "every SQLSTATE 42501 reported as an RLS refusal",
		file: "driver/guard.go",
		old:  "pe.Code == \"42501\" && strings.Contains(pe.Message, \"row-level security\")",
		new:  "pe.Code == \"42501\" && strings.Contains(pe.Message, \"\")",
		pkg:  "./driver", tests: "TestGuardEvents",
	},
	{
		name: "guard: an OR scopes when any branch does",
		file: "internal/sqlcheck/decide.go",
		old:  "\t\t\tif !d.anyScopes(branch, i) {\n\t\t\t\treturn false",
		new:  "\t\t\tif d.anyScopes(branch, i) {\n\t\t\t\treturn true",
		pkg:  "./...", tests: "TestCases|TestScopedMeansOnlyTenantRows",
	},
	{
		name: "guard: a LEFT JOIN's ON scopes the preserved side too",
		file: "internal/sqlcheck/scope.go",
		old:  "\t\tcase pg_query.JoinType_JOIN_LEFT:\n\t\t\tscoped = right",
		new:  "\t\tcase pg_query.JoinType_JOIN_LEFT:\n\t\t\tscoped = append(left, right...)",
		pkg:  "./...", tests: "TestCases|TestScopedMeansOnlyTenantRows",
	},
	{
		name: "guard: MERGE's ON scopes the source even with WHEN NOT MATCHED",
		file: "internal/sqlcheck/scope.go",
		old:  "if notMatched && m.JoinCondition != nil {",
		new:  "if false && notMatched && m.JoinCondition != nil {",
		pkg:  "./...", tests: "TestCases|TestScopedMeansOnlyTenantRows",
	},
	{
		name: "guard: IN a list scopes when its first value is the tenant",
		file: "internal/sqlcheck/scope.go",
		old:  "\tif len(items) == 1 {\n\t\treturn sc.equality(l, items[0], b)",
		new:  "\tif len(items) >= 1 {\n\t\treturn sc.equality(l, items[0], b)",
		pkg:  "./...", tests: "TestCases|TestScopedMeansOnlyTenantRows",
	},
	{
		name: "guard: rows of different lengths compare as far as the shorter goes",
		file: "internal/sqlcheck/scope.go",
		old:  "if lr == nil || rr == nil || len(lr.Args) != len(rr.Args) ||",
		new:  "if lr == nil || rr == nil ||",
		pkg:  "./...", tests: "TestCases|TestScopedMeansOnlyTenantRows",
	},
	{
		name: "guard: an equality to another reference's tenant column counts even if that one is unscoped",
		file: "internal/sqlcheck/decide.go",
		old:  "\t\treturn r >= 0 && d.refs[r].scoped, \"\"",
		new:  "\t\treturn r >= 0, \"\"",
		pkg:  "./...", tests: "TestCases|TestScopedMeansOnlyTenantRows",
	},
	{
		name: "guard: a parameter is trusted without checking its value",
		file: "internal/sqlcheck/decide.go",
		old:  "\t\tif v == d.tenant {\n\t\t\treturn true, \"\"\n\t\t}\n\t\tif d.lifted {",
		new:  "\t\tif v == d.tenant || true {\n\t\t\treturn true, \"\"\n\t\t}\n\t\tif d.lifted {",
		pkg:  "./...", tests: "TestCases|TestGuardCases|TestGuardEvents",
	},
	{
		name: "guard: enforce only reports",
		file: "driver/guard.go",
		old:  "\tif mode != guard.Audit {\n\t\treturn v\n\t}",
		new:  "\tif false {\n\t\treturn v\n\t}",
		pkg:  "./driver", tests: "TestGuardCases|TestGuardEvents",
	},
	{
		name: "tenant_pooler=transaction leaves pgx's statement cache and cache_statement mode on",
		file: "driver/connector.go",
		old:  "\t\tunnamedOnly(&config)\n",
		new:  "\n",
		pkg:  "./driver", tests: "TestPoolerNoNamedStatements|TestPgBouncerTransactionScope",
	},
	{
		name: "session scope allowed behind a transaction pooler",
		file: "driver/options.go",
		old:  "\t\tif c.scope != ScopeTransaction {",
		new:  "\t\tif false {",
		pkg:  "./driver", tests: "TestDSNKeys|TestPoolerOptions",
	},
	{
		name: "per-call cache_statement mode allowed behind a transaction pooler",
		file: "driver/conn.go",
		old:  "\tif c.cfg.pooler != PoolerTransaction {\n\t\treturn nil",
		new:  "\tif true {\n\t\treturn nil",
		pkg:  "./driver", tests: "TestPoolerRefusesCacheStatementArg",
	},
	{
		name: "statements that need no binding go through pgx (its own statement cache)",
		file: "driver/conn.go",
		old:  "\tif p != nil && pipelinable(a) {\n\t\tres, _, err := x.piped(ctx, p, request{})",
		new:  "\tif false {\n\t\tres, _, err := x.piped(ctx, p, request{})",
		pkg:  "./driver", tests: "TestOneStatementPerText",
	},
	{
		name: "database/sql Stmts prepared by pgx stdlib (named after their text)",
		file: "driver/conn.go",
		old:  "\tif c.pgx == nil {\n\t\tc.used()\n\t\tis, err := c.preparer.PrepareContext(ctx, query)",
		new:  "\tif true {\n\t\tc.used()\n\t\tis, err := c.preparer.PrepareContext(ctx, query)",
		pkg:  "./driver", tests: "TestPrepareLeavesOtherCallsAlone|TestPgBouncerTransactionScope|TestOneStatementPerText",
	},
	{
		name: "rewrite: a Stmt keeping its description skips the mismatch refusal",
		file: "driver/rewrite.go",
		old:  "\tck.rewriting = mode == rewrite.On\n\tif cl.sd != nil {",
		new:  "\tif cl.sd != nil {",
		pkg:  "./driver", tests: "TestRewriteReviewFindings",
	},
	{
		name: "rewrite: an unscoped reference the rewrite counted as scoped runs with the guard off",
		file: "driver/guard.go",
		old:  "\t\treturn ck.claimed && !slices.Contains(ck.left, f.Table)",
		new:  "\t\treturn ck.claimed && false && !slices.Contains(ck.left, f.Table)",
		pkg:  "./driver", tests: "TestRewriteReviewFindings",
	},
	{
		name: "rewrite: a statement without a tenant binds the empty string",
		file: "driver/conn.go",
		old:  "\tif !b.has {\n\t\treturn nil\n\t}\n\treturn b.id",
		new:  "\treturn b.id",
		pkg:  "./driver", tests: "TestRewriteReviewFindings",
	},
	{
		name: "rewrite: a bypassed Stmt execution runs the rewritten text",
		file: "driver/stmt.go",
		old:  "\t\tif _, ok := tenant.BypassReason(ctx); ok {\n\t\t\treturn call{query: s.plain, args: args}, s.plainA, nil",
		new:  "\t\tif _, ok := tenant.BypassReason(ctx); ok && false {\n\t\t\treturn call{query: s.plain, args: args}, s.plainA, nil",
		pkg:  "./driver", tests: "TestRewriteReviewFindings",
	},
	{
		name: "guard: a driver.Valuer argument is not read",
		file: "internal/sqlcheck/decide.go",
		old:  "\t\tcase sqldriver.Valuer:\n",
		new:  "\t\tcase interface {\n\t\t\tsqldriver.Valuer\n\t\t\tNeverMatches()\n\t\t}:\n",
		pkg:  "./driver", tests: "TestRewriteReviewFindings",
	},
	{
		name: "rewrite: audit events carry constants",
		file: "internal/sqlcheck/rewrite.go",
		old:  "\tr.Display = redact(disp.String())",
		new:  "\tr.Display = disp.String()",
		pkg:  "./driver", tests: "TestRewriteAuditRedacts",
	},
	{
		name: "flags: the strictest table does not decide",
		file: "flags/flags.go",
		old:  "if m := c.tableMode(TableKey(t), s.defaults[i]); m > best {",
		new:  "if m := c.tableMode(TableKey(t), s.defaults[i]); best < 0 {",
		pkg:  "./flags", tests: "TestRules",
	},
	{
		name: "flags: a statement's modes ignore the rules",
		file: "driver/rewrite.go",
		old:  "\tf := c.cfg.flags\n\tif f == nil {",
		new:  "\tf := c.cfg.flags\n\tif true {",
		pkg:  "./driver", tests: "TestFlags",
	},
	{
		name: "events: a guard violation's SQL keeps its constants",
		file: "driver/guard.go",
		old:  "SQL: sqlcheck.Redact(ck.query)})",
		new:  "SQL: ck.query})",
		pkg:  "./driver", tests: "TestLearnInAudit",
	},
	{
		name: "events: Limit passes every event",
		file: "event/limit.go",
		old:  "\tif st != nil && now.Sub(st.passed) < l.every {",
		new:  "\tif false && st != nil && now.Sub(st.passed) < l.every {",
		pkg:  "./...", tests: "TestLimit|TestLearnInAudit",
	},
	{
		name: "metrics: would-block not counted",
		file: "metrics/metrics.go",
		old:  "if k.kind == event.GuardViolation && k.mode == \"audit\" {",
		new:  "if k.kind == event.GuardViolation && k.mode == \"enforce\" {",
		pkg:  "./metrics", tests: "TestMetrics",
	},
	{
		name: "rewrite: the appended parameter is not the tenant",
		file: "driver/rewrite.go",
		old:  "Ordinal: len(nv) + 1, Value: b.arg()}",
		new:  "Ordinal: len(nv) + 1, Value: \"\"}",
		pkg:  "./driver", tests: "TestRewriteScopesEveryPath",
	},
	{
		name: "rewrite: a Stmt's executions do not append the tenant",
		file: "driver/stmt.go",
		old:  "\tif s.tenantArg {\n",
		new:  "\tif false && s.tenantArg {\n",
		pkg:  "./driver", tests: "TestRewriteScopesEveryPath",
	},
	{
		name: "rewrite: with the guard off, a value naming another tenant runs",
		file: "driver/guard.go",
		old:  "\tif mode == guard.Off && !ck.rewriting {",
		new:  "\tif mode == guard.Off {",
		pkg:  "./driver", tests: "TestRewriteRefusesMismatch",
	},
	{
		name: "rewrite: a bypassed statement is rewritten",
		file: "driver/rewrite.go",
		old:  "\tif _, ok := tenant.BypassReason(ctx); ok {\n\t\treturn cl, ck, nil",
		new:  "\tif _, ok := tenant.BypassReason(ctx); ok && false {\n\t\treturn cl, ck, nil",
		pkg:  "./driver", tests: "TestRewriteBypass",
	},
	{
		name: "rewrite: an outer join's nullable side is scoped in the WHERE",
		file: "internal/sqlcheck/scope.go",
		old:  "\t\tif j != nil && len(j.UsingClause) == 0 && !j.IsNatural {\n\t\t\tst.slot = &j.Quals",
		new:  "\t\tif j != nil && len(j.UsingClause) == 0 && !j.IsNatural {\n\t\t\tst.slot = st.slot",
		pkg:  "./...", tests: "TestGolden|TestRewriteDifferential",
	},
	{
		name: "rewrite: a MERGE source is scoped in the ON",
		file: "internal/sqlcheck/scope.go",
		old:  "\t\t\tsc.sites[i].slot, sc.sites[i].replace = nil, true\n\t\t}\n\t}",
		new:  "\t\t\t_ = i\n\t\t}\n\t}",
		pkg:  "./...", tests: "TestGolden|TestRewriteDifferential",
	},
	{
		name: "rewrite: references scoped by a parameter get a second predicate",
		file: "internal/sqlcheck/decide.go",
		old:  "\t\tcase OperandLiteral, OperandParam, OperandNamed:\n\t\t\tif v, ok := d.literal(o)",
		new:  "\t\tcase OperandLiteral, OperandNamed:\n\t\t\tif v, ok := d.literal(o)",
		pkg:  "./rewrite", tests: "TestGolden|TestRewriteOutputs",
	},
	{
		name: "rewrite: the rewritten statement is not decided",
		file: "internal/sqlcheck/rewrite.go",
		old:  "\tr.Scope = newScoper(out, column, setting, false, n).run(printed)",
		new:  "\tr.Scope = newScoper(out, column, setting, false, n).run(printed)\n\tif len(printed.Stmts) > 0 {\n\t\tr.Scope = &Scope{}\n\t}",
		pkg:  "./driver", tests: "TestRewriteRefusesMismatch",
	},
	{
		name: "guard: a DO block's source not searched for relations",
		file: "internal/sqlcheck/scope.go",
		old:  "\t\t\tif d := o.GetDefElem(); d != nil && d.Defname == \"as\" {",
		new:  "\t\t\tif d := o.GetDefElem(); d != nil && d.Defname == \"nope\" {",
		pkg:  "./guard", tests: "TestCases",
	},
	{
		name: "guard: a rule's actions scoped as the statement's own",
		file: "internal/sqlcheck/scope.go",
		old:  "\t\t\tsc.s.Refs[i].Kind = RefRule",
		new:  "",
		pkg:  "./guard", tests: "TestCases",
	},
	{
		name: "lint: literals naming two tenants pass",
		file: "internal/sqlcheck/decide.go",
		old:  "\t\t\t\t} else if *d.lintTenant != v {",
		new:  "\t\t\t\t} else if false {",
		pkg:  "./internal/lint", tests: "TestLiterals|TestCorpus",
	},
	{
		name: "tenanthttp: cookie MAC not compared",
		file: "tenanthttp/cookie.go",
		old:  "\tif !hmac.Equal(got[:], mac(secret, value[:len(value)-len(sig)-1])) {",
		new:  "\tif _ = secret; len(got) == 0 {",
		pkg:  "./tenanthttp", tests: "TestVerifyEveryBitFlip|TestTamperedCookieOverHTTP",
	},
	{
		name: "tenanthttp: expired cookies accepted",
		file: "tenanthttp/cookie.go",
		old:  "\tif !c.now().Before(exp) {",
		new:  "\tif false {",
		pkg:  "./tenanthttp", tests: "TestExpiry|TestCookieSource",
	},
	{
		name: "tenanthttp: client tenant headers passed on",
		file: "tenanthttp/middleware.go",
		old:  "\t\tif m.strip[string(appendHeaderKey(buf[:0], name))] {",
		new:  "\t\tif _ = buf; false {",
		pkg:  "./tenanthttp", tests: "TestSpoofedHeaders",
	},
	{
		name: "tenanthttp: sources that disagree accepted",
		file: "tenanthttp/middleware.go",
		old:  "\t\tif (found != \"\" && id != found) || (hasPrior && id != prior) {",
		new:  "\t\tif hasPrior && id != prior {",
		pkg:  "./tenanthttp", tests: "TestSubdomainSource|TestSourceOrder|TestEndToEnd",
	},
	{
		name: "tenanthttp: non-members let through",
		file: "tenanthttp/middleware.go",
		old:  "\tcase !ok:\n\t\treturn &refusal{rule: RuleNotMember, tenant: id}",
		new:  "\tcase !ok && false:\n\t\treturn &refusal{rule: RuleNotMember, tenant: id}",
		pkg:  "./tenanthttp", tests: "TestCookieSource|TestSwitch|TestEndToEnd",
	},
	{
		name: "backfill: disagreeing parents resolved by the first one",
		file: "internal/backfill/sql.go",
		old:  "\tif len(conds) == 0 {\n\t\treturn \"true\"",
		new:  "\tif true {\n\t\treturn \"true\"",
		pkg:  "./internal/backfill", tests: "TestDisagree",
	},
	{
		name: "backfill: children inherit a parent's conflicting tenant",
		file: "internal/backfill/apply.go",
		old:  "\t\tif len(parent.Conflicts) > 0 {",
		new:  "\t\tif false {",
		pkg:  "./internal/backfill", tests: "TestParentConflict",
	},
	{
		name: "audit: NULL tenants counted under RLS (a hidden 0)",
		file: "internal/audit/tables.go",
		old:  "\t\tif _, err := tx.Exec(ctx, \"SET LOCAL row_security = off\"); err != nil {",
		new:  "\t\tif _, err := tx.Exec(ctx, \"SET LOCAL row_security = on\"); err != nil {",
		pkg:  "./cmd/pgx-tenant", tests: "TestAuditNullCountUnderRLS",
	},
	{
		name: "rls: an existing policy always counted unchanged",
		file: "internal/rls/rls.go",
		old:  "\tcase !mine.public || !equal(mine.using, wantUsing) || !equal(mine.chk, wantCheck):",
		new:  "\tcase false:",
		pkg:  "./cmd/pgx-tenant", tests: "TestRLSStages|TestRLSPlanApplyIdempotent",
	},
	{
		name: "tenanthttp: a switch on a tenant's host to another tenant",
		file: "tenanthttp/switch.go",
		old:  "\t} else if ok && host != target {",
		new:  "\t} else if ok && host != target && false {",
		pkg:  "./tenanthttp", tests: "TestSwitchOnTenantHost",
	},
	{
		name: "lint: sqlc macros not read as parameters",
		file: "internal/lint/lint.go",
		old:  "\t\ttext := sqlcMacros(st.text)",
		new:  "\t\ttext := st.text",
		pkg:  "./internal/lint", tests: "TestFile",
	},
	{
		name: "lint: semicolons inside BEGIN ATOMIC end the statement",
		file: "internal/lint/lint.go",
		old:  "\t\t\tif prev == pg_query.Token_BEGIN_P {\n\t\t\t\tatomic++",
		new:  "\t\t\tif prev == pg_query.Token_BEGIN_P && false {\n\t\t\t\tatomic++",
		pkg:  "./internal/lint", tests: "TestSplit",
	},
	{
		name: "lint: tampering not reported",
		file: "internal/lint/lint.go",
		old:  "\t\tif a.Tamper != \"\" {",
		new:  "\t\tif false {",
		pkg:  "./internal/lint", tests: "TestFile|TestGuardCases",
	},
	{
		name: "lint: a file with a NUL byte linted up to it",
		file: "internal/lint/lint.go",
		old:  "\tif i := strings.IndexByte(src, 0); i >= 0 {",
		new:  "\tif i := strings.IndexByte(src, 0); i < -1 {",
		pkg:  "./internal/lint", tests: "TestGuardCases",
	},
}

func main() {
	only := flag.String("run", "", "run only mutations whose name contains this")
	staleOnly := flag.Bool("stale", false, "only check that every mutation's snippet is still in its file")
	flag.Parse()
	if *staleOnly {
		if err := checkSnippets("."); err != nil {
			fatal(err)
		}
		return
	}
	root, err := os.Getwd()
	if err != nil {
		fatal(err)
	}
	survived := 0
	for _, m := range mutations {
		if *only != "" && !strings.Contains(m.name, *only) {
			continue
		}
		fmt.Printf("%-90s ", m.name)
		caught, err := try(root, m)
		switch {
		case err != nil:
			fmt.Println("ERROR:", err)
			survived++
		case caught:
			fmt.Println("caught")
		default:
			fmt.Println("SURVIVED")
			survived++
		}
	}
	if survived > 0 {
		fmt.Printf("%d mutation(s) not caught\n", survived)
		os.Exit(1)
	}
}

// checkSnippets reports the mutations whose snippet is not found exactly
// once in its file under root.
func checkSnippets(root string) error {
	var stale []string
	for _, m := range mutations {
		src, err := os.ReadFile(filepath.Join(root, m.file))
		if err != nil {
			return err
		}
		if n := strings.Count(string(src), m.old); n != 1 {
			stale = append(stale, fmt.Sprintf("%s: snippet found %d times in %s", m.name, n, m.file))
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("stale mutations:\n%s", strings.Join(stale, "\n"))
	}
	return nil
}

// try applies m to a copy of the repository at root and reports whether
// its tests fail.
func try(root string, m mutation) (bool, error) {
	dir, err := os.MkdirTemp("", "pgx-tenant-mutate-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	if err := copyTree(root, dir); err != nil {
		return false, err
	}
	path := filepath.Join(dir, m.file)
	src, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	if n := strings.Count(string(src), m.old); n != 1 {
		return false, fmt.Errorf("stale: snippet found %d times in %s", n, m.file)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(src), m.old, m.new, 1)), 0o644); err != nil {
		return false, err
	}
	// A mutant may deadlock a test (a Fatal while a Tx holds the only
	// connection); a timeout is a failure, so it counts as caught, sooner.
	cmd := exec.Command("go", "test", "-count=1", "-timeout", "3m", "-run", m.tests, m.pkg)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil {
		return false, nil
	}
	if strings.Contains(string(out), "[build failed]") || strings.Contains(string(out), "[setup failed]") {
		return false, fmt.Errorf("mutant does not build:\n%s", out)
	}
	return true, nil
}

// copyTree copies the files git tracks or would track (the working tree,
// without .git and ignored output).
func copyTree(from, to string) error {
	out, err := exec.Command("git", "-C", from, "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return err
	}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		data, err := os.ReadFile(filepath.Join(from, f))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			return err
		}
		dst := filepath.Join(to, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}
