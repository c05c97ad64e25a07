package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Author holds the schema definition for the Author entity.
type Author struct {
	ent.Schema
}

// Fields of the Author. tenant_id is filled by the database from the
// tenant the driver bound, so it is optional and immutable here.
func (Author) Fields() []ent.Field {
	return []ent.Field{
		field.String("tenant_id").Optional().Immutable(),
		field.String("name"),
	}
}

// Edges of the Author.
func (Author) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("books", Book.Type),
	}
}
