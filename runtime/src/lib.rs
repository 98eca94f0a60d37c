//! secc's three-party runtime.
//!
//! Owns: ring tensors ([`ring`]), pairwise and private PRG streams ([`prg`]), what a party holds
//! in a register ([`share`]), the protocols ([`protocols`]), the per-party interpreter
//! ([`engine`]), the client ([`client`]) and model owner ([`owner`]) roles, transports
//! ([`net`]), whole local runs ([`local`]) and a builder of small programs ([`builder`]).
//!
//! The party code path never receives another party's share or a plaintext secret: a party's
//! inputs are its two components from the client and the model owner, and what it receives from
//! its peers is masked as each protocol's documentation explains (see docs/protocols.md).

#[doc(hidden)]
pub mod audit;
pub mod builder;
pub mod client;
pub mod deploy;
pub mod engine;
pub mod error;
pub mod local;
pub mod net;
pub mod owner;
pub mod prg;
pub mod protocols;
pub mod ring;
pub mod share;

pub use client::{
    collect_outputs, merge_outputs, run_prologue, share_inputs, share_inputs_with, OutputValue,
    PublicInputPolicy, DEFAULT_PUBLIC_INPUTS,
};
pub use engine::{run_party, run_party_with_progress, PartyReport, ProgressFn};
pub use error::RuntimeError;
pub use local::{
    run_local, run_local_with, run_with_transports, run_with_transports_progress, LocalOptions,
    RunReport,
};
pub use owner::{share_weights, ParamShare, PartyParams};
