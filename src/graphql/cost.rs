//! What a request may cost, decided before anything runs.
//!
//! Two steps, both linear in the request's text:
//!
//! 1. [`scan`] looks at the query text before the parser does: its length, its
//!    tokens and how deep its brackets nest (the parser recurses per bracket and
//!    builds a syntax tree per token, so neither may be unbounded).
//! 2. [`analyse`] walks the parsed document once. A fragment is summarised once
//!    (in dependency order, cycles refused) and a spread adds its summary, so
//!    a fragment spread 2^k times is counted 2^k times without being expanded
//!    2^k times. Every count saturates and is checked as soon as it is known.
//!
//! What is counted, per operation:
//! - *cost*: every data field resolved, a list multiplying the cost of its items by
//!   its size: `first` (the argument, its variable or its default, at most the page
//!   limit) for paged fields, the page size already charged for the `edges` and
//!   `nodes` of a connection, a fixed estimate for other lists. Introspection is not
//!   data and costs nothing here.
//! - *depth*: the longest path of data fields (introspection not counted).
//! - *fields*: every field, spread, inline fragment and directive as async-graphql
//!   will visit them (fragments expanded), summed over the whole document: this
//!   bounds the work of validation and execution, aliases included.
//! - root fields of a query, fields of a mutation, `login` at most once, and
//!   introspection walking from a type to types at most once per path
//!   (`fields { type { fields … } }` multiplies the schema by itself).
use super::shape::{FieldShape, Shape, named};
use async_graphql::Variables;
use async_graphql::parser::types::{
    ExecutableDocument, OperationType, Selection, SelectionSet, VariableDefinition,
};
use async_graphql::{Name, Positioned};
use async_graphql_value::{ConstValue, Value};
use std::collections::{HashMap, HashSet};

/// The bounds a request must stay within (from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest query text, in bytes.
    pub max_query_bytes: usize,
    /// Most tokens (names, punctuation, values) in the query text.
    pub max_tokens: usize,
    /// Deepest nesting of `{`, `[` and `(` in the query text.
    pub max_nesting: usize,
    /// Longest path of data fields.
    pub max_depth: u32,
    /// Highest cost of an operation (fields resolved, lists multiplied).
    pub max_cost: u64,
    /// Most fields (with spreads, inline fragments, directives) in the document as
    /// expanded.
    pub max_fields: u64,
    /// Most root fields of a query.
    pub max_root_fields: u64,
    /// Most fields of a mutation.
    pub max_mutation_fields: u64,
    /// The largest page (`first`) a list field serves.
    pub max_page: u64,
    /// What a list without `first` is charged for (e.g. a member's payments).
    pub list_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_query_bytes: 100_000,
            max_tokens: 20_000,
            max_nesting: 64,
            max_depth: 12,
            max_cost: 100_000,
            max_fields: 2_000,
            max_root_fields: 50,
            max_mutation_fields: 10,
            max_page: 500,
            list_size: 10,
        }
    }
}

/// Which limit refused a request (the metric's label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    QueryBytes,
    Tokens,
    Nesting,
    Depth,
    Cost,
    Fields,
    RootFields,
    MutationFields,
    Login,
    FragmentCycle,
    Introspection,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QueryBytes => "query_bytes",
            Self::Tokens => "tokens",
            Self::Nesting => "nesting",
            Self::Depth => "depth",
            Self::Cost => "cost",
            Self::Fields => "fields",
            Self::RootFields => "root_fields",
            Self::MutationFields => "mutation_fields",
            Self::Login => "login",
            Self::FragmentCycle => "fragment_cycle",
            Self::Introspection => "introspection",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub limit: Limit,
    pub message: String,
}

fn refused(limit: Limit, message: impl Into<String>) -> Refused {
    Refused { limit, message: message.into() }
}

/// Checks the query text before it is parsed: length, tokens, bracket nesting.
/// Strings and comments are skipped as the GraphQL lexer would, so brackets inside
/// them do not count.
pub fn scan(text: &str, limits: &Limits) -> Result<(), Refused> {
    if text.len() > limits.max_query_bytes {
        return Err(refused(
            Limit::QueryBytes,
            format!("the query is longer than {} bytes", limits.max_query_bytes),
        ));
    }
    let bytes = text.as_bytes();
    let (mut i, mut tokens, mut nesting) = (0usize, 0usize, 0usize);
    let too_many = || refused(Limit::Tokens, format!("the query has more than {} tokens", limits.max_tokens));
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' => {
                tokens += 1;
                i = skip_string(bytes, i);
            }
            b'{' | b'[' | b'(' => {
                tokens += 1;
                nesting += 1;
                if nesting > limits.max_nesting {
                    return Err(refused(
                        Limit::Nesting,
                        format!("the query nests brackets deeper than {}", limits.max_nesting),
                    ));
                }
                i += 1;
            }
            b'}' | b']' | b')' => {
                tokens += 1;
                nesting = nesting.saturating_sub(1);
                i += 1;
            }
            b'.' if bytes.get(i..i + 3) == Some(b"...") => {
                tokens += 1;
                i += 3;
            }
            _ if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' => {
                // A name or a number (with its fraction and exponent).
                tokens += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.' | b'+' | b'-'))
                {
                    if bytes[i] == b'.' && bytes.get(i..i + 3) == Some(b"...") {
                        break;
                    }
                    i += 1;
                }
            }
            _ => {
                // Punctuation (`: = @ $ ! |`) and anything the parser will refuse.
                tokens += 1;
                i += 1;
            }
        }
        if tokens > limits.max_tokens {
            return Err(too_many());
        }
    }
    Ok(())
}

/// The index after the string starting at `start` (`"…"` or `"""…"""`), or the end
/// of the text when it is not closed (the parser reports that).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    if bytes.get(start..start + 3) == Some(b"\"\"\"") {
        let mut i = start + 3;
        while i < bytes.len() {
            if bytes.get(i..i + 4) == Some(b"\\\"\"\"") {
                i += 4;
            } else if bytes.get(i..i + 3) == Some(b"\"\"\"") {
                return i + 3;
            } else {
                i += 1;
            }
        }
        return i;
    }
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    i
}

/// What the analysis found out about the document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Analysis {
    /// The highest cost of an operation.
    pub cost: u64,
    /// The deepest data path of an operation.
    pub depth: u32,
    /// Fields as expanded, over the whole document.
    pub fields: u64,
    /// The document asks for `__schema` or `__type`.
    pub introspection: bool,
}

/// The counts of one selection set; a fragment's is computed once.
#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    cost: u64,
    /// Cost of the lists of a connection (`edges`, `nodes`): multiplied by the page
    /// size of the field that returns the connection.
    paged: u64,
    fields: u64,
    depth: u32,
    /// Introspection fields leading from a type to more types, on the worst path.
    walks: u32,
    /// Fields at this level once fragments are inlined (root fields).
    top: u64,
    /// `login` fields at this level once fragments are inlined.
    logins: u64,
    introspection: bool,
}

impl Summary {
    fn add(&mut self, other: &Summary) {
        self.cost = self.cost.saturating_add(other.cost);
        self.paged = self.paged.saturating_add(other.paged);
        self.fields = self.fields.saturating_add(other.fields);
        self.depth = self.depth.max(other.depth);
        self.walks = self.walks.max(other.walks);
        self.top = self.top.saturating_add(other.top);
        self.logins = self.logins.saturating_add(other.logins);
        self.introspection |= other.introspection;
    }
}

/// Introspection fields that return more types (`__Type.fields` → field types …).
const TYPE_WALKS: &[&str] = &["fields", "inputFields", "interfaces", "possibleTypes"];

struct Analyser<'a> {
    shape: &'a Shape,
    limits: &'a Limits,
    variables: &'a Variables,
    /// Defaults of the document's variables, for those the request leaves out.
    defaults: HashMap<&'a str, &'a ConstValue>,
    fragments: HashMap<&'a str, Summary>,
}

/// Checks the parsed document against the limits, without expanding anything.
pub fn analyse(
    shape: &Shape,
    doc: &ExecutableDocument,
    variables: &Variables,
    limits: &Limits,
) -> Result<Analysis, Refused> {
    let mut defaults = HashMap::new();
    for (_, op) in doc.operations.iter() {
        for def in &op.node.variable_definitions {
            let VariableDefinition { name, default_value, .. } = &def.node;
            if let Some(value) = default_value {
                defaults.insert(name.node.as_str(), &value.node);
            }
        }
    }
    let mut analyser = Analyser { shape, limits, variables, defaults, fragments: HashMap::new() };
    analyser.fragments(doc)?;
    let mut analysis = Analysis::default();
    for (name, op) in doc.operations.iter() {
        let op = &op.node;
        let (root, kind) = match op.ty {
            OperationType::Query => (Some(shape.query_type()), "query"),
            OperationType::Mutation => (shape.mutation_type(), "mutation"),
            OperationType::Subscription => (None, "subscription"),
        };
        // The root's own totals are checked after its field counts: "too many root
        // fields" says more about an alias bomb than "too complex".
        let mut s = analyser.items(&op.selection_set.node, root, false)?;
        s.cost = s.cost.saturating_add(limits.list_size.saturating_mul(s.paged));
        for d in &op.directives {
            s.fields = s.fields.saturating_add(1 + d.node.arguments.len() as u64);
        }
        let which = name.map_or_else(|| format!("the {kind}"), |n| format!("operation {n}"));
        match op.ty {
            OperationType::Mutation => {
                if s.top > limits.max_mutation_fields {
                    return Err(refused(
                        Limit::MutationFields,
                        format!("{which} has more than {} mutation fields", limits.max_mutation_fields),
                    ));
                }
                if s.logins > 1 {
                    return Err(refused(Limit::Login, "login may appear only once in a request"));
                }
            }
            _ => {
                if s.top > limits.max_root_fields {
                    return Err(refused(
                        Limit::RootFields,
                        format!("{which} has more than {} root fields", limits.max_root_fields),
                    ));
                }
            }
        }
        analyser.check(&s)?;
        analysis.fields = analysis.fields.saturating_add(s.fields);
        analyser.check_fields(analysis.fields)?;
        analysis.cost = analysis.cost.max(s.cost);
        analysis.depth = analysis.depth.max(s.depth);
        analysis.introspection |= s.introspection;
    }
    Ok(analysis)
}

impl<'a> Analyser<'a> {
    fn check_fields(&self, fields: u64) -> Result<(), Refused> {
        if fields > self.limits.max_fields {
            return Err(refused(
                Limit::Fields,
                format!(
                    "the document has more than {} fields (aliases and fragments counted as often as they are used)",
                    self.limits.max_fields
                ),
            ));
        }
        Ok(())
    }

    /// Every limit a part of a document can already break on its own.
    fn check(&self, s: &Summary) -> Result<(), Refused> {
        self.check_fields(s.fields)?;
        if s.cost > self.limits.max_cost {
            return Err(refused(
                Limit::Cost,
                format!(
                    "the query is too complex: it may cost more than {} (every field counts, lists by their page size)",
                    self.limits.max_cost
                ),
            ));
        }
        if s.depth > self.limits.max_depth {
            return Err(refused(
                Limit::Depth,
                format!("the query is nested too deep: more than {} levels of fields", self.limits.max_depth),
            ));
        }
        if s.walks > 1 {
            return Err(refused(
                Limit::Introspection,
                "introspection may go from a type to its fields' types once per path, not again from there",
            ));
        }
        Ok(())
    }

    /// Summarises every fragment once, each after the fragments it spreads; a
    /// fragment that (indirectly) spreads itself is refused.
    fn fragments(&mut self, doc: &'a ExecutableDocument) -> Result<(), Refused> {
        let mut spreads: HashMap<&str, HashSet<&str>> = HashMap::new();
        for (name, fragment) in &doc.fragments {
            let mut used = HashSet::new();
            collect_spreads(&fragment.node.selection_set.node, &mut used);
            used.retain(|n| doc.fragments.contains_key(*n));
            spreads.insert(name.as_str(), used);
        }
        let mut waiting: HashMap<&str, usize> = spreads.iter().map(|(n, s)| (*n, s.len())).collect();
        let mut used_by: HashMap<&str, Vec<&str>> = HashMap::new();
        for (name, used) in &spreads {
            for u in used {
                used_by.entry(u).or_default().push(name);
            }
        }
        let mut ready: Vec<&str> = waiting.iter().filter(|(_, n)| **n == 0).map(|(f, _)| *f).collect();
        while let Some(name) = ready.pop() {
            let Some(fragment) = doc.fragments.get(name) else { continue };
            let on = fragment.node.type_condition.node.on.node.as_str();
            // Fragments on introspection types (`__Type`) select introspection.
            let mut s =
                self.selection_set(&fragment.node.selection_set.node, Some(on), on.starts_with("__"))?;
            for d in &fragment.node.directives {
                s.fields = s.fields.saturating_add(1 + d.node.arguments.len() as u64);
            }
            self.check(&s)?;
            self.fragments.insert(name, s);
            for user in used_by.get(name).map(Vec::as_slice).unwrap_or_default() {
                if let Some(n) = waiting.get_mut(user) {
                    *n -= 1;
                    if *n == 0 {
                        ready.push(user);
                    }
                }
            }
        }
        if let Some(name) = spreads.keys().find(|n| !self.fragments.contains_key(*n)) {
            return Err(refused(Limit::FragmentCycle, format!("fragment {name} spreads itself (a cycle)")));
        }
        Ok(())
    }

    fn selection_set(
        &self,
        set: &'a SelectionSet,
        parent: Option<&'a str>,
        introspection: bool,
    ) -> Result<Summary, Refused> {
        let total = self.items(set, parent, introspection)?;
        self.check(&total)?;
        Ok(total)
    }

    /// The summed summaries of a selection set's items (each checked), the total not
    /// yet checked.
    fn items(
        &self,
        set: &'a SelectionSet,
        parent: Option<&'a str>,
        introspection: bool,
    ) -> Result<Summary, Refused> {
        let mut total = Summary::default();
        for item in &set.items {
            let s = match &item.node {
                Selection::Field(field) => self.field(&field.node, parent, introspection)?,
                Selection::InlineFragment(inline) => {
                    let on = inline.node.type_condition.as_ref().map(|c| c.node.on.node.as_str()).or(parent);
                    let mut s = self.selection_set(&inline.node.selection_set.node, on, introspection)?;
                    s.fields = s.fields.saturating_add(1 + directives(&inline.node.directives));
                    s
                }
                Selection::FragmentSpread(spread) => {
                    let mut s = self
                        .fragments
                        .get(spread.node.fragment_name.node.as_str())
                        .copied()
                        .unwrap_or_default();
                    s.fields = s.fields.saturating_add(1 + directives(&spread.node.directives));
                    s
                }
            };
            total.add(&s);
        }
        Ok(total)
    }

    fn field(
        &self,
        field: &'a async_graphql::parser::types::Field,
        parent: Option<&'a str>,
        introspection: bool,
    ) -> Result<Summary, Refused> {
        let name = field.name.node.as_str();
        let own = 1 + directives(&field.directives) + field.arguments.len() as u64;
        if name == "__typename" {
            return Ok(Summary { fields: own, top: 1, ..Summary::default() });
        }
        if introspection || name.starts_with("__") {
            // Introspection answers from memory: it costs nothing here, and is
            // bounded by the field count and the walks.
            let child = self.selection_set(&field.selection_set.node, None, true)?;
            let walks = child.walks + u32::from(introspection && TYPE_WALKS.contains(&name));
            return Ok(Summary {
                fields: own.saturating_add(child.fields),
                walks,
                top: 1,
                introspection: true,
                ..Summary::default()
            });
        }
        let shape = parent.and_then(|p| self.shape.field(p, name));
        let child_type = shape.map(|f| named(&f.ty));
        let child = self.selection_set(&field.selection_set.node, child_type, false)?;
        let list = self.limits.list_size;
        let (cost, paged) = match shape {
            // A page: what the connection holds once, and its lists `first` times.
            Some(f) if f.arg("first").is_some() => {
                let page = self.page_size(field, f);
                (child.cost.saturating_add(page.saturating_mul(child.paged)), 0)
            }
            // `edges`, `nodes`: sized by the page above.
            Some(f) if f.is_list() && parent.is_some_and(|p| p.ends_with("Connection")) => {
                (0, child.cost.saturating_add(list.saturating_mul(child.paged)))
            }
            Some(f) if f.is_list() => {
                (list.saturating_mul(child.cost.saturating_add(list.saturating_mul(child.paged))), 0)
            }
            _ => (child.cost.saturating_add(list.saturating_mul(child.paged)), 0),
        };
        Ok(Summary {
            cost: cost.saturating_add(1),
            paged,
            fields: own.saturating_add(child.fields),
            depth: child.depth.saturating_add(1),
            walks: child.walks,
            top: 1,
            logins: u64::from(name == "login"),
            introspection: child.introspection,
        })
    }

    /// The page a paged field serves: `first` as given (literal or variable), else
    /// its default, at most the page limit.
    fn page_size(&self, field: &async_graphql::parser::types::Field, shape: &FieldShape) -> u64 {
        let given = field.get_argument("first").map(|v| &v.node);
        let value = match given {
            Some(Value::Variable(var)) => self.variable(var).cloned(),
            Some(v) => v.clone().into_const(),
            None => None,
        }
        .or_else(|| shape.arg("first").and_then(|a| a.default.clone()));
        match value {
            Some(ConstValue::Number(n)) => n.as_u64().unwrap_or(0).min(self.limits.max_page),
            Some(ConstValue::Null) => 0,
            // Not a number: refused later, charged the most until then.
            _ => self.limits.max_page,
        }
    }

    fn variable(&self, name: &Name) -> Option<&ConstValue> {
        self.variables.get(name).or_else(|| self.defaults.get(name.as_str()).copied())
    }
}

fn directives(list: &[Positioned<async_graphql::parser::types::Directive>]) -> u64 {
    list.iter().map(|d| 1 + d.node.arguments.len() as u64).sum()
}

/// The fragments a selection set spreads, directly or inside inline fragments and
/// fields (not through other fragments).
fn collect_spreads<'a>(set: &'a SelectionSet, into: &mut HashSet<&'a str>) {
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => collect_spreads(&f.node.selection_set.node, into),
            Selection::InlineFragment(i) => collect_spreads(&i.node.selection_set.node, into),
            Selection::FragmentSpread(s) => {
                into.insert(s.node.fragment_name.node.as_str());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use std::fmt::Write as _;

    const SDL: &str = "
        type Query { members(first: Int! = 50, after: String): MemberConnection!
                     member(id: ID!): Member  node(id: ID!): Node  viewer: Viewer }
        type Mutation { login(username: String!, password: String!): Viewer
                        logout: Boolean! }
        interface Node { id: ID! }
        type Viewer { name: String! }
        type MemberConnection { totalCount: Int! edges: [MemberEdge!]! nodes: [Member!]! }
        type MemberEdge { node: Member! cursor: String! }
        type Member implements Node { id: ID! name: String! payments: [Payment!]
                                      home: Unit! }
        type Unit { name: String! members(first: Int! = 50): MemberConnection! }
        type Payment { amount: Int! }
        schema { query: Query mutation: Mutation }";

    fn shape() -> Shape {
        Shape::from_sdl(SDL).expect("sdl")
    }

    fn check(query: &str) -> Result<Analysis, Refused> {
        check_with(query, &Variables::default(), &Limits::default())
    }

    fn check_with(query: &str, variables: &Variables, limits: &Limits) -> Result<Analysis, Refused> {
        scan(query, limits)?;
        let doc = parse_query(query).expect("parses");
        analyse(&shape(), &doc, variables, limits)
    }

    fn limit_of(result: Result<Analysis, Refused>) -> Limit {
        result.expect_err("refused").limit
    }

    #[test]
    fn lists_cost_their_page_size_times_a_node() {
        let a = check("{ members(first: 100) { totalCount edges { node { id name } } } }").expect("fine");
        // members 1 + totalCount 1 + edges 1 + 100 × (node 1 + id 1 + name 1)
        assert_eq!(a.cost, 3 + 100 * 3);
        assert_eq!(a.depth, 4);
        let default = check("{ members { nodes { id } } }").expect("fine");
        assert_eq!(default.cost, 2 + 50, "the argument's default page size");
        let nested = check("{ member(id: 1) { payments { amount } } }").expect("fine");
        assert_eq!(nested.cost, 1 + (1 + 10), "other lists by the estimate");
        // Pages inside pages multiply.
        let q = "{ members(first: 10) { nodes { home { members(first: 20) { nodes { name } } } } } }";
        // members 2 + 10 × (home 1 + members 2 + 20 × name 1)
        assert_eq!(check(q).expect("fine").cost, 2 + 10 * (1 + 2 + 20));
    }

    #[test]
    fn first_from_variables_and_their_defaults() {
        let vars = Variables::from_json(serde_json::json!({ "n": 7 }));
        let q = "query($n: Int!) { members(first: $n) { nodes { id } } }";
        assert_eq!(check_with(q, &vars, &Limits::default()).expect("fine").cost, 2 + 7);
        let q = "query($n: Int! = 3) { members(first: $n) { nodes { id } } }";
        assert_eq!(check(q).expect("fine").cost, 2 + 3);
        // Above the page limit: charged the page limit (the resolver refuses it).
        assert_eq!(check("{ members(first: 100000) { nodes { id } } }").expect("fine").cost, 2 + 500);
    }

    #[test]
    fn alias_amplification_is_refused() {
        let mut q = String::from("{");
        for i in 0..60 {
            let _ = write!(q, " a{i}: members(first: 500) {{ edges {{ node {{ id name }} }} }}");
        }
        q.push('}');
        assert_eq!(limit_of(check(&q)), Limit::RootFields);
        // 60 × (2 + 500 × 3) = 90,120
        let limits = Limits { max_root_fields: 100, max_cost: 90_000, ..Limits::default() };
        assert_eq!(limit_of(check_with(&q, &Variables::default(), &limits)), Limit::Cost);
        // 2,000 aliases of a cheap-looking count.
        let mut q = String::from("{");
        for i in 0..2000 {
            let _ = write!(q, " a{i}: members(first: 500) {{ totalCount }}");
        }
        q.push('}');
        assert!(check(&q).is_err());
    }

    #[test]
    fn fragment_fan_out_is_counted_without_expanding_it() {
        // F0 spreads F1 twice, F1 spreads F2 twice … : 2^40 fields once expanded.
        let mut q = String::from("{ ...F0 }");
        for k in 0..40 {
            let _ = write!(q, " fragment F{k} on Query {{ ...F{n} ...F{n} }}", n = k + 1);
        }
        q.push_str(" fragment F40 on Query { viewer { name } }");
        let started = std::time::Instant::now();
        assert_eq!(limit_of(check(&q)), Limit::Fields);
        // Structural, not a timing: the refusal comes from the summaries.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // A fan-out that stays small passes, with its exact count.
        let q = "{ ...A } fragment A on Query { ...B ...B } fragment B on Query { viewer { name } }";
        let a = check(q).expect("fine");
        assert_eq!(a.cost, 2 * 2);
        // field counts: A spread 1 + (B spread 1 + viewer 1 + name 1) × 2
        assert_eq!(a.fields, 1 + 2 * 3);
    }

    #[test]
    fn fragment_cycles_are_refused() {
        let q = "{ ...A } fragment A on Query { ...B } fragment B on Query { viewer { name } ...A }";
        assert_eq!(limit_of(check(q)), Limit::FragmentCycle);
        let q = "{ ...A } fragment A on Query { viewer { name } ...A }";
        assert_eq!(limit_of(check(q)), Limit::FragmentCycle);
    }

    #[test]
    fn long_fragment_chains_are_summarised_without_recursion() {
        let mut q = String::from("{ ...F0 }");
        for k in 0..3000 {
            let _ = write!(q, " fragment F{k} on Query {{ ...F{n} }}", n = k + 1);
        }
        q.push_str(" fragment F3000 on Query { viewer { name } }");
        let limits = Limits { max_query_bytes: 1 << 20, max_tokens: 1 << 20, ..Limits::default() };
        let doc = parse_query(&q).expect("parses");
        // Field count = 3001 spreads + 2 fields > 2,000.
        let refusal = analyse(&shape(), &doc, &Variables::default(), &limits).expect_err("too many");
        assert_eq!(refusal.limit, Limit::Fields);
    }

    #[test]
    fn depth_counts_data_fields_through_fragments() {
        let q = "{ member(id: 1) { ...H } } fragment H on Member { home { members { edges { node { name } } } } }";
        assert_eq!(check(q).expect("fine").depth, 6);
        let limits = Limits { max_depth: 5, ..Limits::default() };
        assert_eq!(limit_of(check_with(q, &Variables::default(), &limits)), Limit::Depth);
    }

    #[test]
    fn mutations_are_bounded_and_login_comes_once() {
        let q = "mutation { a: login(username: \"a\", password: \"p\") { name } b: login(username: \"b\", password: \"p\") { name } }";
        assert_eq!(limit_of(check(q)), Limit::Login);
        // Hidden in a fragment on the mutation type.
        let q = "mutation { ...L ...L } fragment L on Mutation { login(username: \"a\", password: \"p\") { name } }";
        assert_eq!(limit_of(check(q)), Limit::Login);
        let mut q = String::from("mutation {");
        for i in 0..11 {
            let _ = write!(q, " l{i}: logout");
        }
        q.push('}');
        assert_eq!(limit_of(check(&q)), Limit::MutationFields);
        assert!(check("mutation { login(username: \"a\", password: \"p\") { name } }").is_ok());
    }

    #[test]
    fn the_standard_introspection_query_passes_and_costs_no_data() {
        let a = check(INTROSPECTION).expect("the standard introspection query passes");
        assert!(a.introspection);
        assert_eq!(a.cost, 0);
        assert_eq!(a.depth, 0);
        assert!(a.fields < 400, "{}", a.fields);
        assert!(!check("{ __typename }").expect("fine").introspection);
    }

    #[test]
    fn introspection_bombs_are_refused() {
        let q = "{ __schema { types { fields { type { fields { type { name } } } } } } }";
        assert_eq!(limit_of(check(q)), Limit::Introspection);
        let q = "{ __schema { types { ...T } } } fragment T on __Type { fields { type { ofType { fields { name } } } } }";
        assert_eq!(limit_of(check(q)), Limit::Introspection);
        // The full query again and again through aliases.
        let mut q = String::from("{");
        for i in 0..20 {
            let _ = write!(q, " s{i}: __schema {{ types {{ ...FullType }} }}");
        }
        q.push('}');
        q.push_str(&INTROSPECTION[INTROSPECTION.find("fragment FullType").expect("fragments")..]);
        assert_eq!(limit_of(check(&q)), Limit::Fields);
    }

    #[test]
    fn scanning_refuses_long_texts_many_tokens_and_deep_brackets_before_parsing() {
        let limits = Limits::default();
        let mega = format!("{{ {} }}", "a: viewer { name } ".repeat(60_000));
        assert_eq!(scan(&mega, &limits).expect_err("long").limit, Limit::QueryBytes);
        let many = format!("{{ {} }}", "a ".repeat(25_000));
        assert_eq!(scan(&many, &limits).expect_err("tokens").limit, Limit::Tokens);
        let deep = format!("{{ f(a: {}1{}) }}", "[".repeat(1000), "]".repeat(1000));
        assert_eq!(scan(&deep, &limits).expect_err("deep").limit, Limit::Nesting);
        // Brackets in strings, block strings and comments do not count.
        let quoted =
            format!("{{ f(a: \"{b}\", c: \"\"\"{b} \\\"\"\" {b}\"\"\") # {b}\n }}", b = "{[(".repeat(100));
        assert!(scan(&quoted, &limits).is_ok());
        assert!(scan(INTROSPECTION, &limits).is_ok());
    }

    #[test]
    fn the_parser_survives_the_deepest_nesting_scan_allows() {
        // Tokio's worker threads have 2 MiB stacks: the parser must not overflow
        // one on what `scan` lets through.
        let limits = Limits::default();
        let depth = limits.max_nesting;
        let lists = format!("{{ f(a: {}1{}) }}", "[".repeat(depth - 2), "]".repeat(depth - 2));
        let objects = format!("{{ f(a: {}1{}) }}", "{a: ".repeat(depth - 2), "}".repeat(depth - 2));
        let fields = format!("{}x{}", "{ a ".repeat(depth), "}".repeat(depth));
        for text in [lists, objects, fields] {
            assert!(scan(&text, &limits).is_ok());
            std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || {
                    let _ = parse_query(&text);
                })
                .expect("thread")
                .join()
                .expect("the parser returns, with a document or an error");
        }
    }

    /// GraphiQL's introspection query (graphql-js `getIntrospectionQuery` with
    /// descriptions, specifiedByURL, isRepeatable and deprecated input values).
    pub(crate) const INTROSPECTION: &str = r"
    query IntrospectionQuery {
      __schema {
        description
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types { ...FullType }
        directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
      }
    }
    fragment FullType on __Type {
      kind name description specifiedByURL
      fields(includeDeprecated: true) {
        name description
        args(includeDeprecated: true) { ...InputValue }
        type { ...TypeRef }
        isDeprecated deprecationReason
      }
      inputFields(includeDeprecated: true) { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue {
      name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
    }
    fragment TypeRef on __Type {
      kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name
        ofType { kind name ofType { kind name ofType { kind name ofType { kind name
          ofType { kind name ofType { kind name } } } } } } } } } }
    }";
}
