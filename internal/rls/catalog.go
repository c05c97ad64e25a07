package rls

// UserSchema is the SQL condition "the schema named by col is not a system
// one" (pg_catalog, information_schema, TOAST and temporary schemas): the
// schemas whose tables Plan covers by default, and the audit reads.
func UserSchema(col string) string {
	return col + ` NOT IN ('pg_catalog', 'information_schema') AND ` + col + ` NOT LIKE 'pg\_toast%' AND ` +
		col + ` NOT LIKE 'pg\_temp\_%'`
}

// ExtensionMember is the SQL condition "the object oid of the catalog
// (pg_class, pg_proc) belongs to an extension": it is the extension's to
// fix, so Plan and the audit skip it.
func ExtensionMember(catalog, oid string) string {
	return `EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.` + catalog +
		`'::pg_catalog.regclass AND d.objid = ` + oid + ` AND d.deptype = 'e')`
}
