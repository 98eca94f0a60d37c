//! What one party holds in a register.
//!
//! Invariant: a [`Share`] never holds more than its party may know. For the replicated kinds the
//! two tensors are the party's own components (i, i+1) of the secret, never a third one; an
//! `Add3` holds component i alone; a `Pending` holds one of the two non-dealers' halves of a
//! 2-out-of-2 share, and nothing at the step's dealer.

use crate::ring::RingTensor;
use ndarray::ArrayD;
use secc_ir::lir::RegKind;

/// A register's value at one party.
#[derive(Debug, Clone)]
pub enum Share {
    /// A public real tensor (every party knows it).
    Public(ArrayD<f64>),
    /// A public ring tensor (every party knows it).
    Ring(RingTensor),
    /// Components (x_i, x_(i+1)) of an arithmetic replicated share.
    Rss {
        first: RingTensor,
        second: RingTensor,
    },
    /// Component z_i of a 3-out-of-3 additive share.
    Add3(RingTensor),
    /// Components (x_i, x_(i+1)) of an XOR replicated share.
    BoolRss {
        first: RingTensor,
        second: RingTensor,
    },
    /// Component z_i of a 3-out-of-3 XOR share.
    BoolAdd3(RingTensor),
    /// A non-dealer's half of a 2-out-of-2 additive share between the two steps of a
    /// truncation or after a Fourier opening; `None` at the step's dealer, which holds nothing.
    Pending {
        share: Option<RingTensor>,
        shape: Vec<usize>,
    },
}

impl Share {
    pub fn kind(&self) -> RegKind {
        match self {
            Share::Public(_) => RegKind::Public,
            Share::Ring(_) => RegKind::Ring,
            Share::Rss { .. } => RegKind::Rss,
            Share::Add3(_) => RegKind::Add3,
            Share::BoolRss { .. } => RegKind::BoolRss,
            Share::BoolAdd3(_) => RegKind::BoolAdd3,
            Share::Pending { .. } => RegKind::Pending,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Share::Public(a) => a.shape(),
            Share::Ring(t) | Share::Add3(t) | Share::BoolAdd3(t) => t.shape(),
            Share::Rss { first, .. } | Share::BoolRss { first, .. } => first.shape(),
            Share::Pending { shape, .. } => shape,
        }
    }

    /// Applies the same element movement to every tensor held (structural operations act
    /// alike on every component). Pending halves only feed `TruncFinish` and are refused.
    pub fn map_components(
        &self,
        ring: impl Fn(&RingTensor) -> Result<RingTensor, String>,
        public: impl Fn(&ArrayD<f64>) -> Result<ArrayD<f64>, String>,
    ) -> Result<Share, String> {
        Ok(match self {
            Share::Public(a) => Share::Public(public(a)?),
            Share::Ring(t) => Share::Ring(ring(t)?),
            Share::Add3(t) => Share::Add3(ring(t)?),
            Share::BoolAdd3(t) => Share::BoolAdd3(ring(t)?),
            Share::Rss { first, second } => Share::Rss {
                first: ring(first)?,
                second: ring(second)?,
            },
            Share::BoolRss { first, second } => Share::BoolRss {
                first: ring(first)?,
                second: ring(second)?,
            },
            Share::Pending { .. } => {
                return Err("a pending truncation half can only feed TruncFinish".into())
            }
        })
    }
}
