//! Adds protoc's default lowerCamelCase JSON name as an accepted input alias to every field the
//! generated pbjson deserializers match, wherever the schema pins a different `json_name`.
//!
//! Why: `engine.v1` pins `json_name` on every field (snake_case, as the game's own `/session`
//! JSON spells it), but until then this service emitted protojson's defaults (`gameClockDisplay`,
//! `pausedState`, `userBones`, ...): older clients echo those back, and documents already stored
//! carry them. protojson accepts only `json_name` and the proto name, and pbjson-build has no
//! alias option, so the generated field matchers are extended here.
//!
//! Why this way: the alias set is computed from the same descriptors the code is generated from
//! (never a hand-kept list, which would drift from the `.proto` files), and the decode stays the
//! generated single `match` on the key (no key-renaming wrapper around the deserializer, no
//! second lookup per key). Every edit is checked: if pbjson's output changes shape so that an
//! expected matcher is not found exactly once, the build fails instead of silently dropping the
//! alias.

use std::collections::BTreeMap;

use protox::prost_reflect::prost_types::{DescriptorProto, FileDescriptorSet};

/// One field whose lowerCamelCase form is neither its `json_name` nor its proto name.
struct Alias {
    name: String,
    json_name: String,
    camel: String,
}

/// The Rust path pbjson writes for a message: nested messages live in their parent's module.
fn rust_path(parents: &[&str], name: &str) -> String {
    let mut path = String::new();
    for p in parents {
        path.push_str(&snake(p));
        path.push_str("::");
    }
    path.push_str(name);
    path
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn collect(
    msg: &DescriptorProto,
    parents: &mut Vec<String>,
    out: &mut BTreeMap<String, Vec<Alias>>,
) {
    if msg.options.as_ref().is_some_and(|o| o.map_entry()) {
        return; // map entries have no generated serde of their own
    }
    let aliases: Vec<Alias> = msg
        .field
        .iter()
        .filter_map(|f| {
            let name = f.name().to_owned();
            let json_name = f.json_name().to_owned();
            let camel = crate::schema::lower_camel(&name);
            (camel != name && camel != json_name).then_some(Alias {
                name,
                json_name,
                camel,
            })
        })
        .collect();
    // An alias that is another field's name would make a key ambiguous: refuse the schema.
    for a in &aliases {
        if let Some(other) = msg
            .field
            .iter()
            .find(|f| f.name() == a.camel || f.json_name() == a.camel)
        {
            panic!(
                "json_aliases: {}.{}'s lowerCamelCase alias `{}` is the name of field {}",
                msg.name(),
                a.name,
                a.camel,
                other.name()
            );
        }
    }
    let refs: Vec<&str> = parents.iter().map(String::as_str).collect();
    if !aliases.is_empty() {
        out.insert(rust_path(&refs, msg.name()), aliases);
    }
    parents.push(msg.name().to_owned());
    for nested in &msg.nested_type {
        collect(nested, parents, out);
    }
    parents.pop();
}

/// Rewrites the generated `{package}.serde.rs` source so each message's field matcher also
/// accepts the lowerCamelCase alias of its fields. Returns how many aliases were added.
pub fn add(
    fds: &FileDescriptorSet,
    package: &str,
    code: &mut String,
) -> Result<usize, Box<dyn std::error::Error>> {
    let mut by_message = BTreeMap::new();
    for file in fds.file.iter().filter(|f| f.package() == package) {
        for msg in &file.message_type {
            collect(msg, &mut Vec::new(), &mut by_message);
        }
    }
    let mut added = 0;
    for (rust, aliases) in by_message {
        let header = format!("impl<'de> serde::Deserialize<'de> for {rust} {{\n");
        let start = find_once(code, &header, &rust)?;
        let end = code[start + header.len()..]
            .find("\nimpl")
            .map_or(code.len(), |i| start + header.len() + i);
        let mut block = code[start..end].to_owned();
        for a in &aliases {
            // pbjson writes `"json" | "proto" => Ok(...)`, or `"proto" => Ok(...)` when equal.
            let arm = if a.json_name == a.name {
                format!("\"{}\" => Ok(", a.name)
            } else {
                format!("\"{}\" | \"{}\" => Ok(", a.json_name, a.name)
            };
            let pos = find_once(&block, &arm, &format!("{rust}.{}", a.name))?;
            let with = format!(
                "{}| \"{}\" => Ok(",
                &arm[..arm.len() - "=> Ok(".len()],
                a.camel
            );
            block.replace_range(pos..pos + arm.len(), &with);
            // The FIELDS list only feeds error messages, but keep it true.
            let list = "const FIELDS: &[&str] = &[\n";
            let at = find_once(&block, list, &format!("{rust} FIELDS"))? + list.len();
            block.insert_str(at, &format!("            \"{}\",\n", a.camel));
            added += 1;
        }
        code.replace_range(start..end, &block);
    }
    Ok(added)
}

fn find_once(hay: &str, needle: &str, what: &str) -> Result<usize, Box<dyn std::error::Error>> {
    let mut hits = hay.match_indices(needle).map(|(i, _)| i);
    match (hits.next(), hits.next()) {
        (Some(i), None) => Ok(i),
        (first, _) => Err(format!(
            "json_aliases: expected exactly one `{needle}` for {what} in pbjson's output, found {}; \
             pbjson-build changed its output shape: update build/json_aliases.rs",
            if first.is_some() { "several" } else { "none" }
        )
        .into()),
    }
}
