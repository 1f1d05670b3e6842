//! The `field` label of the operation metrics: which top-level field of the schema a document
//! asks for, read with the edge's own choice of operation and walk of its fields. Its values
//! are bounded by the schema whatever a client sends.

use std::collections::HashSet;
use std::sync::OnceLock;

use async_graphql::parser::types::ExecutableDocument;

/// The top-level fields of the schema's root types (the only values the `field` label takes
/// besides `multiple`, `__introspection` and `unknown`).
fn root_fields() -> &'static HashSet<String> {
    static FIELDS: OnceLock<HashSet<String>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
        let sdl = crate::export_sdl();
        let Ok(doc) = async_graphql::parser::parse_schema(&sdl) else {
            return HashSet::new();
        };
        let mut names = HashSet::new();
        for definition in doc.definitions {
            if let TypeSystemDefinition::Type(ty) = definition
                && ["Query", "Mutation", "Subscription"].contains(&ty.node.name.node.as_str())
                && let TypeKind::Object(object) = ty.node.kind
            {
                names.extend(object.fields.iter().map(|f| f.node.name.node.to_string()));
            }
        }
        names
    })
}

/// The `field` label of the operation `operation_name` picks in `doc`: its one top-level field
/// of the schema, `__introspection` when it only introspects, `multiple` when it asks for
/// several fields, `unknown` when it names none of the schema's.
pub fn field_label(doc: &ExecutableDocument, operation_name: Option<&str>) -> &'static str {
    let Some(operation) = super::operation_to_run(doc, operation_name) else {
        return "unknown";
    };
    let mut names = Vec::new();
    super::top_field_names(doc, &operation.node.selection_set, 0, &mut names);
    let mut fields: HashSet<&str> = names.into_iter().collect();
    fields.remove("__typename");
    let introspects = fields.remove("__schema") | fields.remove("__type");
    let known = root_fields();
    match (fields.len(), fields.iter().next()) {
        (0, _) if introspects => "__introspection",
        (0, _) => "unknown",
        (1, Some(name)) if !introspects => known.get(*name).map_or("unknown", String::as_str),
        _ => "multiple",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn label(query: &str) -> &'static str {
        field_label(&parse_query(query).unwrap(), None)
    }

    #[test]
    fn field_labels_are_bounded_by_the_schema() {
        assert_eq!(label("{ me { id } }"), "me");
        assert_eq!(label("{ a: me { id } b: me { handle } __typename }"), "me");
        assert_eq!(
            label("{ ...F } fragment F on Query { friends { edges { cursor } } }"),
            "friends"
        );
        assert_eq!(label("{ me { id } friendCounts { friend } }"), "multiple");
        assert_eq!(label("{ __schema { types { name } } }"), "__introspection");
        assert_eq!(label("{ madeUpFieldNumber12345 }"), "unknown");
        assert_eq!(
            label("mutation { signUp(handle: \"x\", password: \"y\") { token } }"),
            "signUp"
        );
    }
}
