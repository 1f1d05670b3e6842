//! The hostile documents that crashed or stalled the server before its edge was hardened,
//! built at any size: the edge's tests, the end-to-end tests and `amity-bench attack` send
//! these same texts. Beside them, [`STANDARD_INTROSPECTION`]: a large document the edge must
//! let through.

/// `levels` of `open` around `1`, closed again: `nested("[", "]", 2)` is `[[1]]`.
pub fn nested(open: &str, close: &str, levels: usize) -> String {
    format!("{}1{}", open.repeat(levels), close.repeat(levels))
}

/// Lists (`true`) and objects with key `a` (`false`) nested in the given order around `1`;
/// `quoted` writes the keys as JSON (`{"a":`) rather than GraphQL (`{a:`).
pub fn mixed_nesting(lists: &[bool], quoted: bool) -> String {
    let object = if quoted { "{\"a\":" } else { "{a:" };
    let mut open = String::new();
    let mut close = String::new();
    for &list in lists {
        open.push_str(if list { "[" } else { object });
        close.insert(0, if list { ']' } else { '}' });
    }
    format!("{open}1{close}")
}

/// `{ __typename(x: [[[...1...]]]) }` with lists nested `levels` deep (1,600 aborted the
/// process).
pub fn list_literal(levels: usize) -> String {
    format!("{{ __typename(x: {}) }}", nested("[", "]", levels))
}

/// `mutation { updateProfile(metadata: {a:{a:...}}) { id } }`, `levels` deep (1,500 aborted
/// the process).
pub fn object_literal(levels: usize) -> String {
    format!(
        "mutation {{ updateProfile(metadata: {}) {{ id }} }}",
        nested("{a:", "}", levels)
    )
}

/// `levels` fragments, each spreading the previous one twice: 2^levels selections expanded
/// (30 kept a core busy for minutes in validation).
pub fn fragment_bomb(levels: usize) -> String {
    let mut query = String::from("query { ...F");
    query.push_str(&levels.to_string());
    query.push_str(" } fragment F0 on Query { __typename }");
    for i in 1..=levels {
        query.push_str(&format!(
            " fragment F{i} on Query {{ ...F{p} ...F{p} }}",
            p = i - 1
        ));
    }
    query
}

/// `{ a0:__typename a1:__typename ... }` with `count` aliases.
pub fn aliases(count: usize) -> String {
    let fields: Vec<String> = (0..count).map(|i| format!("a{i}:__typename")).collect();
    format!("{{ {} }}", fields.join(" "))
}

/// The shape of the standard introspection query that GraphiQL, graphql-js's
/// `getIntrospectionQuery()` (every option on) and graphql-core send: a document the edge must
/// let through, anonymously, beside the attack ones above. Its type references nest nine
/// `ofType` levels, more than either library asks for.
pub const STANDARD_INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType {
  kind name ofType { kind name } } } } } } } } }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_are_what_they_say() {
        assert_eq!(nested("[", "]", 2), "[[1]]");
        assert_eq!(mixed_nesting(&[true, false], false), "[{a:1}]");
        assert_eq!(mixed_nesting(&[false], true), "{\"a\":1}");
        assert_eq!(list_literal(1), "{ __typename(x: [1]) }");
        assert_eq!(
            fragment_bomb(1),
            "query { ...F1 } fragment F0 on Query { __typename } fragment F1 on Query { ...F0 ...F0 }"
        );
        assert_eq!(aliases(2), "{ a0:__typename a1:__typename }");
        assert!(async_graphql::parser::parse_query(object_literal(3)).is_ok());
    }
}
