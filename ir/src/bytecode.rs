//! secc's file formats: the compiled program ("bytecode", `.secc`) and the per-party share file
//! (`.shares`), both prost-encoded behind a fixed prefix.
//!
//! Layout of both files:
//!
//! ```text
//! magic (8 bytes) | format version (u32 LE) | body length (u64 LE) | body (prost message)
//! ```
//!
//! The prefix is fixed, outside any prost schema, so that every past and future reader can tell
//! a foreign file (bad magic), a file of the other kind, a file from another format version and a
//! truncated file apart before it interprets a single body byte. The body is a prost message that
//! holds each section as bytes next to the SHA-256 of those bytes, so every byte of the file is
//! covered: a changed byte in the prefix changes the magic, version or length; in the body it
//! breaks the prost structure or a hash.
//!
//! Program file body ([`ProgramFileMsg`]): the program section (the IR [`Program`] as RON text,
//! because the IR is the human-facing part, and the [`LowProgram`] mirrored in prost messages,
//! see [`lir_msg`]) and, in the model owner's copy only, the plaintext [`Weights`]. The
//! **program hash** ([`Container::program_hash`]) is the SHA-256 of the encoded program section
//! alone: it identifies what the parties run, it is the same for the owner's copy with weights
//! and the parties' copy without, and share files and the parties' handshake carry it.
//!
//! Share file body ([`SharesFileMsg`]): for one party, the program hash it belongs to, the
//! party id, and that party's two replicated components of every parameter.
//!
//! Invariants: encoding is deterministic (same value, same bytes), so a hash computed from a
//! decoded container equals the one computed before encoding; `decode` never panics and returns
//! only values whose register and table indices are in range.

use crate::lir::LowProgram;
use crate::program::{Program, Weights};
use prost::Message;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

pub mod lir_msg;

/// First bytes of a compiled program file.
pub const PROGRAM_MAGIC: [u8; 8] = *b"SECC\0PRG";
/// First bytes of a party's share file.
pub const SHARES_MAGIC: [u8; 8] = *b"SECC\0SHR";
/// The format version this build writes and reads. Bump it on any incompatible change to the
/// body messages below or to [`lir_msg`]. History: 1, the first; 2, dealer steps
/// (`TruncOpen`, `TruncFinish`, `FourierOpen`) name their dealer (a version-1 program would
/// decode with the missing field as dealer P0, a different protocol from the P2 it meant); 3, the
/// low-level inputs are the values the client's prologue sends (`prologue::Partition`), not the
/// raw program inputs (a version-2 program would decode, then fail at the client's inputs).
pub const FORMAT_VERSION: u32 = 3;

const PREFIX_LEN: usize = 8 + 4 + 8;

/// What can be wrong with a file's bytes. Callers that know the path wrap this in [`FileError`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BytecodeError {
    #[error("not a secc {expected} (it does not start with the secc magic bytes)")]
    NotSecc { expected: FileKind },
    #[error("this is a secc {found}, not a secc {expected}")]
    WrongKind { expected: FileKind, found: FileKind },
    #[error(
        "unsupported format version {found} (this build reads version {expected}); \
         recompile the model (or re-share the weights) with this version of secc"
    )]
    UnsupportedVersion { found: u32, expected: u32 },
    #[error("truncated: {needed} bytes expected, the file has {got}")]
    Truncated { needed: u64, got: u64 },
    #[error("corrupt: {reason}")]
    Corrupt { reason: String },
    #[error("corrupt: the {section} section does not match its SHA-256 (stored {stored}, computed {computed})")]
    HashMismatch {
        section: &'static str,
        stored: String,
        computed: String,
    },
}

/// Which of the two secc file kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Program,
    Shares,
}

impl FileKind {
    fn magic(self) -> [u8; 8] {
        match self {
            FileKind::Program => PROGRAM_MAGIC,
            FileKind::Shares => SHARES_MAGIC,
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Program => "program file",
            FileKind::Shares => "share file",
        })
    }
}

/// SHA-256 of a program section: what parties compare at the handshake.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgramHash(pub [u8; 32]);

impl ProgramHash {
    /// The first 12 hex digits, enough to tell programs apart in a message.
    pub fn short(&self) -> String {
        hex(&self.0[..6])
    }

    fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(ProgramHash(bytes.try_into().ok()?))
    }
}

impl fmt::Display for ProgramHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for ProgramHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProgramHash({})", self.short())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Everything a compiled program file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    /// The IR program the low-level program was compiled from (for `inspect`, `reference`).
    pub program: Program,
    /// What the parties interpret.
    pub low: LowProgram,
    /// The model owner's plaintext weights, in the order of `low.params`; present only in the
    /// owner's copy, never in a file given to a party.
    pub weights: Option<Weights>,
}

/// Body of a program file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProgramFileMsg {
    /// SHA-256 of `program`: the program hash.
    #[prost(bytes = "vec", tag = "1")]
    pub program_sha256: Vec<u8>,
    /// An encoded [`ProgramSectionMsg`].
    #[prost(bytes = "vec", tag = "2")]
    pub program: Vec<u8>,
    /// SHA-256 of `weights` (empty when there are no weights).
    #[prost(bytes = "vec", tag = "3")]
    pub weights_sha256: Vec<u8>,
    /// An encoded [`WeightsMsg`], or empty.
    #[prost(bytes = "vec", tag = "4")]
    pub weights: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProgramSectionMsg {
    /// The IR program as RON text.
    #[prost(string, tag = "1")]
    pub ir_ron: String,
    #[prost(message, optional, tag = "2")]
    pub low: Option<lir_msg::LowProgramMsg>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WeightsMsg {
    #[prost(message, repeated, tag = "1")]
    pub tensors: Vec<lir_msg::TensorMsg>,
}

impl Container {
    /// SHA-256 of the encoded program section (IR and low-level program, not the weights).
    pub fn program_hash(&self) -> ProgramHash {
        ProgramHash(sha256(&self.program_section_bytes()))
    }

    /// The same program without the owner's weights: the copy the parties receive.
    pub fn without_weights(&self) -> Container {
        Container {
            program: self.program.clone(),
            low: self.low.clone(),
            weights: None,
        }
    }

    fn program_section_bytes(&self) -> Vec<u8> {
        ProgramSectionMsg {
            // RON writes plain data into a String and cannot fail for these derive-serialised
            // types (non-finite floats are written as NaN / inf).
            ir_ron: ron::to_string(&self.program).expect("an IR program always serialises to RON"),
            low: Some(lir_msg::LowProgramMsg::from(&self.low)),
        }
        .encode_to_vec()
    }
}

/// Encodes a program file.
pub fn encode(container: &Container) -> Vec<u8> {
    let program = container.program_section_bytes();
    let weights = container
        .weights
        .as_ref()
        .map(|w| {
            WeightsMsg {
                tensors: w.tensors.iter().map(lir_msg::tensor_to_msg).collect(),
            }
            .encode_to_vec()
        })
        .unwrap_or_default();
    let body = ProgramFileMsg {
        program_sha256: sha256(&program).to_vec(),
        weights_sha256: if container.weights.is_some() {
            sha256(&weights).to_vec()
        } else {
            Vec::new()
        },
        program,
        weights,
    };
    frame(FileKind::Program, &body.encode_to_vec())
}

/// Decodes a program file, checking magic, version, length and both section hashes.
pub fn decode(bytes: &[u8]) -> Result<Container, BytecodeError> {
    let body = unframe(FileKind::Program, bytes)?;
    let file = ProgramFileMsg::decode(body).map_err(corrupt)?;
    check_hash("program", &file.program_sha256, &file.program)?;
    let has_weights = !file.weights_sha256.is_empty() || !file.weights.is_empty();
    if has_weights {
        check_hash("weights", &file.weights_sha256, &file.weights)?;
    }
    let section = ProgramSectionMsg::decode(file.program.as_slice()).map_err(corrupt)?;
    let program: Program = ron::from_str(&section.ir_ron).map_err(|e| BytecodeError::Corrupt {
        reason: format!("the IR program does not parse: {e}"),
    })?;
    let low = LowProgram::try_from(section.low.ok_or_else(|| BytecodeError::Corrupt {
        reason: "the low-level program is missing".into(),
    })?)
    .map_err(|reason| BytecodeError::Corrupt { reason })?;
    let weights = if has_weights {
        let msg = WeightsMsg::decode(file.weights.as_slice()).map_err(corrupt)?;
        let tensors = msg
            .tensors
            .into_iter()
            .enumerate()
            .map(|(i, t)| lir_msg::tensor_from_msg(t, &format!("weight tensor {i}")))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|reason| BytecodeError::Corrupt { reason })?;
        check_weights_match(&low, &tensors)?;
        Some(Weights { tensors })
    } else {
        None
    };
    Ok(Container {
        program,
        low,
        weights,
    })
}

fn check_weights_match(
    low: &LowProgram,
    tensors: &[crate::tensor::Tensor],
) -> Result<(), BytecodeError> {
    if tensors.len() != low.params.len() {
        return Err(BytecodeError::Corrupt {
            reason: format!(
                "{} weight tensors for {} parameters",
                tensors.len(),
                low.params.len()
            ),
        });
    }
    for (param, tensor) in low.params.iter().zip(tensors) {
        if param.shape != tensor.shape {
            return Err(BytecodeError::Corrupt {
                reason: format!(
                    "weights of parameter {:?} have shape {:?}, the program declares {:?}",
                    param.name, tensor.shape, param.shape
                ),
            });
        }
    }
    Ok(())
}

/// One party's shares of every parameter, as held in its share file.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyShares {
    /// The program these shares belong to.
    pub program_hash: ProgramHash,
    /// The party holding them (0, 1 or 2).
    pub party: u8,
    /// In the order of the program's parameters.
    pub params: Vec<ParamShare>,
}

/// A party's replicated share of one parameter: party i holds components (x_i, x_{i+1}) of
/// x = x_0 + x_1 + x_2 mod 2^64, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamShare {
    pub name: String,
    pub shape: Vec<usize>,
    /// `[x_i, x_{i+1}]` for party i.
    pub components: [Vec<u64>; 2],
}

/// Body of a share file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SharesFileMsg {
    /// SHA-256 of `content`.
    #[prost(bytes = "vec", tag = "1")]
    pub content_sha256: Vec<u8>,
    /// An encoded [`SharesContentMsg`].
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SharesContentMsg {
    #[prost(bytes = "vec", tag = "1")]
    pub program_hash: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub party: u32,
    #[prost(message, repeated, tag = "3")]
    pub params: Vec<ParamShareMsg>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ParamShareMsg {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint64, repeated, tag = "2")]
    pub shape: Vec<u64>,
    /// Component x_i, packed fixed-width (share components are uniform, so varints would grow).
    #[prost(fixed64, repeated, tag = "3")]
    pub first: Vec<u64>,
    /// Component x_{i+1}.
    #[prost(fixed64, repeated, tag = "4")]
    pub second: Vec<u64>,
}

/// Encodes one party's share file.
pub fn encode_shares(shares: &PartyShares) -> Vec<u8> {
    let content = SharesContentMsg {
        program_hash: shares.program_hash.0.to_vec(),
        party: u32::from(shares.party),
        params: shares
            .params
            .iter()
            .map(|p| ParamShareMsg {
                name: p.name.clone(),
                shape: p.shape.iter().map(|&d| d as u64).collect(),
                first: p.components[0].clone(),
                second: p.components[1].clone(),
            })
            .collect(),
    }
    .encode_to_vec();
    let body = SharesFileMsg {
        content_sha256: sha256(&content).to_vec(),
        content,
    };
    frame(FileKind::Shares, &body.encode_to_vec())
}

/// Decodes a share file, checking magic, version, length, hash and that every component has
/// as many elements as its shape.
pub fn decode_shares(bytes: &[u8]) -> Result<PartyShares, BytecodeError> {
    let body = unframe(FileKind::Shares, bytes)?;
    let file = SharesFileMsg::decode(body).map_err(corrupt)?;
    check_hash("shares", &file.content_sha256, &file.content)?;
    let content = SharesContentMsg::decode(file.content.as_slice()).map_err(corrupt)?;
    let program_hash =
        ProgramHash::from_slice(&content.program_hash).ok_or_else(|| BytecodeError::Corrupt {
            reason: format!(
                "the program hash has {} bytes, not 32",
                content.program_hash.len()
            ),
        })?;
    let party = u8::try_from(content.party)
        .ok()
        .filter(|&p| p < 3)
        .ok_or_else(|| BytecodeError::Corrupt {
            reason: format!("party id {} is not 0, 1 or 2", content.party),
        })?;
    let params = content
        .params
        .into_iter()
        .map(|p| {
            let at = format!("share of parameter {:?}", p.name);
            let shape = lir_msg::dims_from_msg(&p.shape, &at)?;
            let n = lir_msg::element_count(&shape, &at)?;
            if p.first.len() != n || p.second.len() != n {
                return Err(format!(
                    "{at}: shape {shape:?} needs {n} elements per component, the file holds {} and {}",
                    p.first.len(),
                    p.second.len()
                ));
            }
            Ok(ParamShare {
                name: p.name,
                shape,
                components: [p.first, p.second],
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|reason| BytecodeError::Corrupt { reason })?;
    Ok(PartyShares {
        program_hash,
        party,
        params,
    })
}

fn frame(kind: FileKind, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX_LEN + body.len());
    out.extend_from_slice(&kind.magic());
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Checks the prefix and returns the body.
fn unframe(kind: FileKind, bytes: &[u8]) -> Result<&[u8], BytecodeError> {
    let got = bytes.len() as u64;
    let magic_len = bytes.len().min(8);
    let other = match kind {
        FileKind::Program => FileKind::Shares,
        FileKind::Shares => FileKind::Program,
    };
    if bytes[..magic_len] != kind.magic()[..magic_len] {
        if bytes.len() >= 8 && bytes[..8] == other.magic() {
            return Err(BytecodeError::WrongKind {
                expected: kind,
                found: other,
            });
        }
        return Err(BytecodeError::NotSecc { expected: kind });
    }
    if bytes.len() < 12 {
        return Err(BytecodeError::Truncated {
            needed: PREFIX_LEN as u64,
            got,
        });
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(BytecodeError::UnsupportedVersion {
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    if bytes.len() < PREFIX_LEN {
        return Err(BytecodeError::Truncated {
            needed: PREFIX_LEN as u64,
            got,
        });
    }
    let body_len = u64::from_le_bytes(bytes[12..PREFIX_LEN].try_into().expect("8 bytes"));
    let available = got - PREFIX_LEN as u64;
    if available < body_len {
        return Err(BytecodeError::Truncated {
            needed: PREFIX_LEN as u64 + body_len,
            got,
        });
    }
    if available > body_len {
        return Err(BytecodeError::Corrupt {
            reason: format!(
                "{} bytes after the end of the declared content",
                available - body_len
            ),
        });
    }
    Ok(&bytes[PREFIX_LEN..])
}

fn check_hash(section: &'static str, stored: &[u8], bytes: &[u8]) -> Result<(), BytecodeError> {
    let computed = sha256(bytes);
    if stored != computed {
        return Err(BytecodeError::HashMismatch {
            section,
            stored: hex(stored),
            computed: hex(&computed),
        });
    }
    Ok(())
}

fn corrupt(e: prost::DecodeError) -> BytecodeError {
    BytecodeError::Corrupt {
        reason: e.to_string(),
    }
}

/// A file that could not be read, written or decoded, with its path.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Format {
        path: PathBuf,
        source: BytecodeError,
    },
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and decodes a program file.
pub fn read_program(path: &Path) -> Result<Container, FileError> {
    decode(&read_bytes(path)?).map_err(|source| FileError::Format {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and decodes a share file.
pub fn read_shares(path: &Path) -> Result<PartyShares, FileError> {
    decode_shares(&read_bytes(path)?).map_err(|source| FileError::Format {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a program file (see [`write_atomically`]).
pub fn write_program(path: &Path, container: &Container) -> Result<(), FileError> {
    write_atomically(path, &encode(container))
}

/// Writes a share file (see [`write_atomically`]).
pub fn write_shares(path: &Path, shares: &PartyShares) -> Result<(), FileError> {
    write_atomically(path, &encode_shares(shares))
}

/// Writes `bytes` to a temporary file next to `path`, syncs it and renames it over `path`, so
/// that a crash or error never leaves a partial file under the final name. The temporary file
/// is created exclusively under an unpredictable name with mode 0600 (`tempfile`), and so is
/// the final file: program files carry the owner's weights and share files a party's shares, so
/// no other local user may read them (copy them on with the permissions their recipient needs).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    use std::io::Write;
    let io_err = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.file_name().is_none() {
        return Err(io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file path",
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // On failure the temporary file is removed when dropped; the original error is the one
    // worth reporting.
    let mut file = tempfile::Builder::new()
        .prefix(".secc-")
        .tempfile_in(dir)
        .map_err(io_err)?;
    file.write_all(bytes).map_err(io_err)?;
    file.as_file().sync_all().map_err(io_err)?;
    file.persist(path).map_err(|e| io_err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests;
