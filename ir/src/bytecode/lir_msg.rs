//! The prost mirror of [`crate::lir`]: one message per LIR type, and the conversions both ways.
//!
//! Encoding is total (every `LowProgram` encodes). Decoding checks what prost cannot: that every
//! oneof is present, every enum tag is known, every count fits this machine's `usize`, and every
//! register, input, parameter and constant index is in range, so that an interpreter indexing
//! by them cannot go out of bounds on a well-hashed but inconsistent file. A [`PublicOp`]'s IR
//! operator is carried as RON text: the op enum is large and only ever evaluated in the clear.
//!
//! [`PublicOp`]: crate::lir::LocalInstr::PublicOp

use crate::lir::{
    CommInstr, InputForm, LocalInstr, LowInput, LowOutput, LowParam, LowProgram, Reg, RegDecl,
    RegKind, Stage, StructOp,
};
use crate::tensor::Tensor;
use crate::types::Encoding;

#[derive(Clone, PartialEq, prost::Message)]
pub struct LowProgramMsg {
    #[prost(uint32, tag = "1")]
    pub frac_bits: u32,
    #[prost(message, repeated, tag = "2")]
    pub regs: Vec<RegDeclMsg>,
    #[prost(message, repeated, tag = "3")]
    pub consts: Vec<TensorMsg>,
    #[prost(message, repeated, tag = "4")]
    pub inputs: Vec<LowInputMsg>,
    #[prost(message, repeated, tag = "5")]
    pub params: Vec<LowParamMsg>,
    #[prost(message, repeated, tag = "6")]
    pub outputs: Vec<LowOutputMsg>,
    #[prost(message, repeated, tag = "7")]
    pub stages: Vec<StageMsg>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RegDeclMsg {
    /// See [`reg_kind_tag`].
    #[prost(uint32, tag = "1")]
    pub kind: u32,
    #[prost(uint64, repeated, tag = "2")]
    pub shape: Vec<u64>,
    #[prost(uint32, tag = "3")]
    pub frac_bits: u32,
}

/// A tensor of f64 values, packed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorMsg {
    #[prost(uint64, repeated, tag = "1")]
    pub shape: Vec<u64>,
    /// See [`encoding_tag`].
    #[prost(uint32, tag = "2")]
    pub encoding: u32,
    #[prost(double, repeated, tag = "3")]
    pub data: Vec<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LowInputMsg {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint64, repeated, tag = "2")]
    pub shape: Vec<u64>,
    #[prost(oneof = "input_form::Form", tags = "3, 4, 5")]
    pub form: Option<input_form::Form>,
}

pub mod input_form {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Form {
        /// Fraction bits of the secret encoding.
        #[prost(uint32, tag = "3")]
        Secret(u32),
        #[prost(bool, tag = "4")]
        Public(bool),
        /// Vocabulary size of the one-hot expansion.
        #[prost(uint64, tag = "5")]
        OneHot(u64),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LowParamMsg {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint64, repeated, tag = "2")]
    pub shape: Vec<u64>,
    #[prost(uint32, tag = "3")]
    pub frac_bits: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LowOutputMsg {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub reg: u32,
    #[prost(uint32, tag = "3")]
    pub frac_bits: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StageMsg {
    #[prost(message, repeated, tag = "1")]
    pub local: Vec<LocalInstrMsg>,
    #[prost(message, repeated, tag = "2")]
    pub comm: Vec<CommInstrMsg>,
    /// One entry per communication step (see [`Stage::comm_sources`]).
    #[prost(string, repeated, tag = "3")]
    pub comm_sources: Vec<String>,
}

/// `dst <- f(a)`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UnaryMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    #[prost(uint32, tag = "2")]
    pub a: u32,
}

/// `dst <- f(a, b)`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BinaryMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    #[prost(uint32, tag = "2")]
    pub a: u32,
    #[prost(uint32, tag = "3")]
    pub b: u32,
}

/// `dst <- f(a)` with one small unsigned attribute (bits, a component, a shift).
#[derive(Clone, PartialEq, prost::Message)]
pub struct UnaryWithMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    #[prost(uint32, tag = "2")]
    pub a: u32,
    #[prost(uint32, tag = "3")]
    pub value: u32,
}

/// The first step of truncation: [`UnaryWithMsg`]'s fields (`value` = shift) and the dealer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TruncOpenMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    #[prost(uint32, tag = "2")]
    pub a: u32,
    #[prost(uint32, tag = "3")]
    pub value: u32,
    /// The dealing party, 0..=2 (format version 2 on).
    #[prost(uint32, tag = "4")]
    pub dealer: u32,
}

/// The second step of a dealer protocol: [`UnaryMsg`]'s fields and the dealer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TruncFinishMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    #[prost(uint32, tag = "2")]
    pub a: u32,
    /// The dealing party, 0..=2 (format version 2 on).
    #[prost(uint32, tag = "3")]
    pub dealer: u32,
}

/// The Fourier-series opening: a unary step with a period, the series' coefficients and the
/// dealer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FourierOpenMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    #[prost(uint32, tag = "2")]
    pub a: u32,
    #[prost(uint32, tag = "3")]
    pub period_bits: u32,
    #[prost(double, repeated, tag = "4")]
    pub coefficients: Vec<f64>,
    /// The dealing party, 0..=2 (format version 2 on).
    #[prost(uint32, tag = "5")]
    pub dealer: u32,
}

/// `dst <- item index` of an input, parameter or constant table.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LoadMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    #[prost(uint32, tag = "2")]
    pub index: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PublicOpMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    /// The IR operator as RON text.
    #[prost(string, tag = "2")]
    pub op_ron: String,
    #[prost(uint32, repeated, tag = "3")]
    pub args: Vec<u32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MulIntMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    #[prost(uint32, tag = "2")]
    pub a: u32,
    #[prost(sint64, tag = "3")]
    pub k: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct XorWordMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    #[prost(uint32, tag = "2")]
    pub a: u32,
    #[prost(fixed64, tag = "3")]
    pub word: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StructInstrMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    #[prost(uint32, tag = "2")]
    pub src: u32,
    #[prost(oneof = "struct_op::Op", tags = "3, 4, 5, 6, 7")]
    pub op: Option<struct_op::Op>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ShapeMsg {
    #[prost(uint64, repeated, tag = "1")]
    pub dims: Vec<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SliceMsg {
    #[prost(uint64, tag = "1")]
    pub axis: u64,
    #[prost(uint64, tag = "2")]
    pub start: u64,
    #[prost(uint64, tag = "3")]
    pub end: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GatherMsg {
    #[prost(uint64, tag = "1")]
    pub axis: u64,
    #[prost(uint64, repeated, tag = "2")]
    pub indices: Vec<u64>,
    #[prost(uint64, repeated, tag = "3")]
    pub indices_shape: Vec<u64>,
}

pub mod struct_op {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Op {
        #[prost(message, tag = "3")]
        Reshape(super::ShapeMsg),
        #[prost(message, tag = "4")]
        Transpose(super::ShapeMsg),
        #[prost(message, tag = "5")]
        Slice(super::SliceMsg),
        #[prost(message, tag = "6")]
        Broadcast(super::ShapeMsg),
        #[prost(message, tag = "7")]
        Gather(super::GatherMsg),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ConcatMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    #[prost(uint32, repeated, tag = "2")]
    pub srcs: Vec<u32>,
    #[prost(uint64, tag = "3")]
    pub axis: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReduceSumMsg {
    #[prost(uint32, tag = "1")]
    pub dst: u32,
    #[prost(uint32, tag = "2")]
    pub src: u32,
    #[prost(uint64, repeated, tag = "3")]
    pub axes: Vec<u64>,
    #[prost(bool, tag = "4")]
    pub keep_dims: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LocalInstrMsg {
    #[prost(
        oneof = "local_instr::Instr",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25"
    )]
    pub instr: Option<local_instr::Instr>,
}

pub mod local_instr {
    use super::*;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Instr {
        #[prost(message, tag = "1")]
        LoadInput(LoadMsg),
        #[prost(message, tag = "2")]
        LoadParam(LoadMsg),
        #[prost(message, tag = "3")]
        LoadConst(LoadMsg),
        #[prost(message, tag = "4")]
        PublicOp(PublicOpMsg),
        /// `value` = fraction bits.
        #[prost(message, tag = "5")]
        Encode(UnaryWithMsg),
        #[prost(message, tag = "6")]
        Add(BinaryMsg),
        #[prost(message, tag = "7")]
        Sub(BinaryMsg),
        #[prost(message, tag = "8")]
        Neg(UnaryMsg),
        #[prost(message, tag = "9")]
        MulPublic(BinaryMsg),
        #[prost(message, tag = "10")]
        MatMulPublic(BinaryMsg),
        #[prost(message, tag = "11")]
        MulInt(MulIntMsg),
        #[prost(message, tag = "12")]
        MulShares(BinaryMsg),
        #[prost(message, tag = "13")]
        MatMulShares(BinaryMsg),
        #[prost(message, tag = "14")]
        Struct(StructInstrMsg),
        #[prost(message, tag = "15")]
        Concat(ConcatMsg),
        #[prost(message, tag = "16")]
        ReduceSum(ReduceSumMsg),
        /// `value` = component.
        #[prost(message, tag = "17")]
        ComponentToBool(UnaryWithMsg),
        #[prost(message, tag = "18")]
        BoolXor(BinaryMsg),
        #[prost(message, tag = "19")]
        BoolXorPublic(XorWordMsg),
        #[prost(message, tag = "20")]
        BoolAndLocal(BinaryMsg),
        /// `value` = bits.
        #[prost(message, tag = "21")]
        BoolShl(UnaryWithMsg),
        /// `value` = bit.
        #[prost(message, tag = "22")]
        BoolBit(UnaryWithMsg),
        /// `value` = component.
        #[prost(message, tag = "23")]
        BitComponentToArith(UnaryWithMsg),
        #[prost(message, tag = "24")]
        Rescale(UnaryMsg),
        /// `word` = mask.
        #[prost(message, tag = "25")]
        BoolExtract(XorWordMsg),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CommInstrMsg {
    #[prost(oneof = "comm_instr::Instr", tags = "1, 2, 3, 4, 5, 6")]
    pub instr: Option<comm_instr::Instr>,
}

pub mod comm_instr {
    use super::*;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Instr {
        #[prost(message, tag = "1")]
        Reshare(UnaryMsg),
        #[prost(message, tag = "2")]
        ReshareBool(UnaryMsg),
        /// `value` = shift.
        #[prost(message, tag = "3")]
        TruncOpen(super::TruncOpenMsg),
        #[prost(message, tag = "4")]
        TruncFinish(super::TruncFinishMsg),
        #[prost(message, tag = "5")]
        FourierOpen(super::FourierOpenMsg),
        /// `value` = width.
        #[prost(message, tag = "6")]
        ReshareBoolPacked(UnaryWithMsg),
    }
}

/// Wire tag of a register kind. Tags are part of the format: never renumber, only append.
pub fn reg_kind_tag(kind: RegKind) -> u32 {
    match kind {
        RegKind::Public => 0,
        RegKind::Ring => 1,
        RegKind::Rss => 2,
        RegKind::Add3 => 3,
        RegKind::BoolRss => 4,
        RegKind::BoolAdd3 => 5,
        RegKind::Pending => 6,
    }
}

fn reg_kind_from_tag(tag: u32) -> Option<RegKind> {
    Some(match tag {
        0 => RegKind::Public,
        1 => RegKind::Ring,
        2 => RegKind::Rss,
        3 => RegKind::Add3,
        4 => RegKind::BoolRss,
        5 => RegKind::BoolAdd3,
        6 => RegKind::Pending,
        _ => return None,
    })
}

/// Wire tag of an encoding. Tags are part of the format: never renumber, only append.
pub fn encoding_tag(encoding: Encoding) -> u32 {
    match encoding {
        Encoding::Fixed => 0,
        Encoding::Int => 1,
        Encoding::Bool => 2,
    }
}

fn encoding_from_tag(tag: u32) -> Option<Encoding> {
    Some(match tag {
        0 => Encoding::Fixed,
        1 => Encoding::Int,
        2 => Encoding::Bool,
        _ => return None,
    })
}

fn dims_to_msg(dims: &[usize]) -> Vec<u64> {
    dims.iter().map(|&d| d as u64).collect()
}

pub fn tensor_to_msg(tensor: &Tensor) -> TensorMsg {
    TensorMsg {
        shape: dims_to_msg(&tensor.shape),
        encoding: encoding_tag(tensor.encoding),
        data: tensor.data.clone(),
    }
}

/// Converts a decoded tensor, checking that its data fills its shape exactly.
pub fn tensor_from_msg(msg: TensorMsg, what: &str) -> Result<Tensor, String> {
    let shape = dims_from_msg(&msg.shape, what)?;
    let encoding = encoding_from_tag(msg.encoding)
        .ok_or_else(|| format!("{what}: unknown encoding tag {}", msg.encoding))?;
    let expected = element_count(&shape, what)?;
    if expected != msg.data.len() {
        return Err(format!(
            "{what}: shape {shape:?} needs {expected} values, the file holds {}",
            msg.data.len()
        ));
    }
    Ok(Tensor {
        shape,
        encoding,
        data: msg.data,
    })
}

/// Dimensions back to `usize`, failing (not truncating) where they do not fit.
pub fn dims_from_msg(dims: &[u64], what: &str) -> Result<Vec<usize>, String> {
    dims.iter()
        .map(|&d| to_usize(d, what))
        .collect::<Result<_, _>>()
}

/// Number of elements of `shape`, failing on overflow instead of wrapping.
pub fn element_count(shape: &[usize], what: &str) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("{what}: shape {shape:?} has more elements than fit in memory"))
}

fn to_usize(value: u64, what: &str) -> Result<usize, String> {
    usize::try_from(value).map_err(|_| format!("{what}: value {value} does not fit this machine"))
}

impl From<&LowProgram> for LowProgramMsg {
    fn from(program: &LowProgram) -> Self {
        LowProgramMsg {
            frac_bits: program.frac_bits,
            regs: program
                .regs
                .iter()
                .map(|r| RegDeclMsg {
                    kind: reg_kind_tag(r.kind),
                    shape: dims_to_msg(&r.shape),
                    frac_bits: r.frac_bits,
                })
                .collect(),
            consts: program.consts.iter().map(tensor_to_msg).collect(),
            inputs: program
                .inputs
                .iter()
                .map(|i| LowInputMsg {
                    name: i.name.clone(),
                    shape: dims_to_msg(&i.shape),
                    form: Some(match i.form {
                        InputForm::Secret { frac_bits } => input_form::Form::Secret(frac_bits),
                        InputForm::Public => input_form::Form::Public(true),
                        InputForm::OneHot { vocab } => input_form::Form::OneHot(vocab as u64),
                    }),
                })
                .collect(),
            params: program
                .params
                .iter()
                .map(|p| LowParamMsg {
                    name: p.name.clone(),
                    shape: dims_to_msg(&p.shape),
                    frac_bits: p.frac_bits,
                })
                .collect(),
            outputs: program
                .outputs
                .iter()
                .map(|o| LowOutputMsg {
                    name: o.name.clone(),
                    reg: o.reg.0,
                    frac_bits: o.frac_bits,
                })
                .collect(),
            stages: program
                .stages
                .iter()
                .map(|s| StageMsg {
                    local: s.local.iter().map(local_to_msg).collect(),
                    comm: s.comm.iter().map(comm_to_msg).collect(),
                    comm_sources: s.comm_sources.clone(),
                })
                .collect(),
        }
    }
}

fn unary(dst: Reg, a: Reg) -> UnaryMsg {
    UnaryMsg { dst: dst.0, a: a.0 }
}

fn binary(dst: Reg, a: Reg, b: Reg) -> BinaryMsg {
    BinaryMsg {
        dst: dst.0,
        a: a.0,
        b: b.0,
    }
}

fn unary_with(dst: Reg, a: Reg, value: u32) -> UnaryWithMsg {
    UnaryWithMsg {
        dst: dst.0,
        a: a.0,
        value,
    }
}

fn load(dst: Reg, index: u32) -> LoadMsg {
    LoadMsg { dst: dst.0, index }
}

fn local_to_msg(instr: &LocalInstr) -> LocalInstrMsg {
    use local_instr::Instr as M;
    let msg = match instr {
        LocalInstr::LoadInput { dst, input } => M::LoadInput(load(*dst, *input)),
        LocalInstr::LoadParam { dst, param } => M::LoadParam(load(*dst, *param)),
        LocalInstr::LoadConst { dst, index } => M::LoadConst(load(*dst, *index)),
        LocalInstr::PublicOp { dst, op, args } => M::PublicOp(PublicOpMsg {
            dst: dst.0,
            // RON serialisation of a plain data enum writes to a String and has no failure
            // mode for these types (non-finite floats are written as `NaN`/`inf`).
            op_ron: ron::to_string(op).expect("an IR op always serialises to RON"),
            args: args.iter().map(|r| r.0).collect(),
        }),
        LocalInstr::Encode {
            dst,
            src,
            frac_bits,
        } => M::Encode(unary_with(*dst, *src, *frac_bits)),
        LocalInstr::Add { dst, a, b } => M::Add(binary(*dst, *a, *b)),
        LocalInstr::Sub { dst, a, b } => M::Sub(binary(*dst, *a, *b)),
        LocalInstr::Neg { dst, a } => M::Neg(unary(*dst, *a)),
        LocalInstr::MulPublic { dst, a, b } => M::MulPublic(binary(*dst, *a, *b)),
        LocalInstr::MatMulPublic { dst, a, b } => M::MatMulPublic(binary(*dst, *a, *b)),
        LocalInstr::MulInt { dst, a, k } => M::MulInt(MulIntMsg {
            dst: dst.0,
            a: a.0,
            k: *k,
        }),
        LocalInstr::MulShares { dst, a, b } => M::MulShares(binary(*dst, *a, *b)),
        LocalInstr::MatMulShares { dst, a, b } => M::MatMulShares(binary(*dst, *a, *b)),
        LocalInstr::Struct { dst, src, op } => M::Struct(StructInstrMsg {
            dst: dst.0,
            src: src.0,
            op: Some(match op {
                StructOp::Reshape { shape } => struct_op::Op::Reshape(ShapeMsg {
                    dims: dims_to_msg(shape),
                }),
                StructOp::Transpose { perm } => struct_op::Op::Transpose(ShapeMsg {
                    dims: dims_to_msg(perm),
                }),
                StructOp::Slice { axis, start, end } => struct_op::Op::Slice(SliceMsg {
                    axis: *axis as u64,
                    start: *start as u64,
                    end: *end as u64,
                }),
                StructOp::Broadcast { shape } => struct_op::Op::Broadcast(ShapeMsg {
                    dims: dims_to_msg(shape),
                }),
                StructOp::Gather {
                    axis,
                    indices,
                    indices_shape,
                } => struct_op::Op::Gather(GatherMsg {
                    axis: *axis as u64,
                    indices: dims_to_msg(indices),
                    indices_shape: dims_to_msg(indices_shape),
                }),
            }),
        }),
        LocalInstr::Concat { dst, srcs, axis } => M::Concat(ConcatMsg {
            dst: dst.0,
            srcs: srcs.iter().map(|r| r.0).collect(),
            axis: *axis as u64,
        }),
        LocalInstr::ReduceSum {
            dst,
            src,
            axes,
            keep_dims,
        } => M::ReduceSum(ReduceSumMsg {
            dst: dst.0,
            src: src.0,
            axes: dims_to_msg(axes),
            keep_dims: *keep_dims,
        }),
        LocalInstr::ComponentToBool {
            dst,
            src,
            component,
        } => M::ComponentToBool(unary_with(*dst, *src, u32::from(*component))),
        LocalInstr::BoolXor { dst, a, b } => M::BoolXor(binary(*dst, *a, *b)),
        LocalInstr::BoolXorPublic { dst, a, word } => M::BoolXorPublic(XorWordMsg {
            dst: dst.0,
            a: a.0,
            word: *word,
        }),
        LocalInstr::BoolAndLocal { dst, a, b } => M::BoolAndLocal(binary(*dst, *a, *b)),
        LocalInstr::BoolShl { dst, a, bits } => M::BoolShl(unary_with(*dst, *a, *bits)),
        LocalInstr::BoolBit { dst, a, bit } => M::BoolBit(unary_with(*dst, *a, *bit)),
        LocalInstr::BitComponentToArith {
            dst,
            src,
            component,
        } => M::BitComponentToArith(unary_with(*dst, *src, u32::from(*component))),
        LocalInstr::Rescale { dst, src } => M::Rescale(unary(*dst, *src)),
        LocalInstr::BoolExtract { dst, a, mask } => M::BoolExtract(XorWordMsg {
            dst: dst.0,
            a: a.0,
            word: *mask,
        }),
    };
    LocalInstrMsg { instr: Some(msg) }
}

fn comm_to_msg(instr: &CommInstr) -> CommInstrMsg {
    use comm_instr::Instr as M;
    let msg = match instr {
        CommInstr::Reshare { dst, src } => M::Reshare(unary(*dst, *src)),
        CommInstr::ReshareBool { dst, src } => M::ReshareBool(unary(*dst, *src)),
        CommInstr::ReshareBoolPacked { dst, src, width } => {
            M::ReshareBoolPacked(unary_with(*dst, *src, *width))
        }
        CommInstr::TruncOpen {
            dst,
            src,
            shift,
            dealer,
        } => M::TruncOpen(TruncOpenMsg {
            dst: dst.0,
            a: src.0,
            value: *shift,
            dealer: u32::from(*dealer),
        }),
        CommInstr::TruncFinish { dst, src, dealer } => M::TruncFinish(TruncFinishMsg {
            dst: dst.0,
            a: src.0,
            dealer: u32::from(*dealer),
        }),
        CommInstr::FourierOpen {
            dst,
            src,
            period_bits,
            coefficients,
            dealer,
        } => M::FourierOpen(FourierOpenMsg {
            dst: dst.0,
            a: src.0,
            period_bits: *period_bits,
            coefficients: coefficients.clone(),
            dealer: u32::from(*dealer),
        }),
    };
    CommInstrMsg { instr: Some(msg) }
}

/// Index bounds of the tables instructions refer to, for checking while converting.
struct Bounds {
    regs: usize,
    inputs: usize,
    params: usize,
    consts: usize,
}

impl Bounds {
    fn reg(&self, index: u32, at: &str) -> Result<Reg, String> {
        if (index as usize) < self.regs {
            Ok(Reg(index))
        } else {
            Err(format!(
                "{at}: register r{index} does not exist (the program declares {})",
                self.regs
            ))
        }
    }

    fn table(&self, index: u32, len: usize, table: &str, at: &str) -> Result<u32, String> {
        if (index as usize) < len {
            Ok(index)
        } else {
            Err(format!(
                "{at}: {table} {index} does not exist (the program declares {len})"
            ))
        }
    }

    fn component(&self, value: u32, at: &str) -> Result<u8, String> {
        if value < 3 {
            Ok(value as u8)
        } else {
            Err(format!("{at}: share component {value} is not 0, 1 or 2"))
        }
    }
}

impl TryFrom<LowProgramMsg> for LowProgram {
    type Error = String;

    fn try_from(msg: LowProgramMsg) -> Result<Self, String> {
        let bounds = Bounds {
            regs: msg.regs.len(),
            inputs: msg.inputs.len(),
            params: msg.params.len(),
            consts: msg.consts.len(),
        };
        let regs = msg
            .regs
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let at = format!("register r{i}");
                Ok(RegDecl {
                    kind: reg_kind_from_tag(r.kind)
                        .ok_or_else(|| format!("{at}: unknown register kind tag {}", r.kind))?,
                    shape: {
                        let shape = dims_from_msg(&r.shape, &at)?;
                        element_count(&shape, &at)?;
                        shape
                    },
                    frac_bits: r.frac_bits,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let consts = msg
            .consts
            .into_iter()
            .enumerate()
            .map(|(i, t)| tensor_from_msg(t, &format!("constant {i}")))
            .collect::<Result<Vec<_>, String>>()?;
        let inputs = msg
            .inputs
            .into_iter()
            .map(|i| {
                let at = format!("input {:?}", i.name);
                let form = match i.form {
                    Some(input_form::Form::Secret(frac_bits)) => InputForm::Secret { frac_bits },
                    Some(input_form::Form::Public(_)) => InputForm::Public,
                    Some(input_form::Form::OneHot(vocab)) => InputForm::OneHot {
                        vocab: to_usize(vocab, &at)?,
                    },
                    None => return Err(format!("{at}: no input form")),
                };
                Ok(LowInput {
                    shape: dims_from_msg(&i.shape, &at)?,
                    name: i.name,
                    form,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let params = msg
            .params
            .into_iter()
            .map(|p| {
                Ok(LowParam {
                    shape: dims_from_msg(&p.shape, &format!("parameter {:?}", p.name))?,
                    name: p.name,
                    frac_bits: p.frac_bits,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let outputs = msg
            .outputs
            .into_iter()
            .map(|o| {
                Ok(LowOutput {
                    reg: bounds.reg(o.reg, &format!("output {:?}", o.name))?,
                    name: o.name,
                    frac_bits: o.frac_bits,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let stages = msg
            .stages
            .into_iter()
            .enumerate()
            .map(|(s, stage)| {
                let local = stage
                    .local
                    .into_iter()
                    .enumerate()
                    .map(|(k, instr)| {
                        local_from_msg(instr, &bounds, &format!("stage {s}, local instruction {k}"))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                let comm = stage
                    .comm
                    .into_iter()
                    .enumerate()
                    .map(|(k, instr)| {
                        comm_from_msg(
                            instr,
                            &bounds,
                            &format!("stage {s}, communication step {k}"),
                        )
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(Stage {
                    local,
                    comm,
                    comm_sources: stage.comm_sources,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(LowProgram {
            frac_bits: msg.frac_bits,
            regs,
            consts,
            inputs,
            params,
            outputs,
            stages,
        })
    }
}

fn local_from_msg(msg: LocalInstrMsg, b: &Bounds, at: &str) -> Result<LocalInstr, String> {
    use local_instr::Instr as M;
    let r = |index: u32| b.reg(index, at);
    let bin =
        |m: &BinaryMsg| -> Result<(Reg, Reg, Reg), String> { Ok((r(m.dst)?, r(m.a)?, r(m.b)?)) };
    let instr = msg
        .instr
        .ok_or_else(|| format!("{at}: empty instruction"))?;
    Ok(match instr {
        M::LoadInput(m) => LocalInstr::LoadInput {
            dst: r(m.dst)?,
            input: b.table(m.index, b.inputs, "input", at)?,
        },
        M::LoadParam(m) => LocalInstr::LoadParam {
            dst: r(m.dst)?,
            param: b.table(m.index, b.params, "parameter", at)?,
        },
        M::LoadConst(m) => LocalInstr::LoadConst {
            dst: r(m.dst)?,
            index: b.table(m.index, b.consts, "constant", at)?,
        },
        M::PublicOp(m) => LocalInstr::PublicOp {
            dst: r(m.dst)?,
            op: ron::from_str(&m.op_ron)
                .map_err(|e| format!("{at}: public operator {:?} does not parse: {e}", m.op_ron))?,
            args: m.args.iter().map(|&a| r(a)).collect::<Result<_, _>>()?,
        },
        M::Encode(m) => LocalInstr::Encode {
            dst: r(m.dst)?,
            src: r(m.a)?,
            frac_bits: m.value,
        },
        M::Add(m) => {
            let (dst, a, b) = bin(&m)?;
            LocalInstr::Add { dst, a, b }
        }
        M::Sub(m) => {
            let (dst, a, b) = bin(&m)?;
            LocalInstr::Sub { dst, a, b }
        }
        M::Neg(m) => LocalInstr::Neg {
            dst: r(m.dst)?,
            a: r(m.a)?,
        },
        M::MulPublic(m) => {
            let (dst, a, b) = bin(&m)?;
            LocalInstr::MulPublic { dst, a, b }
        }
        M::MatMulPublic(m) => {
            let (dst, a, b) = bin(&m)?;
            LocalInstr::MatMulPublic { dst, a, b }
        }
        M::MulInt(m) => LocalInstr::MulInt {
            dst: r(m.dst)?,
            a: r(m.a)?,
            k: m.k,
        },
        M::MulShares(m) => {
            let (dst, a, b) = bin(&m)?;
            LocalInstr::MulShares { dst, a, b }
        }
        M::MatMulShares(m) => {
            let (dst, a, b) = bin(&m)?;
            LocalInstr::MatMulShares { dst, a, b }
        }
        M::Struct(m) => {
            let op = match m
                .op
                .ok_or_else(|| format!("{at}: element movement missing"))?
            {
                struct_op::Op::Reshape(s) => StructOp::Reshape {
                    shape: dims_from_msg(&s.dims, at)?,
                },
                struct_op::Op::Transpose(s) => StructOp::Transpose {
                    perm: dims_from_msg(&s.dims, at)?,
                },
                struct_op::Op::Slice(s) => StructOp::Slice {
                    axis: to_usize(s.axis, at)?,
                    start: to_usize(s.start, at)?,
                    end: to_usize(s.end, at)?,
                },
                struct_op::Op::Broadcast(s) => StructOp::Broadcast {
                    shape: dims_from_msg(&s.dims, at)?,
                },
                struct_op::Op::Gather(g) => StructOp::Gather {
                    axis: to_usize(g.axis, at)?,
                    indices: dims_from_msg(&g.indices, at)?,
                    indices_shape: dims_from_msg(&g.indices_shape, at)?,
                },
            };
            LocalInstr::Struct {
                dst: r(m.dst)?,
                src: r(m.src)?,
                op,
            }
        }
        M::Concat(m) => LocalInstr::Concat {
            dst: r(m.dst)?,
            srcs: m.srcs.iter().map(|&s| r(s)).collect::<Result<_, _>>()?,
            axis: to_usize(m.axis, at)?,
        },
        M::ReduceSum(m) => LocalInstr::ReduceSum {
            dst: r(m.dst)?,
            src: r(m.src)?,
            axes: dims_from_msg(&m.axes, at)?,
            keep_dims: m.keep_dims,
        },
        M::ComponentToBool(m) => LocalInstr::ComponentToBool {
            dst: r(m.dst)?,
            src: r(m.a)?,
            component: b.component(m.value, at)?,
        },
        M::BoolXor(m) => {
            let (dst, a, b) = bin(&m)?;
            LocalInstr::BoolXor { dst, a, b }
        }
        M::BoolXorPublic(m) => LocalInstr::BoolXorPublic {
            dst: r(m.dst)?,
            a: r(m.a)?,
            word: m.word,
        },
        M::BoolAndLocal(m) => {
            let (dst, a, b) = bin(&m)?;
            LocalInstr::BoolAndLocal { dst, a, b }
        }
        M::BoolShl(m) => LocalInstr::BoolShl {
            dst: r(m.dst)?,
            a: r(m.a)?,
            bits: m.value,
        },
        M::BoolBit(m) => LocalInstr::BoolBit {
            dst: r(m.dst)?,
            a: r(m.a)?,
            bit: m.value,
        },
        M::BitComponentToArith(m) => LocalInstr::BitComponentToArith {
            dst: r(m.dst)?,
            src: r(m.a)?,
            component: b.component(m.value, at)?,
        },
        M::Rescale(m) => LocalInstr::Rescale {
            dst: r(m.dst)?,
            src: r(m.a)?,
        },
        M::BoolExtract(m) => LocalInstr::BoolExtract {
            dst: r(m.dst)?,
            a: r(m.a)?,
            mask: m.word,
        },
    })
}

fn comm_from_msg(msg: CommInstrMsg, b: &Bounds, at: &str) -> Result<CommInstr, String> {
    use comm_instr::Instr as M;
    let r = |index: u32| b.reg(index, at);
    // A party index, like the other indices, is checked here (the runtime checks it again for
    // programs built in memory).
    let dealer = |d: u32| match u8::try_from(d) {
        Ok(d) if d <= 2 => Ok(d),
        _ => Err(format!(
            "{at}: dealer P{d} does not exist (parties are 0, 1, 2)"
        )),
    };
    let instr = msg
        .instr
        .ok_or_else(|| format!("{at}: empty communication step"))?;
    Ok(match instr {
        M::Reshare(m) => CommInstr::Reshare {
            dst: r(m.dst)?,
            src: r(m.a)?,
        },
        M::ReshareBool(m) => CommInstr::ReshareBool {
            dst: r(m.dst)?,
            src: r(m.a)?,
        },
        M::ReshareBoolPacked(m) => CommInstr::ReshareBoolPacked {
            dst: r(m.dst)?,
            src: r(m.a)?,
            width: m.value,
        },
        M::TruncOpen(m) => CommInstr::TruncOpen {
            dst: r(m.dst)?,
            src: r(m.a)?,
            shift: m.value,
            dealer: dealer(m.dealer)?,
        },
        M::TruncFinish(m) => CommInstr::TruncFinish {
            dst: r(m.dst)?,
            src: r(m.a)?,
            dealer: dealer(m.dealer)?,
        },
        M::FourierOpen(m) => CommInstr::FourierOpen {
            dst: r(m.dst)?,
            src: r(m.a)?,
            period_bits: m.period_bits,
            coefficients: m.coefficients,
            dealer: dealer(m.dealer)?,
        },
    })
}
