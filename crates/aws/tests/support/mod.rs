//! Test support for the AWS provider's tests against a real peer.

pub mod ice;
pub mod moto;
