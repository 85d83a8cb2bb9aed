//! Compiles `proto/` with a pure-Rust protobuf compiler (no `protoc` install needed) into prost
//! structs plus protojson serde impls (pbjson), so JSON follows protojson: JSON and proto field
//! names accepted, 64-bit ints as strings, enums by name, RFC 3339 timestamps.
//!
//! From the same descriptors it writes the static schema tables of `crate::proto::schema`
//! (`src/proto/schema_gen.rs`), which the single-pass transcoder and the exporters read, so nothing
//! hand-maintained can drift from the `.proto` files.

use std::{env, path::PathBuf};

use prost::Message;

// Not part of the crate: the build script compiles it to write the tables.
#[path = "src/proto/schema_gen.rs"]
mod schema;

#[path = "build/json_aliases.rs"]
mod json_aliases;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=src/proto/schema_gen.rs");
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let files = [
        "proto/telemetry/v1/telemetry.proto",
        "proto/engine/v1/engine.proto",
    ];
    let fds = protox::compile(files, ["proto"])?;
    std::fs::write(out.join("schema.rs"), schema::generate(&fds))?;

    prost_build::Config::new()
        .compile_well_known_types()
        // Ordered maps keep the protobuf encoding canonical, so the content-derived `_id` of a
        // frame with a map (GenericEvent.data) is the same on every retry.
        .btree_map(["."])
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(fds.clone())?;

    pbjson_build::Builder::new()
        .register_descriptors(&fds.encode_to_vec())?
        .ignore_unknown_fields()
        .btree_map(["."])
        // Hand-written in `src/proto/compat.rs` to accept the first producer generation's names.
        .exclude([".telemetry.v1.Role", ".telemetry.v1.DiscPossessionChanged"])
        .out_dir(&out)
        .build(&[".telemetry.v1", ".engine.v1"])?;

    // pbjson reads numbers through an untagged enum that buffers every value; ours reads them
    // directly (src/proto/number.rs). Unknown fields are skipped through a counting skip
    // (src/proto/unknown.rs) so the decode needs no serde_ignored wrapper.
    for package in ["telemetry.v1", "engine.v1"] {
        let path = out.join(format!("{package}.serde.rs"));
        let mut code = std::fs::read_to_string(&path)?
            .replace(
                "::pbjson::private::NumberDeserialize",
                "crate::proto::number::NumberDeserialize",
            )
            .replace(
                "next_value::<serde::de::IgnoredAny>()",
                "next_value::<crate::proto::unknown::Counted>()",
            );
        // Input also accepts the lowerCamelCase names this service emitted before every
        // engine.v1 field pinned its json_name (see build/json_aliases.rs).
        json_aliases::add(&fds, package, &mut code)?;
        std::fs::write(&path, code)?;
    }
    Ok(())
}
