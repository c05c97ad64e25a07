package main

import "testing"

// TestSnippetsCurrent keeps the mutation list in step with the code: a
// snippet that no longer matches would silently stop testing its
// protection.
func TestSnippetsCurrent(t *testing.T) {
	if err := checkSnippets("../.."); err != nil {
		t.Fatal(err)
	}
}
