// Package sqlcheck is the one parse of a statement that the driver's checks
// share: it runs the PostgreSQL parser (pg_query_go) once per distinct SQL
// text and records what the driver needs to know about it in an [Analysis].
// The guard and rewrite features extend it with table references from the
// same parse tree.
//
// # Tampering
//
// [Analysis.Tamper] names the first construct, anywhere in the tree (a CTE,
// a sub-select, a prepared statement's query, a function's SET clause, a
// later statement of a multi-statement text), through which the text
// would:
//
//   - write the tenant setting: SET/RESET of it, set_config with its name
//     or with a name that is not a constant, UPDATE of pg_settings;
//   - change the session's identity or reset it: SET/RESET ROLE, SESSION
//     AUTHORIZATION, set_config of either, RESET ALL, DISCARD;
//   - change how the server reads SQL text or text parameters, so that it
//     would no longer read what was analysed: standard_conforming_strings,
//     client_encoding (SET NAMES), backslash_quote, by SET, RESET or
//     set_config;
//   - reach the driver's own prepared statements: PREPARE, EXECUTE or
//     DEALLOCATE of a name starting with [StatementPrefix], DEALLOCATE ALL;
//   - run SQL text that does any of this: the SQL handed as a string to
//     query_to_xml, ts_stat, ts_rewrite, dblink, crosstab and the like is
//     parsed and analysed the same way, to a bounded depth; SQL that is
//     not a constant, or does not parse, is refused;
//   - have the server call set_config or such a function by name on its
//     own (an aggregate, operator, cast or trigger built on it);
//   - do any of the above in a DO block or a function body, which the
//     parser cannot see into: their source is matched word by word, and
//     mentions of the tenant setting are refused only next to a SET or
//     RESET that could write it.
//
// Reading the setting (current_setting) is never tampering.
//
// # Classification
//
// Besides the number of statements, the analysis tells the driver how a
// text interacts with transactions: TxControl (any transaction control),
// TxBoundary (a statement that opens or ends the transaction),
// SetTransaction (a SET TRANSACTION that must come first in one),
// NoTxBlock (a statement PostgreSQL refuses inside one), and Opaque (code
// the parser cannot see into: DO, CALL).
//
// # Cost
//
// A text in which none of the words that could make it interesting appear
// is not parsed at all (see mustParse; tests hold it to that over a
// generated corpus, a witness for each trigger word, and a fuzz target).
// Other results are cached by exact SQL text in a bounded LRU, so the parser
// runs only on a cache miss. An [Analyzer] is safe for concurrent use.
package sqlcheck
