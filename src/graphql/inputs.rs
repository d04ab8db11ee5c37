//! The request's input values checked against the schema before execution: the
//! selected operation's variables (missing, `null` where not allowed, of the wrong
//! type, failing a scalar's parsing) and every argument literal of its fields.
//! A mistake is a request error naming the input field it is about (`birthDate`,
//! not the mutation), found before anything ran — so a request with bad input never
//! half-executes.
use super::shape::{Shape, TypeShape, named};
use async_graphql::Variables;
use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet, Type,
};
use async_graphql::{Name, Positioned};
use async_graphql_value::{ConstValue, Value};
use std::collections::HashSet;

/// The longest list an input may hold: every list of this API is short (statuses,
/// tags, scopes, groups), and a long one would become a long SQL `IN (…)`.
pub const MAX_LIST_ITEMS: usize = 1_000;

/// A refused input value: the field (input field, argument or variable) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    pub field: String,
    /// The variable the value came from, if any.
    pub variable: Option<String>,
    pub message: String,
}

/// Checks a custom scalar's value (`Date`, `DateTime`): `None` for scalars it does
/// not know, which are left to their own parsing.
pub type ScalarCheck = fn(&str, &ConstValue) -> Option<Result<(), String>>;

/// Checks the variables and argument values of the operation the request selects.
/// A document without a selectable operation is left to async-graphql's errors.
pub fn check(
    shape: &Shape,
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    scalars: ScalarCheck,
) -> Result<(), BadInput> {
    let Some(op) = selected(doc, operation_name) else { return Ok(()) };
    let checker = Checker { shape, scalars, doc, op, variables };
    for def in &op.variable_definitions {
        let name = def.node.name.node.as_str();
        let ty = &def.node.var_type.node;
        match variables.get(name) {
            Some(value) => checker.value(ty, value, name, &Some(name.to_owned()))?,
            None if !ty.nullable && def.node.default_value.is_none() => {
                return Err(BadInput {
                    field: name.to_owned(),
                    variable: Some(name.to_owned()),
                    message: format!("variable ${name} of type {ty} is required"),
                });
            }
            None => {}
        }
    }
    let root = match op.ty {
        async_graphql::parser::types::OperationType::Query => Some(shape.query_type()),
        async_graphql::parser::types::OperationType::Mutation => shape.mutation_type(),
        async_graphql::parser::types::OperationType::Subscription => None,
    };
    let mut seen = HashSet::new();
    checker.selection_set(&op.selection_set.node, root, &mut seen)
}

/// The operation async-graphql will run: the only one, or the one named.
pub fn selected<'a>(doc: &'a ExecutableDocument, name: Option<&str>) -> Option<&'a OperationDefinition> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), None) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        _ => None,
    }
}

struct Checker<'a> {
    shape: &'a Shape,
    scalars: ScalarCheck,
    doc: &'a ExecutableDocument,
    op: &'a OperationDefinition,
    variables: &'a Variables,
}

impl<'a> Checker<'a> {
    fn selection_set(
        &self,
        set: &'a SelectionSet,
        parent: Option<&'a str>,
        seen: &mut HashSet<&'a str>,
    ) -> Result<(), BadInput> {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let shape = parent.and_then(|p| self.shape.field(p, field.name.node.as_str()));
                    if let Some(shape) = shape {
                        for arg in &shape.args {
                            let given = field.get_argument(arg.name.as_str());
                            self.argument(&arg.ty, arg.default.is_some(), given, arg.name.as_str())?;
                        }
                    }
                    self.selection_set(&field.selection_set.node, shape.map(|s| named(&s.ty)), seen)?;
                }
                Selection::InlineFragment(inline) => {
                    let on = inline.node.type_condition.as_ref().map(|c| c.node.on.node.as_str()).or(parent);
                    self.selection_set(&inline.node.selection_set.node, on, seen)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    // Each fragment once: its arguments do not depend on where it is
                    // spread (and the cost check has refused cycles).
                    if seen.insert(name)
                        && let Some(fragment) = self.doc.fragments.get(name)
                    {
                        let on = fragment.node.type_condition.node.on.node.as_str();
                        self.selection_set(&fragment.node.selection_set.node, Some(on), seen)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn argument(
        &self,
        ty: &Type,
        has_default: bool,
        given: Option<&Positioned<Value>>,
        name: &str,
    ) -> Result<(), BadInput> {
        let value = given.and_then(|v| self.substitute(&v.node));
        match value {
            Some(value) => self.value(ty, &value, name, &variable_of(given)),
            None if !ty.nullable && !has_default => Err(BadInput {
                field: name.to_owned(),
                variable: variable_of(given),
                message: format!("argument {name} of type {ty} is required"),
            }),
            None => Ok(()),
        }
    }

    /// The argument with its variables' values (already checked against their
    /// declared types); `None` for a variable that was not given and has no default
    /// (the argument counts as not given).
    fn substitute(&self, value: &Value) -> Option<ConstValue> {
        Some(match value {
            Value::Variable(name) => return self.variable(name),
            Value::Null => ConstValue::Null,
            Value::Number(n) => ConstValue::Number(n.clone()),
            Value::String(s) => ConstValue::String(s.clone()),
            Value::Boolean(b) => ConstValue::Boolean(*b),
            Value::Binary(b) => ConstValue::Binary(b.clone()),
            Value::Enum(e) => ConstValue::Enum(e.clone()),
            Value::List(items) => ConstValue::List(
                items.iter().map(|i| self.substitute(i).unwrap_or(ConstValue::Null)).collect(),
            ),
            Value::Object(fields) => ConstValue::Object(
                fields.iter().filter_map(|(k, v)| self.substitute(v).map(|v| (k.clone(), v))).collect(),
            ),
        })
    }

    fn variable(&self, name: &Name) -> Option<ConstValue> {
        self.variables.get(name).cloned().or_else(|| {
            self.op
                .variable_definitions
                .iter()
                .find(|d| d.node.name.node == *name)
                .and_then(|d| d.node.default_value.as_ref().map(|v| v.node.clone()))
        })
    }

    /// Input coercion as the GraphQL specification describes it, naming the
    /// innermost field that is wrong.
    fn value(
        &self,
        ty: &Type,
        value: &ConstValue,
        field: &str,
        variable: &Option<String>,
    ) -> Result<(), BadInput> {
        let bad = |message: String| BadInput { field: field.to_owned(), variable: variable.clone(), message };
        if matches!(value, ConstValue::Null) {
            return if ty.nullable { Ok(()) } else { Err(bad(format!("{field} must not be null"))) };
        }
        let name = match &ty.base {
            BaseType::List(inner) => {
                return match value {
                    ConstValue::List(items) if items.len() > MAX_LIST_ITEMS => {
                        Err(bad(format!("{field}: at most {MAX_LIST_ITEMS} items")))
                    }
                    ConstValue::List(items) => {
                        items.iter().try_for_each(|item| self.value(inner, item, field, variable))
                    }
                    // A single value where a list is expected is a list of one.
                    single => self.value(inner, single, field, variable),
                };
            }
            BaseType::Named(name) => name.as_str(),
        };
        // The built-in scalars are not in the SDL.
        if let Some(checked) = builtin(name, value) {
            return checked.map_err(|why| bad(format!("{field}: {why}")));
        }
        match self.shape.ty(name) {
            Some(TypeShape::Scalar) => match (self.scalars)(name, value) {
                Some(Err(why)) => Err(bad(format!("{field}: {why}"))),
                _ => Ok(()),
            },
            Some(TypeShape::Enum { values }) => {
                let given = match value {
                    ConstValue::Enum(v) => Some(v.as_str()),
                    // From JSON variables, enum values come as strings.
                    ConstValue::String(s) => Some(s.as_str()),
                    _ => None,
                };
                match given {
                    Some(v) if values.contains(v) => Ok(()),
                    _ => Err(bad(format!("{field}: expected one of the values of {name}"))),
                }
            }
            Some(TypeShape::Input { fields }) => {
                let ConstValue::Object(object) = value else {
                    return Err(bad(format!("{field}: expected an input object {name}")));
                };
                if let Some(unknown) = object.keys().find(|k| !fields.iter().any(|f| f.name == **k)) {
                    return Err(BadInput {
                        field: unknown.to_string(),
                        variable: variable.clone(),
                        message: format!("{name} has no field {unknown}"),
                    });
                }
                for f in fields {
                    match object.get(&f.name) {
                        Some(v) => self.value(&f.ty, v, f.name.as_str(), variable)?,
                        None if !f.ty.nullable && f.default.is_none() => {
                            return Err(BadInput {
                                field: f.name.to_string(),
                                variable: variable.clone(),
                                message: format!("{} of type {} is required", f.name, f.ty),
                            });
                        }
                        None => {}
                    }
                }
                Ok(())
            }
            // Output types as input are a validation error async-graphql reports.
            _ => Ok(()),
        }
    }
}

fn variable_of(given: Option<&Positioned<Value>>) -> Option<String> {
    match given.map(|v| &v.node) {
        Some(Value::Variable(name)) => Some(name.to_string()),
        _ => None,
    }
}

/// The built-in scalars' input coercion.
fn builtin(name: &str, value: &ConstValue) -> Option<Result<(), String>> {
    let ok = match name {
        "Int" => {
            matches!(value, ConstValue::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()))
        }
        "Float" => matches!(value, ConstValue::Number(_)),
        // No text of this API may hold NUL (PostgreSQL cannot store it either).
        "String" | "ID" if matches!(value, ConstValue::String(s) if s.contains('\0')) => {
            return Some(Err("must not contain NUL characters".into()));
        }
        "String" => matches!(value, ConstValue::String(_)),
        "Boolean" => matches!(value, ConstValue::Boolean(_)),
        "ID" => {
            matches!(value, ConstValue::String(_)) || matches!(value, ConstValue::Number(n) if n.is_i64())
        }
        _ => return None,
    };
    Some(if ok { Ok(()) } else { Err(format!("expected {}", article(name))) })
}

fn article(name: &str) -> String {
    match name {
        "Int" => "an integer (32 bits)".into(),
        "Float" => "a number".into(),
        "String" => "a string".into(),
        "Boolean" => "true or false".into(),
        _ => format!("an {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use serde_json::json;

    const SDL: &str = "
        type Query { items(first: Int! = 50, status: [Status!], on: Date): [Item!]! item(id: ID!): Item }
        type Mutation { make(input: MakeInput!): Item }
        type Item { name: String! }
        input MakeInput { name: String! born: Date address: Address tags: [String!]! = [] }
        input Address { city: String! }
        enum Status { ACTIVE LEFT }
        scalar Date
        schema { query: Query mutation: Mutation }";

    fn date(name: &str, value: &ConstValue) -> Option<Result<(), String>> {
        (name == "Date").then(|| match value {
            ConstValue::String(s) if s.len() == 10 && s != "2025-02-30" => Ok(()),
            _ => Err("expected a date as YYYY-MM-DD".into()),
        })
    }

    fn run(query: &str, variables: serde_json::Value) -> Result<(), BadInput> {
        let shape = Shape::from_sdl(SDL).expect("sdl");
        let doc = parse_query(query).expect("parses");
        check(&shape, &doc, None, &Variables::from_json(variables), date)
    }

    fn field_of(result: Result<(), BadInput>) -> String {
        result.expect_err("refused").field
    }

    #[test]
    fn missing_required_variables_are_named() {
        let q = "query($f: Int!) { items(first: $f) { name } }";
        let err = run(q, json!({})).expect_err("missing");
        assert_eq!((err.field.as_str(), err.variable.as_deref()), ("f", Some("f")));
        assert!(run(q, json!({ "f": 3 })).is_ok());
        // A default makes it optional; so does a nullable type.
        assert!(run("query($f: Int! = 5) { items(first: $f) { name } }", json!({})).is_ok());
        assert!(run("query($f: Int) { items(first: $f) { name } }", json!({})).is_ok());
    }

    #[test]
    fn variables_failing_coercion_name_the_innermost_field() {
        let q = "mutation($i: MakeInput!) { make(input: $i) { name } }";
        assert_eq!(field_of(run(q, json!({ "i": { "name": "A", "born": "2025-02-30" } }))), "born");
        assert_eq!(field_of(run(q, json!({ "i": { "name": null } }))), "name");
        assert_eq!(field_of(run(q, json!({ "i": { "born": "2025-01-01" } }))), "name", "required");
        assert_eq!(field_of(run(q, json!({ "i": { "name": "A", "address": { "city": 7 } } }))), "city");
        assert_eq!(field_of(run(q, json!({ "i": { "name": "A", "nope": 1 } }))), "nope");
        assert!(run(q, json!({ "i": { "name": "A", "born": "2025-02-28", "tags": "one" } })).is_ok());
        let q = "query($d: Date!) { items(on: $d) { name } }";
        assert_eq!(field_of(run(q, json!({ "d": "2025-02-30" }))), "d");
        let q = "query($s: [Status!]) { items(status: $s) { name } }";
        assert_eq!(field_of(run(q, json!({ "s": ["ACTIVE", "GONE"] }))), "s");
        assert_eq!(field_of(run(q, json!({ "s": vec!["ACTIVE"; MAX_LIST_ITEMS + 1] }))), "s", "too long");
        assert!(run(q, json!({ "s": ["ACTIVE", "LEFT"] })).is_ok());
        assert_eq!(field_of(run("query($n: Int!) { items(first: $n) { name } }", json!({ "n": 1e12 }))), "n");
    }

    #[test]
    fn literals_are_checked_with_their_variables_in_place() {
        assert_eq!(
            field_of(run(
                "mutation { make(input: { name: \"A\", born: \"2025-02-30\" }) { name } }",
                json!({})
            )),
            "born"
        );
        assert_eq!(field_of(run("mutation { make(input: { name: null }) { name } }", json!({}))), "name");
        assert_eq!(field_of(run("{ items(first: \"x\") { name } }", json!({}))), "first");
        assert_eq!(field_of(run("{ items(first: null) { name } }", json!({}))), "first");
        assert_eq!(field_of(run("{ item { name } }", json!({}))), "id", "required argument");
        assert_eq!(field_of(run("{ item(id: \"1\\u0000\") { name } }", json!({}))), "id", "NUL");
        let q = "mutation($i: MakeInput!) { make(input: $i) { name } }";
        assert_eq!(field_of(run(q, json!({ "i": { "name": "Anna\u{0}Lena" } }))), "name");
        // Variables inside literals: absent ones leave the field out.
        let q = "mutation($b: Date) { make(input: { name: \"A\", born: $b }) { name } }";
        assert!(run(q, json!({})).is_ok());
        assert_eq!(field_of(run(q, json!({ "b": "2025-02-30" }))), "b");
        // Through fragments, each checked once.
        let q = "{ ...F ...F } fragment F on Query { items(first: \"x\") { name } }";
        assert_eq!(field_of(run(q, json!({}))), "first");
    }
}
