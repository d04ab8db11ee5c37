//! The shape of the schema, as the request checks need it: for every output type its
//! fields (type, arguments with defaults), for every input type its fields, enums
//! with their values. Read once at start from the schema's own SDL, so it cannot
//! disagree with what async-graphql serves.
use async_graphql::Name;
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use async_graphql_value::ConstValue;
use std::collections::{HashMap, HashSet};

/// An argument or an input object's field.
#[derive(Debug, Clone)]
pub struct InputShape {
    pub name: Name,
    pub ty: Type,
    pub default: Option<ConstValue>,
}

/// A field of an object or interface type.
#[derive(Debug, Clone)]
pub struct FieldShape {
    pub ty: Type,
    pub args: Vec<InputShape>,
}

impl FieldShape {
    pub fn arg(&self, name: &str) -> Option<&InputShape> {
        self.args.iter().find(|a| a.name.as_str() == name)
    }

    /// `[T]` (nullable or not): the field returns a list.
    pub fn is_list(&self) -> bool {
        matches!(self.ty.base, BaseType::List(_))
    }
}

#[derive(Debug, Clone)]
pub enum TypeShape {
    /// Object and interface types: what can be selected.
    Output {
        fields: HashMap<Name, FieldShape>,
    },
    Union,
    Scalar,
    Enum {
        values: HashSet<Name>,
    },
    Input {
        fields: Vec<InputShape>,
    },
}

#[derive(Debug, Clone)]
pub struct Shape {
    types: HashMap<Name, TypeShape>,
    query: Name,
    mutation: Option<Name>,
}

/// The named type inside list and non-null wrappers.
pub fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

impl Shape {
    /// From the SDL `Schema::sdl()` prints. A schema that does not parse is a
    /// programming error found by the first test.
    pub fn from_sdl(sdl: &str) -> Result<Self, String> {
        let document = async_graphql::parser::parse_schema(sdl).map_err(|e| e.to_string())?;
        let mut types = HashMap::new();
        let mut query = Name::new("Query");
        let mut mutation = None;
        let mut saw_mutation_type = false;
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    if let Some(q) = schema.node.query {
                        query = q.node;
                    }
                    mutation = schema.node.mutation.map(|m| m.node);
                }
                TypeSystemDefinition::Type(ty) => {
                    let ty = ty.node;
                    let shape = match ty.kind {
                        TypeKind::Scalar => TypeShape::Scalar,
                        TypeKind::Object(o) => TypeShape::Output { fields: fields(o.fields) },
                        TypeKind::Interface(i) => TypeShape::Output { fields: fields(i.fields) },
                        TypeKind::Union(_) => TypeShape::Union,
                        TypeKind::Enum(e) => TypeShape::Enum {
                            values: e.values.into_iter().map(|v| v.node.value.node).collect(),
                        },
                        TypeKind::InputObject(i) => {
                            TypeShape::Input { fields: i.fields.into_iter().map(|f| input(f.node)).collect() }
                        }
                    };
                    if ty.name.node.as_str() == "Mutation" {
                        saw_mutation_type = true;
                    }
                    types.insert(ty.name.node, shape);
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        // Without a `schema { … }` block the root types go by their default names.
        if mutation.is_none() && saw_mutation_type {
            mutation = Some(Name::new("Mutation"));
        }
        Ok(Self { types, query, mutation })
    }

    pub fn query_type(&self) -> &str {
        self.query.as_str()
    }

    pub fn mutation_type(&self) -> Option<&str> {
        self.mutation.as_ref().map(Name::as_str)
    }

    pub fn ty(&self, name: &str) -> Option<&TypeShape> {
        self.types.get(name)
    }

    pub fn field(&self, type_name: &str, field: &str) -> Option<&FieldShape> {
        match self.types.get(type_name)? {
            TypeShape::Output { fields } => fields.get(field),
            _ => None,
        }
    }
}

fn fields(
    list: Vec<async_graphql::Positioned<async_graphql::parser::types::FieldDefinition>>,
) -> HashMap<Name, FieldShape> {
    list.into_iter()
        .map(|f| {
            let f = f.node;
            let args = f.arguments.into_iter().map(|a| input(a.node)).collect();
            (f.name.node, FieldShape { ty: f.ty.node, args })
        })
        .collect()
}

fn input(v: async_graphql::parser::types::InputValueDefinition) -> InputShape {
    InputShape { name: v.name.node, ty: v.ty.node, default: v.default_value.map(|d| d.node) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_arguments_defaults_and_inputs() {
        let shape = Shape::from_sdl(
            "type Query { items(first: Int! = 50, after: String): ItemConnection! one: Item }
             type ItemConnection { edges: [Item!]! totalCount: Int! }
             type Item { name: String! }
             type Mutation { make(input: MakeInput!): Item }
             input MakeInput { name: String! tags: [String!]! = [] }
             enum Colour { RED GREEN }
             scalar Date
             schema { query: Query mutation: Mutation }",
        )
        .expect("sdl");
        let items = shape.field("Query", "items").expect("items");
        assert!(!items.is_list());
        assert_eq!(items.arg("first").and_then(|a| a.default.clone()), Some(ConstValue::from(50)));
        assert!(shape.field("ItemConnection", "edges").expect("edges").is_list());
        assert_eq!(shape.mutation_type(), Some("Mutation"));
        assert!(matches!(shape.ty("Colour"), Some(TypeShape::Enum { values }) if values.len() == 2));
        assert!(matches!(shape.ty("MakeInput"), Some(TypeShape::Input { fields }) if fields.len() == 2));
        assert!(matches!(shape.ty("Date"), Some(TypeShape::Scalar)));
        assert_eq!(named(&shape.field("Query", "items").expect("f").ty), "ItemConnection");
    }

    #[test]
    fn the_api_schema_has_its_root_types() {
        let sdl = crate::graphql::sdl();
        let shape = Shape::from_sdl(&sdl).expect("the schema's own SDL parses");
        assert!(shape.field("Query", "members").is_some());
        assert!(shape.field(shape.mutation_type().expect("mutation type"), "login").is_some());
    }
}
