pub mod frame;
pub mod ids;
pub mod metrics;
pub mod proto;
pub mod store;
