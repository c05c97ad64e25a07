package tenant

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestContextRoundTrip(t *testing.T) {
	ctx := context.Background()
	if id, ok := FromContext(ctx); ok || id != "" {
		t.Fatalf("FromContext(empty ctx) = %q, %v; want \"\", false", id, ok)
	}
	ctx = NewContext(ctx, "acme")
	if id, ok := FromContext(ctx); !ok || id != "acme" {
		t.Fatalf("FromContext = %q, %v; want acme, true", id, ok)
	}
	inner := NewContext(ctx, "globex")
	if id, _ := FromContext(inner); id != "globex" {
		t.Fatalf("nested NewContext: got %q, want globex", id)
	}
	if id, _ := FromContext(ctx); id != "acme" {
		t.Fatalf("parent changed by child: got %q", id)
	}
	if id, ok := FromContext(NewContext(context.Background(), "")); !ok || id != "" {
		t.Fatalf("explicit empty ID must be reported as present, got %q, %v", id, ok)
	}
}

func TestForeignKeyTypeDoesNotCollide(t *testing.T) {
	// A value stored under another package's key of the same underlying
	// type and value must not be read as a tenant.
	type otherKey int
	ctx := context.WithValue(context.Background(), otherKey(0), "evil")
	if id, ok := FromContext(ctx); ok {
		t.Fatalf("FromContext read a foreign key: %q", id)
	}
}

func TestBypass(t *testing.T) {
	ctx := context.Background()
	if _, ok := BypassReason(ctx); ok {
		t.Fatal("plain context reports a bypass")
	}
	if r, ok := BypassReason(WithBypass(ctx, "nightly billing export")); !ok || r != "nightly billing export" {
		t.Fatalf("BypassReason = %q, %v", r, ok)
	}
	for _, reason := range []string{"", "   "} {
		if _, ok := BypassReason(WithBypass(ctx, reason)); ok {
			t.Fatalf("blank reason %q must not bypass", reason)
		}
	}
	// Bypass and tenant are independent.
	both := NewContext(WithBypass(ctx, "r"), "acme")
	if id, _ := FromContext(both); id != "acme" {
		t.Fatalf("tenant lost under bypass: %q", id)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		wantErr string // substring; "" means valid
	}{
		{"simple", "acme", ""},
		{"uuid", "0b9f6f0e-8c1d-4a57-9a43-2b1f0f6f3c11", ""},
		{"unicode", "société-générale", ""},
		{"sql injection is just data", "acme' OR '1'='1", ""},
		{"max length", strings.Repeat("a", MaxIDLen), ""},
		{"empty", "", "empty"},
		{"too long", strings.Repeat("a", MaxIDLen+1), "longer than"},
		{"invalid utf8", "ac\xffme", "UTF-8"},
		{"nul", "ac\x00me", "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.id)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidID) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate(%q) = %v, want ErrInvalidID mentioning %q", tt.id, err, tt.wantErr)
			}
			if len(tt.id) > 3 && strings.Contains(err.Error(), tt.id) {
				t.Fatalf("error leaks the ID: %v", err)
			}
		})
	}
}
