//! Cheap checks of a GraphQL document before the expensive work on it.
//!
//! Two checks, both linear in the size of their input and neither recursive beyond a fixed
//! bound, so that no document can crash or stall the server:
//! - [`check_nesting`] and [`json_nesting`] scan the query text and the variables for brackets
//!   nested deeper than [`MAX_NESTING`] *before* anything parses them: value literals such as
//!   `[[[[...]]]]` or `{a:{a:...}}` are parsed recursively, and a few kilobytes of them
//!   overflowed a worker's stack.
//! - [`check_cost`] walks the parsed document once, expanding fragment spreads with
//!   memoization, and refuses it when the expanded document would have more than
//!   [`MAX_EXPANDED_SELECTIONS`] selections, nest deeper than [`MAX_NESTING`], or hold a
//!   fragment cycle. The same walk owns the depth limit: at most [`MAX_DEPTH`] fields deep,
//!   not counting what is below `__schema` and `__type`, so that the standard introspection
//!   queries of graphql-js and graphql-core (a dozen `ofType` levels) pass; there the lists
//!   that multiply an answer (`fields`, `inputFields`, `interfaces`, `possibleTypes`) may nest
//!   at most [`MAX_INTROSPECTION_LISTS`] deep, as graphql-js's own introspection depth rule
//!   allows. async-graphql's own validation expands every spread again where it is
//!   used, so thirty fragments each spreading the previous one twice took minutes before it.

use std::collections::HashMap;

use async_graphql::Variables;
use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned};

/// Deepest nesting of `[`, `{` and `(` in a document or of arrays and objects in variables.
pub const MAX_NESTING: usize = 64;
/// Most selections a document may have once every fragment spread is expanded in place.
pub const MAX_EXPANDED_SELECTIONS: usize = 10_000;

/// Deepest allowed query, in fields (fragments inlined), not counting introspection.
pub const MAX_DEPTH: usize = 12;

/// How deep the introspection fields that return lists of types' parts may nest.
pub const MAX_INTROSPECTION_LISTS: usize = 2;

/// The introspection fields whose lists multiply the size of an answer when nested.
const INTROSPECTION_LISTS: [&str; 4] = ["fields", "inputFields", "interfaces", "possibleTypes"];

/// Why a document was refused before execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentRefusal {
    /// Brackets, values or selections nested deeper than [`MAX_NESTING`].
    NestedTooDeep {
        /// Where: "query" or "variables".
        place: &'static str,
    },
    /// More than [`MAX_EXPANDED_SELECTIONS`] selections with fragments expanded.
    TooManySelections,
    /// A fragment spreads itself, directly or through others.
    FragmentCycle(String),
    /// Fields nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Introspection lists nested deeper than [`MAX_INTROSPECTION_LISTS`].
    IntrospectionTooDeep,
}

impl std::fmt::Display for DocumentRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocumentRefusal::NestedTooDeep { place } => write!(
                f,
                "the {place} is nested too deep: at most {MAX_NESTING} levels of brackets, \
                 values or selections"
            ),
            DocumentRefusal::TooManySelections => write!(
                f,
                "the query is too large: more than {MAX_EXPANDED_SELECTIONS} selections with \
                 its fragments expanded"
            ),
            DocumentRefusal::FragmentCycle(name) => {
                write!(f, "fragment \"{name}\" spreads itself")
            }
            DocumentRefusal::TooDeep => write!(
                f,
                "the query is nested too deep: at most {MAX_DEPTH} levels of fields"
            ),
            DocumentRefusal::IntrospectionTooDeep => write!(
                f,
                "the introspection query is nested too deep: fields, inputFields, interfaces \
                 and possibleTypes may nest at most {MAX_INTROSPECTION_LISTS} levels"
            ),
        }
    }
}

/// Checks that no `[`, `{` or `(` in a GraphQL document nests deeper than [`MAX_NESTING`].
///
/// Strings, block strings and comments are skipped, so that brackets inside them do not count.
/// One pass over the bytes; the parser will still refuse unbalanced brackets.
pub fn check_nesting(query: &str) -> Result<(), DocumentRefusal> {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                // A block string ends at the next `"""` that is not escaped as `\"""`.
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' | b'{' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(DocumentRefusal::NestedTooDeep { place: "query" });
                }
            }
            b']' | b'}' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The deepest nesting of arrays and objects in a JSON text (strings skipped), without parsing
/// it: a body is checked with this before it is deserialized.
pub fn json_nesting(json: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                i += 1;
                while i < json.len() && json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// Checks that no variable nests lists and objects deeper than [`MAX_NESTING`].
pub fn check_variables(variables: &Variables) -> Result<(), DocumentRefusal> {
    use async_graphql::Value;
    // Iterative, so that the check itself cannot overflow whatever it is given.
    let mut pending: Vec<(&Value, usize)> = variables.values().map(|v| (v, 0)).collect();
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::List(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth + 1 > MAX_NESTING {
            return Err(DocumentRefusal::NestedTooDeep { place: "variables" });
        }
        pending.extend(children.map(|child| (child, depth + 1)));
    }
    Ok(())
}

/// What a selection set costs once expanded: how many selections, how deep it goes, how deep
/// its fields go (introspection counting one), and how deep introspection lists nest in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cost {
    selections: usize,
    depth: usize,
    fields: usize,
    lists: usize,
}

impl Cost {
    /// A field named `name` over the selection set costing `below`.
    fn field(name: &str, below: Cost) -> Result<Cost, DocumentRefusal> {
        let (fields, lists) = match name {
            "__schema" | "__type" => {
                if below.lists > MAX_INTROSPECTION_LISTS {
                    return Err(DocumentRefusal::IntrospectionTooDeep);
                }
                (1, 0)
            }
            name if INTROSPECTION_LISTS.contains(&name) => (below.fields + 1, below.lists + 1),
            _ => (below.fields + 1, below.lists),
        };
        Ok(Cost {
            selections: below.selections.saturating_add(1),
            depth: below.depth + 1,
            fields,
            lists,
        })
    }

    /// A fragment (inline or spread) over the selection set costing `below`: a selection and
    /// a level of nesting, but no field.
    fn fragment(below: Cost) -> Cost {
        Cost {
            selections: below.selections.saturating_add(1),
            depth: below.depth + 1,
            ..below
        }
    }
}

/// Checks a parsed document's size with every fragment spread expanded in place, visiting
/// each fragment definition once (its cost is remembered), and never recursing more than
/// [`MAX_NESTING`] levels.
pub fn check_cost(doc: &ExecutableDocument) -> Result<(), DocumentRefusal> {
    let mut walk = CostWalk {
        fragments: &doc.fragments,
        known: HashMap::new(),
        open: Vec::new(),
    };
    let mut total = 0usize;
    let mut add = |cost: Cost| {
        total = total.saturating_add(cost.selections);
        if total > MAX_EXPANDED_SELECTIONS {
            return Err(DocumentRefusal::TooManySelections);
        }
        Ok(())
    };
    for (_, operation) in doc.operations.iter() {
        let cost = walk.set(&operation.node.selection_set, 0)?;
        if cost.fields > MAX_DEPTH {
            return Err(DocumentRefusal::TooDeep);
        }
        add(cost)?;
    }
    // Validation also visits every definition once on its own, used or not.
    for (name, fragment) in &doc.fragments {
        add(walk.fragment(name, fragment, 0)?)?;
    }
    Ok(())
}

struct CostWalk<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    known: HashMap<&'a str, Cost>,
    /// Fragments being expanded, outermost first (a spread of one of them is a cycle).
    open: Vec<&'a str>,
}

impl<'a> CostWalk<'a> {
    /// The cost of a selection set entered at nesting `level`.
    fn set(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        level: usize,
    ) -> Result<Cost, DocumentRefusal> {
        if level >= MAX_NESTING {
            return Err(DocumentRefusal::NestedTooDeep { place: "query" });
        }
        let mut cost = Cost::default();
        for selection in &set.node.items {
            let inner = match &selection.node {
                Selection::Field(field) => {
                    let below = if field.node.selection_set.node.items.is_empty() {
                        Cost::default()
                    } else {
                        self.set(&field.node.selection_set, level + 1)?
                    };
                    Cost::field(field.node.name.node.as_str(), below)?
                }
                Selection::InlineFragment(inline) => {
                    Cost::fragment(self.set(&inline.node.selection_set, level + 1)?)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match self.fragments.get_key_value(name) {
                        // Unknown fragments are for validation to report.
                        None => Cost::fragment(Cost::default()),
                        Some((name, fragment)) => {
                            Cost::fragment(self.fragment(name, fragment, level + 1)?)
                        }
                    }
                }
            };
            cost.selections = cost.selections.saturating_add(inner.selections);
            cost.depth = cost.depth.max(inner.depth);
            cost.fields = cost.fields.max(inner.fields);
            cost.lists = cost.lists.max(inner.lists);
            if cost.selections > MAX_EXPANDED_SELECTIONS {
                return Err(DocumentRefusal::TooManySelections);
            }
            if level + cost.depth > MAX_NESTING {
                return Err(DocumentRefusal::NestedTooDeep { place: "query" });
            }
        }
        Ok(cost)
    }

    /// The cost of a fragment's selection set, computed once.
    fn fragment(
        &mut self,
        name: &'a Name,
        fragment: &'a Positioned<FragmentDefinition>,
        level: usize,
    ) -> Result<Cost, DocumentRefusal> {
        let name = name.as_str();
        if let Some(cost) = self.known.get(name) {
            if level + cost.depth > MAX_NESTING {
                return Err(DocumentRefusal::NestedTooDeep { place: "query" });
            }
            return Ok(*cost);
        }
        if self.open.contains(&name) {
            return Err(DocumentRefusal::FragmentCycle(name.to_owned()));
        }
        self.open.push(name);
        let cost = self.set(&fragment.node.selection_set, level);
        self.open.pop();
        let cost = cost?;
        self.known.insert(name, cost);
        Ok(cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::hostile::nested;
    use async_graphql::parser::parse_query;

    #[test]
    fn brackets_are_counted_outside_strings_and_comments() {
        let ok = format!("{{ __typename(x: {}) }}", nested("[", "]", MAX_NESTING - 2));
        assert_eq!(check_nesting(&ok), Ok(()));
        let deep = format!("{{ __typename(x: {}) }}", nested("[", "]", MAX_NESTING));
        assert!(check_nesting(&deep).is_err());
        let objects = format!("{{ f(m: {}) }}", nested("{a:", "}", 1_500));
        assert!(check_nesting(&objects).is_err());
        // Inside strings, block strings and comments brackets mean nothing.
        let quoted = format!(
            "{{ f(a: \"{}\", b: \"\"\"{}\\\"\"\"{}\"\"\") }} # {}\n",
            "[".repeat(500),
            "{".repeat(500),
            "(".repeat(500),
            "[".repeat(500)
        );
        assert_eq!(check_nesting(&quoted), Ok(()));
        let escaped = format!("{{ f(a: \"\\\"{}\") }}", "[".repeat(500));
        assert_eq!(check_nesting(&escaped), Ok(()));
        // Closing more than was opened never wraps around.
        assert_eq!(check_nesting("}}}}]]]) { a }"), Ok(()));
    }

    #[test]
    fn json_depth_skips_strings() {
        assert_eq!(json_nesting(br#"{"a": [1, {"b": "[[[["}]}"#), 3);
        assert_eq!(json_nesting(br#"{"a": "\"[[[", "b": []}"#), 2);
        assert_eq!(json_nesting(b"[[[[]]]]"), 4);
        assert_eq!(json_nesting(b""), 0);
    }

    #[test]
    fn variables_are_bounded() {
        let deep: serde_json::Value =
            serde_json::from_str(&nested("[", "]", MAX_NESTING + 1)).unwrap_or_default();
        let vars = Variables::from_json(serde_json::json!({ "x": deep }));
        assert!(check_variables(&vars).is_err());
        let fine: serde_json::Value =
            serde_json::from_str(&nested("[", "]", MAX_NESTING)).unwrap_or_default();
        let vars = Variables::from_json(serde_json::json!({ "x": fine, "y": {"a": 1} }));
        assert_eq!(check_variables(&vars), Ok(()));
    }

    fn cost_of(query: &str) -> Result<(), DocumentRefusal> {
        check_cost(&parse_query(query).unwrap())
    }

    #[test]
    fn fragment_bombs_are_refused_without_expanding_them() {
        // 2^30 selections once expanded; the walk visits each fragment once.
        let query = crate::edge::hostile::fragment_bomb(30);
        assert_eq!(cost_of(&query), Err(DocumentRefusal::TooManySelections));
    }

    #[test]
    fn cycles_and_deep_chains_are_refused() {
        // The operation is walked first: A opens, B opens, B spreads A.
        assert_eq!(
            cost_of("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
            Err(DocumentRefusal::FragmentCycle("A".into()))
        );
        assert_eq!(
            cost_of("{ __typename } fragment S on Query { ...S }"),
            Err(DocumentRefusal::FragmentCycle("S".into()))
        );
        let mut chain = String::from("{ ...F0 }");
        for i in 0..100 {
            chain.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
        }
        chain.push_str(" fragment F100 on Query { __typename }");
        assert_eq!(
            cost_of(&chain),
            Err(DocumentRefusal::NestedTooDeep { place: "query" })
        );
    }

    #[test]
    fn ordinary_documents_pass() {
        assert_eq!(
            cost_of(
                "query Page($after: String) { friends(first: 100, after: $after) { edges { \
                 cursor node { ...F } } pageInfo { hasNextPage endCursor } } } \
                 fragment F on Friend { state updatedAt user { id handle online } }"
            ),
            Ok(())
        );
        let wide = crate::edge::hostile::aliases(MAX_EXPANDED_SELECTIONS + 1);
        assert_eq!(cost_of(&wide), Err(DocumentRefusal::TooManySelections));
    }

    /// `levels` fields nested in one another, through a fragment half-way when `fragment`.
    fn fields_deep(levels: usize, fragment: bool) -> String {
        let half = levels / 2;
        let inner = format!(
            "{}id{}",
            "a { ".repeat(levels - half - 1),
            " }".repeat(levels - half - 1)
        );
        if fragment {
            format!(
                "{{ {}...F{} }} fragment F on T {{ {inner} }}",
                "a { ".repeat(half),
                " }".repeat(half)
            )
        } else {
            format!("{{ {}{inner}{} }}", "a { ".repeat(half), " }".repeat(half))
        }
    }

    #[test]
    fn fields_nest_at_most_max_depth_through_fragments_too() {
        for fragment in [false, true] {
            assert_eq!(cost_of(&fields_deep(MAX_DEPTH, fragment)), Ok(()));
            assert_eq!(
                cost_of(&fields_deep(MAX_DEPTH + 1, fragment)),
                Err(DocumentRefusal::TooDeep)
            );
        }
    }

    #[test]
    fn the_standard_introspection_query_passes_and_multiplying_ones_do_not() {
        assert_eq!(
            cost_of(crate::edge::hostile::STANDARD_INTROSPECTION),
            Ok(())
        );
        let lists = |n: usize| {
            format!(
                "{{ __schema {{ types {{ {}name{} }} }} }}",
                "fields { type { ".repeat(n),
                " } }".repeat(n)
            )
        };
        assert_eq!(cost_of(&lists(MAX_INTROSPECTION_LISTS)), Ok(()));
        assert_eq!(
            cost_of(&lists(MAX_INTROSPECTION_LISTS + 1)),
            Err(DocumentRefusal::IntrospectionTooDeep)
        );
        // Through a fragment, under an alias, and from __type.
        assert_eq!(
            cost_of(
                "{ t: __type(name: \"User\") { ...L } } fragment L on __Type { \
                 f: fields { type { possibleTypes { interfaces { name } } } } }"
            ),
            Err(DocumentRefusal::IntrospectionTooDeep)
        );
    }
}
