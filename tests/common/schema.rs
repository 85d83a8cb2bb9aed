//! The frame schema read straight from the `.proto` files, compiled here with protox: an oracle
//! independent of the code the service generates from them, for checking the JSON names the
//! service speaks and for writing frames (and stored documents) in every key dialect.
//!
//! Note: the `hotpath` work (issue 13) generates schema tables into the crate
//! (`session_events::proto::schema`); when those are merged, the current-schema half of this
//! could read them instead. The test-side compile stays useful as the independent check, and
//! the frozen legacy schema (`tests/fixtures/legacy_schema/`) is only ever compiled here.

use std::path::Path;
use std::sync::OnceLock;

use bson::{Bson, Document};
use protox::prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

pub const FRAME: &str = "telemetry.v1.LobbySessionStateFrame";

/// What a strict key check found.
#[derive(Debug, Default)]
pub struct Check {
    /// Paths of keys that are not a schema JSON name of their message.
    pub bad: Vec<String>,
    /// Keys judged.
    pub keys: usize,
    /// Full names of the fields seen.
    pub fields: std::collections::BTreeSet<String>,
}

/// The key a field is written under in one dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The schema's `json_name` (what the service emits).
    JsonName,
    /// The proto field name (C++ producers).
    ProtoName,
    /// protoc's default lowerCamelCase of the proto name, for every field.
    LowerCamel,
    /// What the previous version of this service emitted and stored: the JSON names of the
    /// frozen legacy schema (lowerCamelCase where engine.v1 pinned no name).
    Legacy,
}

pub struct Schema {
    pool: DescriptorPool,
    legacy: DescriptorPool,
}

fn compile(dir: &Path, file: &str) -> DescriptorPool {
    protox::Compiler::new([dir])
        .and_then(|mut c| c.open_files([file]).map(|c| c.descriptor_pool()))
        .unwrap_or_else(|e| panic!("compiling {file} in {}: {e}", dir.display()))
}

/// The schema, compiled once per test binary.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        Schema {
            pool: compile(&root.join("proto"), "telemetry/v1/telemetry.proto"),
            legacy: compile(
                &root.join("tests/fixtures/legacy_schema"),
                "engine/v1/engine.proto",
            ),
        }
    })
}

/// protoc's default JSON name: drop each `_`, upper-case the letter after it.
pub fn lower_camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.push(c.to_ascii_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// What a field's value is, as far as walking a JSON or BSON tree needs to know.
enum Child {
    Message(MessageDescriptor),
    /// Scalars, enums, maps (their keys are data), and well-known types written as strings.
    Leaf,
}

fn child(f: &FieldDescriptor) -> Child {
    match f.kind() {
        Kind::Message(m) if !f.is_map() && m.package_name() != "google.protobuf" => {
            Child::Message(m)
        }
        _ => Child::Leaf,
    }
}

impl Schema {
    pub fn message(&self, full_name: &str) -> MessageDescriptor {
        self.pool
            .get_message_by_name(full_name)
            .unwrap_or_else(|| panic!("{full_name} is not in the schema"))
    }

    /// Every message of a package (e.g. `engine.v1`).
    pub fn messages(&self, package: &str) -> Vec<MessageDescriptor> {
        self.pool
            .all_messages()
            .filter(|m| m.package_name() == package && !m.is_map_entry())
            .collect()
    }

    /// The key `f` is written under in `dialect`.
    pub fn key(&self, f: &FieldDescriptor, dialect: Dialect) -> String {
        match dialect {
            Dialect::JsonName => f.json_name().to_owned(),
            Dialect::ProtoName => f.name().to_owned(),
            Dialect::LowerCamel => lower_camel(f.name()),
            Dialect::Legacy => match self
                .legacy
                .get_message_by_name(f.parent_message().full_name())
            {
                Some(m) => m
                    .get_field_by_name(f.name())
                    .unwrap_or_else(|| panic!("{} missing from the legacy schema", f.full_name()))
                    .json_name()
                    .to_owned(),
                // telemetry.v1 is not in the legacy copy: its names did not change.
                None => {
                    assert_eq!(f.parent_message().package_name(), "telemetry.v1");
                    f.json_name().to_owned()
                }
            },
        }
    }

    /// The field of `msg` that `key` names in any dialect.
    fn field(&self, msg: &MessageDescriptor, key: &str) -> Option<FieldDescriptor> {
        msg.fields().find(|f| {
            f.json_name() == key
                || f.name() == key
                || lower_camel(f.name()) == key
                || self.key(f, Dialect::Legacy) == key
        })
    }

    /// Paths of the keys in `value` (protojson of message `msg`) that are not the schema JSON
    /// name of a field of their message: the strict check of what the service emits.
    pub fn non_json_name_keys(&self, msg: &MessageDescriptor, value: &Value) -> Vec<String> {
        let mut check = Check::default();
        self.check(msg, value, msg.name(), &mut check);
        check.bad
    }

    /// [`Schema::non_json_name_keys`], also adding to `check` the keys it judged and the
    /// fields it saw (`engine.v1.Disc.bounce_count`), to tell how much a check covered.
    pub fn check_keys(&self, msg: &MessageDescriptor, value: &Value, check: &mut Check) {
        self.check(msg, value, msg.name(), check);
    }

    fn check(&self, msg: &MessageDescriptor, value: &Value, path: &str, check: &mut Check) {
        let Some(obj) = value.as_object() else {
            check.bad.push(format!("{path}: not an object"));
            return;
        };
        for (k, v) in obj {
            let here = format!("{path}.{k}");
            check.keys += 1;
            match msg.fields().find(|f| f.json_name() == k) {
                None => check.bad.push(here),
                Some(f) => {
                    check.fields.insert(f.full_name().to_owned());
                    if let Child::Message(m) = child(&f) {
                        match v {
                            Value::Array(items) if f.is_list() => {
                                items.iter().for_each(|i| self.check(&m, i, &here, check))
                            }
                            v => self.check(&m, v, &here, check),
                        }
                    }
                }
            }
        }
    }

    /// `value` (protojson of `msg`, keys in any dialect) with every key in `dialect`.
    pub fn rekey_json(&self, msg: &MessageDescriptor, value: &Value, dialect: Dialect) -> Value {
        let Value::Object(obj) = value else {
            return value.clone();
        };
        let mut out = Map::new();
        for (k, v) in obj {
            let f = self
                .field(msg, k)
                .unwrap_or_else(|| panic!("{}: no field `{k}`", msg.full_name()));
            let v = match (child(&f), v) {
                (Child::Message(m), Value::Array(items)) => Value::Array(
                    items
                        .iter()
                        .map(|i| self.rekey_json(&m, i, dialect))
                        .collect(),
                ),
                (Child::Message(m), v) => self.rekey_json(&m, v, dialect),
                (Child::Leaf, v) => v.clone(),
            };
            out.insert(self.key(&f, dialect), v);
        }
        Value::Object(out)
    }

    /// The same for a stored BSON document (`data`), keeping every BSON type as it is.
    pub fn rekey_bson(
        &self,
        msg: &MessageDescriptor,
        doc: &Document,
        dialect: Dialect,
    ) -> Document {
        let mut out = Document::new();
        for (k, v) in doc {
            let f = self
                .field(msg, k)
                .unwrap_or_else(|| panic!("{}: no field `{k}`", msg.full_name()));
            let v = match (child(&f), v) {
                (Child::Message(m), Bson::Array(items)) => Bson::Array(
                    items
                        .iter()
                        .map(|i| match i {
                            Bson::Document(d) => Bson::Document(self.rekey_bson(&m, d, dialect)),
                            other => other.clone(),
                        })
                        .collect(),
                ),
                (Child::Message(m), Bson::Document(d)) => {
                    Bson::Document(self.rekey_bson(&m, d, dialect))
                }
                (_, v) => v.clone(),
            };
            out.insert(self.key(&f, dialect), v);
        }
        out
    }
}
