//! Value types: shape, visibility and encoding.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Who may see a value. Public values are computed in the clear by every party; secret values
/// exist only as replicated shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Visibility {
    Public,
    Secret,
}

/// How a value is represented in the ring Z_2^64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Encoding {
    /// Fixed point with the program's fraction bits.
    Fixed,
    /// Two's-complement integer (token ids, masks, counts).
    Int,
    /// 0 or 1.
    Bool,
}

/// The type of one IR value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ValueType {
    pub shape: Vec<usize>,
    pub visibility: Visibility,
    pub encoding: Encoding,
}

impl ValueType {
    pub fn new(shape: Vec<usize>, visibility: Visibility, encoding: Encoding) -> Self {
        ValueType {
            shape,
            visibility,
            encoding,
        }
    }

    pub fn element_count(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn is_secret(&self) -> bool {
        self.visibility == Visibility::Secret
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Visibility::Public => "public",
            Visibility::Secret => "secret",
        })
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Fixed => "fix",
            Encoding::Int => "int",
            Encoding::Bool => "bool",
        })
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} [", self.visibility, self.encoding)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// Numpy-style broadcast of two shapes, or `None` when they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Shape of a batched matrix product (numpy `matmul` semantics, rank >= 2 on both sides).
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
    let (k2, n) = (b[b.len() - 2], b[b.len() - 1]);
    if k != k2 {
        return None;
    }
    let mut out = broadcast_shapes(&a[..a.len() - 2], &b[..b.len() - 2])?;
    out.push(m);
    out.push(n);
    Some(out)
}
