//! The low-level protocol program (LIR): what codegen emits and every party interprets.
//!
//! A [`LowProgram`] is a list of [`Stage`]s. A stage runs its local instructions in order, then
//! performs all of its communication steps as **one round**: each party sends at most one message
//! to each peer, holding the payloads of every step of the stage back to back, in step order.
//! Rounds of the program = stages with at least one communication step.
//!
//! Registers are typed by [`RegKind`]; what a party holds in a register of each kind:
//! - `Public`: an f64 tensor every party knows (constants, the attention mask, values derived
//!   only from them).
//! - `Ring`: a public tensor encoded in Z_2^64 (fixed point with the given fraction bits, or int).
//! - `Rss`: a replicated arithmetic share: party i holds components (x_i, x_{i+1}) of
//!   x = x_0 + x_1 + x_2 mod 2^64.
//! - `Add3`: a 3-out-of-3 additive share (party i holds z_i), the result of a local product; it is
//!   re-randomised by a zero sharing, so a single component reveals nothing.
//! - `BoolRss` / `BoolAdd3`: the same two forms for XOR sharing of 64-bit words. A circuit may
//!   use only the low `width` bits of each word (the bounded comparison does): `BoolExtract`
//!   gathers the bits it needs into the low bits, and `ReshareBoolPacked` sends only those,
//!   packed densely, so the bytes follow the bits.
//! - `Pending`: a 2-out-of-2 additive share held by the two non-dealers between the two steps
//!   of a truncation or Fourier opening (P0 and P1 when P2 deals); the dealer holds nothing.
//!
//! Invariants the scheduler guarantees (and the runtime checks as it goes): an instruction reads
//! only registers written by an earlier instruction, where a communication step's result counts
//! as written at the end of its stage; every register is written once; operand kinds match the
//! instruction. Pairwise randomness for instruction `k` of the whole program comes from the
//! pair's seed with PRG stream `k` (AES-CTR, see the runtime's `prg`), so parties never have to
//! agree on a draw order. [`crate::preprocessing`] splits the program into what runs before the
//! request (input-independent work and the dealers' seed-only words) and the online rest.

use crate::op::Op;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// A register index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reg(pub u32);

/// What a register holds (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RegKind {
    Public,
    Ring,
    Rss,
    Add3,
    BoolRss,
    BoolAdd3,
    Pending,
}

/// Declaration of a register: kind, shape, and the fixed-point scale of its ring value
/// (fraction bits; 0 for integers and bits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegDecl {
    pub kind: RegKind,
    pub shape: Vec<usize>,
    pub frac_bits: u32,
}

/// How the client supplies an input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InputForm {
    /// Secret-shared in the ring with the given fraction bits (0 for integers).
    Secret { frac_bits: u32 },
    /// Sent in the clear to every party (declared public).
    Public,
    /// Integer ids in `0..vocab`, secret-shared as their one-hot encoding (shape `[.., vocab]`),
    /// so that an embedding lookup is a product with the shared table.
    OneHot { vocab: usize },
}

/// A client input of the low-level program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LowInput {
    pub name: String,
    /// Shape of the value the client gives (before one-hot expansion).
    pub shape: Vec<usize>,
    pub form: InputForm,
}

/// A model-owner parameter, shared once into per-party share files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LowParam {
    pub name: String,
    pub shape: Vec<usize>,
    pub frac_bits: u32,
}

/// A program output, reconstructed by the client alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LowOutput {
    pub name: String,
    pub reg: Reg,
    /// Fraction bits used to decode the ring value (0 for integers).
    pub frac_bits: u32,
}

/// Element movements, applied to every component of a register alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StructOp {
    Reshape {
        shape: Vec<usize>,
    },
    Transpose {
        perm: Vec<usize>,
    },
    Slice {
        axis: usize,
        start: usize,
        end: usize,
    },
    Broadcast {
        shape: Vec<usize>,
    },
    /// Picks entries `indices` along `axis` (indices known at compile time).
    Gather {
        axis: usize,
        indices: Vec<usize>,
        indices_shape: Vec<usize>,
    },
}

/// An instruction that needs no communication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LocalInstr {
    /// The client's input `input` (share or public value, per its [`InputForm`]).
    LoadInput {
        dst: Reg,
        input: u32,
    },
    /// This party's share of parameter `param`.
    LoadParam {
        dst: Reg,
        param: u32,
    },
    /// Public constant `index` of [`LowProgram::consts`].
    LoadConst {
        dst: Reg,
        index: u32,
    },
    /// An IR operator evaluated in f64 on public registers (mask arithmetic and the like).
    PublicOp {
        dst: Reg,
        op: Op,
        args: Vec<Reg>,
    },
    /// Public f64 to ring with `frac_bits` fraction bits (round to nearest).
    Encode {
        dst: Reg,
        src: Reg,
        frac_bits: u32,
    },
    /// Element-wise sum with numpy broadcasting: Rss+Rss, Rss+Ring, Ring+Rss, Add3+Add3,
    /// Ring+Ring. Both operands must have the same scale.
    Add {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// Element-wise difference, same operand rules as `Add`.
    Sub {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Neg {
        dst: Reg,
        a: Reg,
    },
    /// Element-wise product of a share by a public ring value (either order); scales add.
    MulPublic {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// Batched matrix product of a share by a public ring matrix (either order); scales add.
    MatMulPublic {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// Multiplication by a public integer (scale unchanged).
    MulInt {
        dst: Reg,
        a: Reg,
        k: i64,
    },
    /// Local part of an element-wise secret product: Rss x Rss -> Add3, re-randomised by a zero
    /// sharing; scales add.
    MulShares {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// Local part of a batched secret matrix product: Rss x Rss -> Add3; scales add.
    MatMulShares {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Struct {
        dst: Reg,
        src: Reg,
        op: StructOp,
    },
    Concat {
        dst: Reg,
        srcs: Vec<Reg>,
        axis: usize,
    },
    ReduceSum {
        dst: Reg,
        src: Reg,
        axes: Vec<usize>,
        keep_dims: bool,
    },
    /// Boolean sharing of one component `component` of an arithmetic share (the component is
    /// known to two parties, so this is local).
    ComponentToBool {
        dst: Reg,
        src: Reg,
        component: u8,
    },
    BoolXor {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// XOR with a public word (applied to component 0).
    BoolXorPublic {
        dst: Reg,
        a: Reg,
        word: u64,
    },
    /// Local part of AND: BoolRss x BoolRss -> BoolAdd3, re-randomised by a zero sharing.
    BoolAndLocal {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// Logical shift left of every word by `bits`.
    BoolShl {
        dst: Reg,
        a: Reg,
        bits: u32,
    },
    /// Bit `bit` of every word, as a word 0 or 1.
    BoolBit {
        dst: Reg,
        a: Reg,
        bit: u32,
    },
    /// Parallel bit extract (like x86 PEXT) of every word: the bits at the positions set in
    /// `mask` are gathered, in order, into the low `mask.count_ones()` bits; the other bits are
    /// zero. Applied to each component alike (XOR-linear), so it is local. BoolRss or BoolAdd3.
    BoolExtract {
        dst: Reg,
        a: Reg,
        mask: u64,
    },
    /// Arithmetic share of component `component` of a boolean share of single bits (a value
    /// 0/1 known to two parties), placed in that component alone.
    BitComponentToArith {
        dst: Reg,
        src: Reg,
        component: u8,
    },
    /// The same ring value read at the destination's scale: the real value is divided by
    /// 2^(dst scale - src scale) (multiplied when that is negative) at no cost.
    Rescale {
        dst: Reg,
        src: Reg,
    },
}

/// An instruction that is exactly one communication step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CommInstr {
    /// Add3 -> Rss: party i sends z_i to party i-1.
    Reshare { dst: Reg, src: Reg },
    /// BoolAdd3 -> BoolRss, likewise.
    ReshareBool { dst: Reg, src: Reg },
    /// BoolAdd3 -> BoolRss for words of which only the low `width` bits (1..=64) are meaningful
    /// (the local AND needs no variant: whatever it computes above `width` is dropped here).
    /// Party i sends the low `width` bits of z_i to party i-1, packed densely in row-major
    /// element order (element j at bit offset j * width of the little-endian word stream):
    /// [`packed_words`]`(n, width)` words. Both components of the result keep only the low
    /// `width` bits, the rest are zero.
    ReshareBoolPacked { dst: Reg, src: Reg, width: u32 },
    /// First step of truncation by 2^`shift`, with party `dealer` (0..=2) as the dealer of the
    /// mask. Roles: the dealer D = P`dealer` plays the protocol's P2 and the two others
    /// O0 = P(`dealer`+1) and O1 = P(`dealer`+2) (mod 3) play its P0 and P1 (see
    /// [`dealer_role`]); `dealer = 2` is the protocol as written with P2 dealing. O0 and O1 learn
    /// c = x + 2^62 + r for a mask r uniform in Z_2^64 known to D only, and end with a Pending
    /// 2-of-2 share of x / 2^shift. Source kind Add3 or Rss.
    TruncOpen {
        dst: Reg,
        src: Reg,
        shift: u32,
        dealer: u8,
    },
    /// Second step: Pending -> Rss; O0 and O1 exchange masked pieces, D's components come from
    /// its pairwise seeds. `dealer` must be the dealer of the `TruncOpen` or `FourierOpen` that
    /// wrote the Pending source (the two non-dealers hold its halves).
    TruncFinish { dst: Reg, src: Reg, dealer: u8 },
    /// SecFormer's sine protocol, with party `dealer` as the dealer (roles as for
    /// `TruncOpen`): O0 and O1 open delta = x - t modulo M = 2^(period_bits + F) (F the
    /// source scale) for a mask t uniform modulo M that only D knows, which hides x perfectly;
    /// D supplies additive shares of sin(m theta_t) and cos(m theta_t), encoded with
    /// (destination scale - F) fraction bits; the result is a Pending share (held by O0 and
    /// O1), at the destination's scale, of
    /// sum_m coefficients[m-1] sin(2 pi m x / 2^period_bits) for m = 1..=coefficients.len().
    FourierOpen {
        dst: Reg,
        src: Reg,
        period_bits: u32,
        coefficients: Vec<f64>,
        dealer: u8,
    },
}

/// The role party `party` plays in a dealer step with dealer `dealer`: the relabelling
/// p -> (p - dealer - 1) mod 3, so the dealer plays role 2 and P(dealer+1), P(dealer+2) play
/// roles 0 and 1. It is a rotation, so it maps the holders (i, i+1) of replicated component i
/// to the holders of component i - dealer - 1, and the holders (j-1, j) of key k_j to the
/// holders of key k_(j - dealer - 1): a protocol written for roles runs unchanged on the
/// relabelled components and keys. Identity for `dealer = 2`. (A dealer above 2 is refused by
/// the runtime; here it is reduced mod 3 so that cost functions never panic.)
pub fn dealer_role(party: usize, dealer: u8) -> usize {
    (party + 2 * 3 + 2 - usize::from(dealer) % 3) % 3
}

/// The party that plays `role` (0, 1 or 2 = the dealer) in a dealer step; the inverse of
/// [`dealer_role`]. Key k_rho of the protocol's roles is key k_(role_party(rho)).
pub fn role_party(role: usize, dealer: u8) -> usize {
    (role + usize::from(dealer) % 3 + 1) % 3
}

/// Local work followed by one round of communication.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stage {
    pub local: Vec<LocalInstr>,
    pub comm: Vec<CommInstr>,
    /// For each communication step, the IR operator and ONNX node it serves, as
    /// `"<op name> @ <origin>"`; the cost report groups bytes and rounds by these.
    pub comm_sources: Vec<String>,
}

/// A complete low-level program.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LowProgram {
    pub frac_bits: u32,
    pub regs: Vec<RegDecl>,
    pub consts: Vec<Tensor>,
    pub inputs: Vec<LowInput>,
    pub params: Vec<LowParam>,
    pub outputs: Vec<LowOutput>,
    pub stages: Vec<Stage>,
}

/// Bytes each party sends, and rounds, as the program determines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommCost {
    pub rounds: u64,
    pub bytes_sent: [u64; 3],
}

impl std::ops::AddAssign for CommCost {
    fn add_assign(&mut self, other: Self) {
        self.rounds += other.rounds;
        for i in 0..3 {
            self.bytes_sent[i] += other.bytes_sent[i];
        }
    }
}

/// Bytes of one ring element on the wire.
pub const ELEMENT_BYTES: u64 = 8;

/// Words (ring elements) that carry `n` values of `width` bits packed densely:
/// ceil(n * width / 64).
pub fn packed_words(n: u64, width: u32) -> u64 {
    (n * u64::from(width)).div_ceil(64)
}

impl LowProgram {
    pub fn elements(&self, reg: Reg) -> u64 {
        self.regs[reg.0 as usize].shape.iter().product::<usize>() as u64
    }

    pub fn kind(&self, reg: Reg) -> RegKind {
        self.regs[reg.0 as usize].kind
    }

    /// Ring elements party `from` sends to party `to` for one communication step, in the order
    /// the payload is laid out. Both sender and receiver derive message sizes from this.
    pub fn step_elements(&self, step: &CommInstr, from: usize, to: usize) -> u64 {
        let prev = |i: usize| (i + 2) % 3;
        match step {
            CommInstr::Reshare { src, .. } | CommInstr::ReshareBool { src, .. } => {
                if to == prev(from) {
                    self.elements(*src)
                } else {
                    0
                }
            }
            CommInstr::ReshareBoolPacked { src, width, .. } => {
                if to == prev(from) {
                    packed_words(self.elements(*src), *width)
                } else {
                    0
                }
            }
            CommInstr::TruncOpen { src, dealer, .. } => {
                let n = self.elements(*src);
                let additive = self.kind(*src) == RegKind::Add3;
                match (dealer_role(from, *dealer), dealer_role(to, *dealer)) {
                    // O0 and O1 swap their additive components (only when the source is Add3).
                    (0, 1) | (1, 0) if additive => n,
                    // D sends its masked component to O0, and to O1 with the correction shares
                    // of (r_low >> shift) and msb(r).
                    (2, 0) => n,
                    (2, 1) => 3 * n,
                    _ => 0,
                }
            }
            CommInstr::TruncFinish { src, dealer, .. } => {
                match (dealer_role(from, *dealer), dealer_role(to, *dealer)) {
                    (0, 1) | (1, 0) => self.elements(*src),
                    _ => 0,
                }
            }
            CommInstr::FourierOpen {
                src,
                coefficients,
                dealer,
                ..
            } => match (dealer_role(from, *dealer), dealer_role(to, *dealer)) {
                // O0 and O1 swap their masked pieces of x - t.
                (0, 1) | (1, 0) => self.elements(*src),
                // D sends O1 its shares of cos(m theta_t) and sin(m theta_t), m-major.
                (2, 1) => 2 * coefficients.len() as u64 * self.elements(*src),
                _ => 0,
            },
        }
    }

    /// Cost of one stage.
    pub fn stage_cost(&self, stage: &Stage) -> CommCost {
        let mut cost = CommCost {
            rounds: u64::from(!stage.comm.is_empty()),
            bytes_sent: [0; 3],
        };
        for step in &stage.comm {
            for from in 0..3 {
                for to in 0..3 {
                    if from != to {
                        cost.bytes_sent[from] += ELEMENT_BYTES * self.step_elements(step, from, to);
                    }
                }
            }
        }
        cost
    }

    /// The exact rounds and bytes of the online phase between the parties (client traffic not
    /// included), as the runtime's counters will measure them.
    pub fn predicted_cost(&self) -> CommCost {
        let mut total = CommCost::default();
        for stage in &self.stages {
            total += self.stage_cost(stage);
        }
        total
    }
}

impl LocalInstr {
    /// The register this instruction writes.
    pub fn dst(&self) -> Reg {
        use LocalInstr::*;
        match self {
            LoadInput { dst, .. }
            | LoadParam { dst, .. }
            | LoadConst { dst, .. }
            | PublicOp { dst, .. }
            | Encode { dst, .. }
            | Add { dst, .. }
            | Sub { dst, .. }
            | Neg { dst, .. }
            | MulPublic { dst, .. }
            | MatMulPublic { dst, .. }
            | MulInt { dst, .. }
            | MulShares { dst, .. }
            | MatMulShares { dst, .. }
            | Struct { dst, .. }
            | Concat { dst, .. }
            | ReduceSum { dst, .. }
            | ComponentToBool { dst, .. }
            | BoolXor { dst, .. }
            | BoolXorPublic { dst, .. }
            | BoolAndLocal { dst, .. }
            | BoolShl { dst, .. }
            | BoolBit { dst, .. }
            | BoolExtract { dst, .. }
            | BitComponentToArith { dst, .. }
            | Rescale { dst, .. } => *dst,
        }
    }

    /// The registers this instruction reads.
    pub fn reads(&self) -> Vec<Reg> {
        use LocalInstr::*;
        match self {
            LoadInput { .. } | LoadParam { .. } | LoadConst { .. } => vec![],
            PublicOp { args, .. } => args.clone(),
            Concat { srcs, .. } => srcs.clone(),
            Add { a, b, .. }
            | Sub { a, b, .. }
            | MulPublic { a, b, .. }
            | MatMulPublic { a, b, .. }
            | MulShares { a, b, .. }
            | MatMulShares { a, b, .. }
            | BoolXor { a, b, .. }
            | BoolAndLocal { a, b, .. } => vec![*a, *b],
            Encode { src, .. }
            | Struct { src, .. }
            | ReduceSum { src, .. }
            | ComponentToBool { src, .. }
            | BitComponentToArith { src, .. }
            | Rescale { src, .. } => vec![*src],
            Neg { a, .. }
            | MulInt { a, .. }
            | BoolXorPublic { a, .. }
            | BoolShl { a, .. }
            | BoolBit { a, .. }
            | BoolExtract { a, .. } => vec![*a],
        }
    }
}

impl CommInstr {
    /// The register this step writes (available after its round).
    pub fn dst(&self) -> Reg {
        match self {
            CommInstr::Reshare { dst, .. }
            | CommInstr::ReshareBool { dst, .. }
            | CommInstr::ReshareBoolPacked { dst, .. }
            | CommInstr::TruncOpen { dst, .. }
            | CommInstr::TruncFinish { dst, .. }
            | CommInstr::FourierOpen { dst, .. } => *dst,
        }
    }

    /// The dealer of a dealer step (`TruncOpen`, `TruncFinish`, `FourierOpen`).
    pub fn dealer(&self) -> Option<u8> {
        match self {
            CommInstr::TruncOpen { dealer, .. }
            | CommInstr::TruncFinish { dealer, .. }
            | CommInstr::FourierOpen { dealer, .. } => Some(*dealer),
            CommInstr::Reshare { .. }
            | CommInstr::ReshareBool { .. }
            | CommInstr::ReshareBoolPacked { .. } => None,
        }
    }

    /// The register this step reads.
    pub fn src(&self) -> Reg {
        match self {
            CommInstr::Reshare { src, .. }
            | CommInstr::ReshareBool { src, .. }
            | CommInstr::ReshareBoolPacked { src, .. }
            | CommInstr::TruncOpen { src, .. }
            | CommInstr::TruncFinish { src, .. }
            | CommInstr::FourierOpen { src, .. } => *src,
        }
    }
}
