//! Generated protobuf types (prost) with protojson serde impls (pbjson).

pub mod engine {
    #[allow(clippy::large_enum_variant)]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/engine.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/engine.v1.serde.rs"));
    }
}

pub mod telemetry {
    // A oneof's variants are as big as their messages; boxing them would change prost's API.
    #[allow(clippy::large_enum_variant)]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/telemetry.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/telemetry.v1.serde.rs"));
    }
}

mod compat;
pub(crate) mod number;
pub mod schema;
pub(crate) mod unknown;

pub use telemetry::v1::LobbySessionStateFrame;
