//! secc's three-party runtime.
pub mod net;
