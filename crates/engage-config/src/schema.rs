//! Descriptions of what a TOML table may contain, used by the loader to
//! validate both the fixed sections and each connection kind's options.

use std::collections::BTreeMap;

/// The keys a TOML table may contain. Keys not listed are rejected.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    /// The allowed keys, in the order they are documented.
    pub fields: Vec<Field>,
}

impl Schema {
    /// A schema with these fields.
    pub fn new(fields: Vec<Field>) -> Self {
        Self { fields }
    }

    /// The field called `name`, if any.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// One allowed key of a [`Schema`].
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The TOML key.
    pub name: &'static str,
    /// What its value must be.
    pub ty: FieldType,
    /// Whether the key must be present. A required [`FieldType::Secret`] is
    /// also satisfied by `NAME_file`.
    pub required: bool,
    /// One line of user documentation.
    pub doc: &'static str,
}

impl Field {
    /// A key that must be present.
    pub fn required(name: &'static str, ty: FieldType, doc: &'static str) -> Self {
        Self { name, ty, required: true, doc }
    }

    /// A key that may be left out.
    pub fn optional(name: &'static str, ty: FieldType, doc: &'static str) -> Self {
        Self { name, ty, required: false, doc }
    }
}

/// The type a [`Field`]'s value must have.
///
/// Every string (including list elements and strings under [`FieldType::Any`])
/// gets `${ENV_VAR}` substitution.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldType {
    /// A string.
    String,
    /// A string never shown in output. Given either as `KEY = "..."`
    /// (normally `"${ENV_VAR}"`) or as `KEY_file = "/path"`, whose contents
    /// (minus trailing newlines) become the value.
    Secret,
    /// An integer within `min..=max`.
    Integer {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// A number; integers are accepted too.
    Float,
    /// `true` or `false`.
    Bool,
    /// An `http://` or `https://` URL with a host.
    Url,
    /// A filesystem path (or glob pattern); a relative one is resolved against the
    /// configuration file's directory.
    Path,
    /// An array of strings.
    StringList,
    /// A table (`[a.b]` or `{ ... }`) validated against the schema.
    Table(Schema),
    /// An array of tables (`[[a.b]]` or `[{ ... }]`), each validated against the schema.
    TableList(Schema),
    /// Any TOML value, taken as it is (datetimes become strings).
    Any,
}

impl FieldType {
    /// How the loader names this type in "expected ..., found ..." errors.
    pub(crate) fn expected(&self) -> &'static str {
        match self {
            Self::String | Self::Secret => "a string",
            Self::Integer { .. } => "an integer",
            Self::Float => "a number",
            Self::Bool => "a boolean",
            Self::Url => "a URL string",
            Self::Path => "a path string",
            Self::StringList => "an array of strings",
            Self::Table(_) => "a table",
            Self::TableList(_) => "an array of tables",
            Self::Any => "any value",
        }
    }
}

/// The connection kinds the loader knows: kind name -> schema of its
/// kind-specific options. The connector registry builds it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kinds(BTreeMap<String, Schema>);

impl Kinds {
    /// No kinds at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a kind, builder style.
    pub fn with(mut self, name: impl Into<String>, schema: Schema) -> Self {
        self.insert(name, schema);
        self
    }

    /// Adds a kind, returning the schema it replaced.
    pub fn insert(&mut self, name: impl Into<String>, schema: Schema) -> Option<Schema> {
        self.0.insert(name.into(), schema)
    }

    /// The schema of kind `name`.
    pub fn get(&self, name: &str) -> Option<&Schema> {
        self.0.get(name)
    }

    /// The kind names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// How many kinds there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no kinds.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<N: Into<String>> FromIterator<(N, Schema)> for Kinds {
    fn from_iter<I: IntoIterator<Item = (N, Schema)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(n, s)| (n.into(), s)).collect())
    }
}
