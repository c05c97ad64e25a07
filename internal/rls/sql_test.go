package rls

import "testing"

func TestQuoteLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"app.tenant_id": `'app.tenant_id'`,
		"it's":          `'it''s'`,
		`a\b`:           `E'a\\b'`,
		`a\'b`:          `E'a\\''b'`,
	} {
		if got := QuoteLiteral(in); got != want {
			t.Errorf("QuoteLiteral(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestPredicate(t *testing.T) {
	for _, tc := range []struct {
		typ   string
		stage Stage
		want  string
	}{
		{"text", Strict, `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), ''))`},
		{"character varying(64)", Strict, `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), ''))`},
		{"uuid", Strict, `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)`},
		{"bigint", Permissive, `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::bigint) OR tenant_id IS NULL`},
	} {
		if got := Predicate("tenant_id", tc.typ, "app.tenant_id", tc.stage); got != tc.want {
			t.Errorf("Predicate(%s, %s) = %s, want %s", tc.typ, tc.stage, got, tc.want)
		}
		if got := CheckPredicate("tenant_id", tc.typ, "app.tenant_id", tc.stage); got != Predicate("tenant_id", tc.typ, "app.tenant_id", Strict) {
			t.Errorf("CheckPredicate(%s, %s) = %s: WITH CHECK is strict in every stage", tc.typ, tc.stage, got)
		}
	}
}

func TestParseStage(t *testing.T) {
	for in, want := range map[string]Stage{"strict": Strict, "Permissive": Permissive} {
		if got, err := ParseStage(in); err != nil || got != want {
			t.Errorf("ParseStage(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseStage("lenient"); err == nil {
		t.Error("ParseStage(lenient): no error")
	}
}
