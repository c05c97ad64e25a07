// Package sqlcheck is the one parse of a statement that the driver's checks
// share: it runs the PostgreSQL parser (pg_query_go) once per distinct SQL
// text and records what the driver needs to know about it.
//
// Today that is whether the text tampers with the tenant setting or the
// session's identity, how many statements it holds, and whether it contains
// statements PostgreSQL refuses inside a transaction block. The guard and
// rewrite features extend [Analysis] with table references from the same
// parse tree.
//
// A text in which none of the words that could make it interesting appear
// is not parsed at all (see mustParse; a fuzz test holds it to that).
// Other results are cached by exact SQL text in a bounded LRU, so the parser
// runs only on a cache miss. An [Analyzer] is safe for concurrent use.
package sqlcheck
