//! Plain tensors of public data: constants in programs and the model owner's weights.

use crate::types::Encoding;
use serde::{Deserialize, Serialize};

/// A dense row-major tensor of real values with the encoding they are meant to have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub encoding: Encoding,
    pub data: Vec<f64>,
}

impl Tensor {
    /// A tensor; `data.len()` must equal the product of `shape`.
    pub fn new(shape: Vec<usize>, encoding: Encoding, data: Vec<f64>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor {
            shape,
            encoding,
            data,
        }
    }

    pub fn scalar(value: f64, encoding: Encoding) -> Self {
        Tensor::new(vec![], encoding, vec![value])
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The single value of a tensor with one element.
    pub fn as_scalar(&self) -> Option<f64> {
        (self.data.len() == 1).then(|| self.data[0])
    }

    /// Whether every element equals the first (a splat constant).
    pub fn uniform_value(&self) -> Option<f64> {
        let first = *self.data.first()?;
        self.data.iter().all(|&v| v == first).then_some(first)
    }
}
