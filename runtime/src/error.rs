//! The runtime's one error type. Variants separate who is at fault: the program (a bytecode or
//! codegen bug the runtime detects before or while executing it), the caller's data (inputs,
//! weights), the network (a peer that timed out, hung up or sent a message of the wrong size) and
//! the runtime itself (an invariant of this crate broke).

use crate::net::NetError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The low-level program is malformed: a register of the wrong kind or shape, an index out
    /// of range, a scale mismatch. `at` says where (stage, instruction).
    #[error("bad program at {at}: {message}")]
    Program { at: String, message: String },

    /// A client input is missing, misshaped or out of range.
    #[error("input '{name}': {message}")]
    Input { name: String, message: String },

    /// The model owner's weights do not fit the program's parameters.
    #[error("weights: {0}")]
    Weights(String),

    /// A link failed (timeout, disconnection, wrong message size); the error names the peer.
    #[error("party P{party}: {source}")]
    Net {
        /// The endpoint that observed the failure (3 = the client).
        party: usize,
        #[source]
        source: NetError,
    },

    /// The operating system's random source failed.
    #[error("the OS random source failed: {0}")]
    Entropy(String),

    /// A broken invariant of the runtime itself (a bug, never the caller's fault).
    #[error("internal error: {0}")]
    Internal(String),
}

impl RuntimeError {
    pub fn program(at: impl Into<String>, message: impl Into<String>) -> Self {
        RuntimeError::Program {
            at: at.into(),
            message: message.into(),
        }
    }

    /// Whether the error is a network failure (used to prefer a party's own failure over the
    /// disconnections it causes at its peers when reporting a run).
    pub fn is_network(&self) -> bool {
        matches!(self, RuntimeError::Net { .. })
    }
}
