//! Generated protobuf types (prost) with protojson serde impls (pbjson).

pub mod engine {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/engine.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/engine.v1.serde.rs"));
    }
}

pub mod telemetry {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/telemetry.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/telemetry.v1.serde.rs"));
    }
}

mod compat;

pub use telemetry::v1::LobbySessionStateFrame;
