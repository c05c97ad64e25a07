package rls

import (
	"fmt"
	"strings"
)

// Stage is how strict the generated policy is.
type Stage int

const (
	// Strict (the default): a row is visible and writable only when its
	// tenant column equals the setting.
	Strict Stage = iota
	// Permissive: as Strict, and rows whose tenant column IS NULL (global
	// rows, or rows not backfilled yet) are visible — and deletable — by
	// every tenant. WITH CHECK stays strict (see the package doc).
	Permissive
)

func (s Stage) String() string {
	switch s {
	case Strict:
		return "strict"
	case Permissive:
		return "permissive"
	}
	return fmt.Sprintf("Stage(%d)", int(s))
}

// ParseStage parses "strict" or "permissive".
func ParseStage(s string) (Stage, error) {
	switch strings.ToLower(s) {
	case "strict":
		return Strict, nil
	case "permissive":
		return Permissive, nil
	}
	return Strict, fmt.Errorf("unknown stage %q (want permissive or strict)", s)
}

// QuoteLiteral quotes s as an SQL string literal, as libpq's
// PQescapeLiteral does: quotes doubled, and an E-prefixed literal with doubled
// backslashes when s has a backslash, so the result reads the same whatever
// standard_conforming_strings is.
func QuoteLiteral(s string) string {
	s = strings.ReplaceAll(s, "'", "''")
	if strings.Contains(s, `\`) {
		return `E'` + strings.ReplaceAll(s, `\`, `\\`) + `'`
	}
	return "'" + s + "'"
}

// SettingValue is the recommended read of the setting, cast to the
// column's type where comparing with text would not work (uuid, integers):
// NULLIF because the setting reads as the empty string (not NULL) after a reset, and a
// scalar sub-select so it is evaluated once per statement, not per row.
//
// columnType is format_type's name of the column's type; character types
// are compared as text, never cast (a cast to varchar(n) would truncate).
func SettingValue(setting, columnType string) string {
	v := "NULLIF(current_setting(" + QuoteLiteral(setting) + ", true), '')"
	if needsCast(columnType) {
		v += "::" + columnType
	}
	return "(SELECT " + v + ")"
}

func needsCast(t string) bool {
	switch {
	case t == "", t == "text", t == "name",
		strings.HasPrefix(t, "character varying"), strings.HasPrefix(t, "character"):
		return false
	}
	return true
}

// Predicate is the policy expression for stage: columnSQL (the tenant
// column, already quoted as an identifier) equal to the setting, or, in
// the permissive stage, also NULL.
func Predicate(columnSQL, columnType, setting string, stage Stage) string {
	p := columnSQL + " = " + SettingValue(setting, columnType)
	if stage == Permissive {
		p += " OR " + columnSQL + " IS NULL"
	}
	return p
}

// CheckPredicate is the WITH CHECK expression for stage: strict equality
// in both stages.
func CheckPredicate(columnSQL, columnType, setting string, _ Stage) string {
	return Predicate(columnSQL, columnType, setting, Strict)
}

// CreatePolicySQL is the CREATE POLICY statement of the recommended policy
// named policySQL (quoted) on tableSQL (quoted).
func CreatePolicySQL(policySQL, tableSQL, columnSQL, columnType, setting string, stage Stage) string {
	return fmt.Sprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR ALL TO PUBLIC\n  USING (%s)\n  WITH CHECK (%s);",
		policySQL, tableSQL,
		Predicate(columnSQL, columnType, setting, stage),
		CheckPredicate(columnSQL, columnType, setting, stage))
}
