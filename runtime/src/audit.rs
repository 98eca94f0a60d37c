//! Test-only instrumentation of what each party sends, and the structural view checker.
//!
//! Owns: the audit context a test installs on its thread ([`Context`], [`install`]), the
//! records the runtime makes while a context is installed (every protocol message, and for
//! every segment of it the pad that masks it: which key or private seed, which stream, which
//! words, and the values and pad words as the sending code combined them), the mutation switch
//! that the security tests use to inject known leaks into the real protocol code
//! ([`Mutation`]), and the checker ([`check`]) that, for every word a party receives, asserts
//! that the receiver holds none of the keys that pad it and that the pad is fresh, full-width
//! stream output.
//!
//! Invariants: with no context installed (every normal build and run; nothing outside tests
//! installs one) the runtime records nothing and no mutation is active: each hook is one
//! thread-local read per communication step. The records are made by the code that draws and
//! applies each mask (the protocol functions, the client's input sharing) or, for the zero
//! sharings of products, by the engine from the program's product lineage; the checker
//! regenerates every recorded stream pad from the recorded seeds, so a pad drawn from another
//! key or cut to fewer bits does not match. Zero-sharing pads are declared by lineage, not
//! regenerated (the values they pad pass through local operations the audit does not follow);
//! the chi-square and per-bit tests cover their distribution.

use crate::prg::{PartySeeds, Seed, Stream};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// A deliberate leak in the real protocol code, for must-fail tests of the checkers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// The dealer draws its truncation mask r from the key it shares with opener O0 (which
    /// can then subtract it and read the secret) instead of its private seed.
    TruncMaskFromOpenerKey,
    /// The dealer's truncation mask is cut to 63 bits: the top bit of the opening then
    /// depends on the magnitude of the secret.
    TruncMask63Bits,
}

/// A key: pairwise key k_j (held by P(j-1) and Pj), party p's private seed, or the client's
/// seed for its input masks (held by no party).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyId {
    Pair(usize),
    Private(usize),
    Client,
}

impl KeyId {
    /// Whether party `party` holds this key.
    pub fn held_by(self, party: usize) -> bool {
        match self {
            KeyId::Pair(j) => party == j % 3 || party == (j + 2) % 3,
            KeyId::Private(p) => party == p,
            KeyId::Client => false,
        }
    }
}

/// How the sending code combined a secret-dependent value v with its pad p into the word sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// v + p mod 2^64.
    Add,
    /// v - p mod 2^64.
    Sub,
    /// (v - p) mod 2^width (a word of `width` meaningful bits).
    SubLow,
}

/// What pads one segment of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Pad {
    /// Consecutive words of one stream: words `offset..offset + len` of `key`'s stream
    /// `stream`, one per word of the segment, combined as `combine` with the values `values`;
    /// `pads` are the pad words the sender actually used (the checker compares them with the
    /// stream).
    Stream {
        key: KeyId,
        stream: u64,
        offset: usize,
        combine: Combine,
        values: Vec<u64>,
        pads: Vec<u64>,
    },
    /// The sender's component of an additive (Add3 / BoolAdd3) value, masked by the zero
    /// sharings of the product instructions `streams` (its lineage): party i's component
    /// carries F(k_i) - F(k_(i+1)) of each, so a receiver lacks exactly one of the two keys.
    ZeroShare { sender: usize, streams: Vec<u64> },
    /// An input the program declares public and the client allowed, sent in the clear.
    Clear,
}

/// One segment of a step's payload from `from` to `to` (`from` = 3 is the client, whose
/// "instruction" is the input's index).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub from: usize,
    pub to: usize,
    /// The communication instruction's global number (its PRG stream).
    pub instruction: u64,
    /// Offset and length, in words, within the step's payload.
    pub start: usize,
    pub len: usize,
    /// Meaningful bits of each word (64, or fewer for words reduced modulo 2^width).
    pub width: u32,
    pub pad: Pad,
}

/// The `stage` of the preprocessing round's messages.
pub const PREPROCESSING: usize = usize::MAX;

/// One message between two parties (one per peer per round), as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub from: usize,
    pub to: usize,
    /// The stage whose round carried it, or [`PREPROCESSING`].
    pub stage: usize,
    /// (instruction, start, len) of each step's payload in `words`.
    pub parts: Vec<(u64, usize, usize)>,
    pub words: Vec<u64>,
}

/// A value a party opens (learns by design): the masked opening of a truncation or a Fourier
/// opening, `width` meaningful bits per word.
#[derive(Debug, Clone, PartialEq)]
pub struct Opening {
    pub party: usize,
    pub instruction: u64,
    pub width: u32,
    pub words: Vec<u64>,
}

/// Everything recorded during one run.
#[derive(Clone, Default)]
pub struct Log {
    pub seeds: [Option<PartySeeds>; 3],
    /// The seed of the client's input masks.
    pub client_seed: Option<Seed>,
    pub messages: Vec<Message>,
    pub segments: Vec<Segment>,
    pub openings: Vec<Opening>,
}

/// An audit context: what the runtime records into, and the mutation it applies.
#[derive(Default)]
pub struct Context {
    log: Mutex<Log>,
    mutation: Option<Mutation>,
}

impl Context {
    pub fn new(mutation: Option<Mutation>) -> Arc<Self> {
        Arc::new(Context {
            log: Mutex::default(),
            mutation,
        })
    }

    /// The records so far (the context keeps recording).
    pub fn take(&self) -> Log {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Context>>> = const { RefCell::new(None) };
}

/// Installs `context` on the calling thread (a local run hands it on to its party threads);
/// `None` removes it.
pub fn install(context: Option<Arc<Context>>) {
    CURRENT.with(|c| *c.borrow_mut() = context);
}

/// The context installed on this thread, if any.
pub fn current() -> Option<Arc<Context>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Whether this thread records (a test installed a context).
pub fn enabled() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
}

/// Whether `mutation` is active on this thread.
pub fn mutation(mutation: Mutation) -> bool {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|ctx| ctx.mutation == Some(mutation))
    })
}

fn with_log(f: impl FnOnce(&mut Log)) {
    CURRENT.with(|c| {
        if let Some(ctx) = c.borrow().as_ref() {
            f(&mut ctx.lock());
        }
    });
}

pub(crate) fn record_seeds(seeds: &PartySeeds) {
    with_log(|log| log.seeds[seeds.party % 3] = Some(seeds.clone()));
}

/// Records the client's input message to each party (`messages`, by party) with the pad of
/// every word: input `index` of `n` words per component took the client stream's words
/// `offset..offset + 2n` as its components x0 and x1, and x2 = v - x0 - x1; party p receives
/// (x_p, x_(p+1)), so x2 is padded by the one of x0, x1 it does not receive.
pub(crate) fn client_input(seed: &Seed, index: u64, offset: usize, components: &[Vec<u64>; 3]) {
    with_log(|log| {
        log.client_seed = Some(*seed);
        let n = components[0].len();
        let zeros = vec![0u64; n];
        for party in 0..3 {
            for (slot, c) in [party, (party + 1) % 3].into_iter().enumerate() {
                let (values, pad, pad_offset, combine) = match c {
                    0 => (zeros.clone(), &components[0], offset, Combine::Add),
                    1 => (zeros.clone(), &components[1], offset + n, Combine::Add),
                    // P1 holds (x1, x2) and lacks x0; P2 holds (x2, x0) and lacks x1.
                    _ => {
                        let (lacked, lacked_offset) = if party == 1 {
                            (&components[0], offset)
                        } else {
                            (&components[1], offset + n)
                        };
                        let values = components[2]
                            .iter()
                            .zip(lacked)
                            .map(|(x2, l)| x2.wrapping_add(*l))
                            .collect();
                        (values, lacked, lacked_offset, Combine::Sub)
                    }
                };
                log.segments.push(Segment {
                    from: 3,
                    to: party,
                    instruction: index,
                    start: slot * n,
                    len: n,
                    width: 64,
                    pad: Pad::Stream {
                        key: KeyId::Client,
                        stream: 0,
                        offset: pad_offset,
                        combine,
                        values,
                        pads: pad.clone(),
                    },
                });
            }
        }
    });
}

/// Records that input `index` (`len` words) goes in the clear to every party.
pub(crate) fn client_clear_input(index: u64, len: usize) {
    with_log(|log| {
        for party in 0..3 {
            log.segments.push(Segment {
                from: 3,
                to: party,
                instruction: index,
                start: 0,
                len,
                width: 64,
                pad: Pad::Clear,
            });
        }
    });
}

pub(crate) fn record_message(message: Message) {
    with_log(|log| log.messages.push(message));
}

pub(crate) fn record_segment(segment: Segment) {
    with_log(|log| log.segments.push(segment));
}

pub(crate) fn record_opening(opening: Opening) {
    with_log(|log| log.openings.push(opening));
}

/// Records a segment padded by stream words (only when auditing; callers check [`enabled`]
/// first so that normal runs build nothing).
#[allow(clippy::too_many_arguments)]
pub(crate) fn stream_pad(
    from: usize,
    to: usize,
    instruction: u64,
    start: usize,
    width: u32,
    key: KeyId,
    offset: usize,
    combine: Combine,
    values: &[u64],
    pads: &[u64],
) {
    record_segment(Segment {
        from,
        to,
        instruction,
        start,
        len: values.len(),
        width,
        pad: Pad::Stream {
            key,
            stream: instruction,
            offset,
            combine,
            values: values.to_vec(),
            pads: pads.to_vec(),
        },
    });
}

/// What the checker found: words checked per receiving party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Words received (protocol messages and the client's input message).
    pub words: [u64; 3],
    /// Of which: inputs sent in the clear (declared public and allowed by the client).
    pub clear_words: [u64; 3],
    pub stream_words: [u64; 3],
    pub zero_share_words: [u64; 3],
}

fn width_mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// Per-receiver state of the check: every stream word and every (key, product stream) that
/// padded something this receiver got.
#[derive(Default)]
struct Seen {
    words: HashSet<(KeyId, u64, usize)>,
    zero: BTreeMap<(KeyId, u64), u64>,
}

/// The structural view check over one run's records. For every word each party received in a
/// protocol message: exactly one recorded segment covers it; its pad is a key the receiver
/// does not hold (for a product component, the receiver lacks one of the sender's two keys);
/// no pad (key, stream, word) reaches one receiver twice, nor one product's zero sharing under
/// one key; a stream pad is exactly the stream's words at full width (64 bits, or the word's
/// `width` for words reduced modulo 2^width), and the word sent is the recorded value combined
/// with it. Returns every violation (one line per step, the first ten), each naming receiver,
/// sender and instruction.
pub fn check(log: &Log) -> Result<Summary, String> {
    let seeds: Vec<&PartySeeds> = log
        .seeds
        .iter()
        .enumerate()
        .map(|(p, s)| s.as_ref().ok_or(format!("no seeds recorded for P{p}")))
        .collect::<Result<_, _>>()?;
    for j in 0..3 {
        if seeds[j].own_key != seeds[(j + 2) % 3].next_key {
            return Err(format!("P{j} and P{} disagree on key k{j}", (j + 2) % 3));
        }
    }
    let mut by_step: HashMap<(usize, usize, u64), Vec<&Segment>> = HashMap::new();
    for segment in &log.segments {
        by_step
            .entry((segment.from, segment.to, segment.instruction))
            .or_default()
            .push(segment);
    }
    let mut summary = Summary::default();
    let mut seen: Vec<Seen> = (0..3).map(|_| Seen::default()).collect();
    let mut errors = Vec::new();
    // A step's payload from one sender to one receiver may span two messages (its seed-only
    // words in the preprocessing round, the rest in its stage's round): join its parts in the
    // order they were sent, then check each step's whole payload once.
    let mut payloads: BTreeMap<(usize, usize, u64), Vec<u64>> = BTreeMap::new();
    let round = |stage: usize| {
        if stage == PREPROCESSING {
            "the preprocessing round".to_string()
        } else {
            format!("stage {stage}")
        }
    };
    for message in &log.messages {
        let (from, to) = (message.from, message.to);
        let mut next = 0;
        for &(instruction, start, len) in &message.parts {
            if start != next {
                errors.push(format!(
                    "P{from} -> P{to}, {}: gap in the message",
                    round(message.stage)
                ));
            }
            next = start + len;
            let Some(wire) = message.words.get(start..start + len) else {
                errors.push(format!(
                    "P{to} receiving from P{from}, instruction {instruction}: the message is \
                     shorter than its parts"
                ));
                continue;
            };
            payloads
                .entry((from, to, instruction))
                .or_default()
                .extend_from_slice(wire);
            summary.words[to] += len as u64;
        }
        if next != message.words.len() {
            errors.push(format!(
                "P{from} -> P{to}, {}: words after the last step",
                round(message.stage)
            ));
        }
    }
    let steps = payloads.len();
    for ((from, to, instruction), wire) in &payloads {
        let mut segments = by_step
            .remove(&(*from, *to, *instruction))
            .unwrap_or_default();
        segments.sort_by_key(|s| s.start);
        let result = check_step(
            &seeds,
            log.client_seed.as_ref(),
            wire,
            &segments,
            &mut seen[*to],
            &mut summary,
        );
        if let Err(what) = result {
            errors.push(format!(
                "P{to} receiving from P{from}, instruction {instruction}: {what}"
            ));
        }
    }
    for (from, to, instruction) in by_step.keys() {
        errors.push(format!(
            "a pad recorded for P{from} -> P{to}, instruction {instruction}, but no such message"
        ));
    }
    if steps == 0 {
        errors.push("no protocol message was recorded".into());
    }
    if errors.is_empty() {
        Ok(summary)
    } else {
        let total = errors.len();
        errors.truncate(10);
        if total > 10 {
            errors.push(format!("... {} more", total - 10));
        }
        Err(errors.join("\n"))
    }
}

/// One step's payload from one sender to one receiver (`wire`) against its recorded segments.
fn check_step(
    seeds: &[&PartySeeds],
    client_seed: Option<&Seed>,
    wire: &[u64],
    segments: &[&Segment],
    seen: &mut Seen,
    summary: &mut Summary,
) -> Result<(), String> {
    let seed_of = |key: KeyId| -> Result<&Seed, String> {
        match key {
            KeyId::Pair(j) => Ok(&seeds[j % 3].own_key),
            KeyId::Private(p) => Ok(&seeds[p % 3].private),
            KeyId::Client => client_seed.ok_or_else(|| "no client seed recorded".to_string()),
        }
    };
    let mut covered = 0;
    for segment in segments {
        let (from, to) = (segment.from, segment.to);
        if segment.start != covered {
            return Err(format!(
                "words {covered}..{} carry no recorded pad",
                segment.start.max(covered)
            ));
        }
        covered = segment.start + segment.len;
        let words = wire
            .get(segment.start..covered)
            .ok_or("a recorded segment lies outside the step's payload")?;
        match &segment.pad {
            Pad::Stream {
                key,
                stream,
                offset,
                combine,
                values,
                pads,
            } => {
                if key.held_by(to) {
                    return Err(format!(
                        "words {}..{covered} are padded by {key:?}, which the receiver holds",
                        segment.start
                    ));
                }
                let full = match combine {
                    Combine::SubLow => segment.width,
                    Combine::Add | Combine::Sub => 64,
                };
                if segment.width != full || !(1..=64).contains(&segment.width) {
                    return Err(format!("a {}-bit pad on {full}-bit words", segment.width));
                }
                if values.len() != segment.len || pads.len() != segment.len {
                    return Err("a segment records the wrong number of words".into());
                }
                let mask = width_mask(segment.width);
                let mut stream_words = Stream::new(seed_of(*key)?, *stream);
                stream_words.words(*offset);
                let expected = stream_words.words(segment.len);
                for k in 0..segment.len {
                    if pads[k] != expected[k] & mask {
                        return Err(format!(
                            "word {}: the pad {:#018x} is not word {} of {key:?}'s stream \
                             {stream} at {} bits ({:#018x}): cut, biased or drawn from \
                             another key",
                            segment.start + k,
                            pads[k],
                            offset + k,
                            segment.width,
                            expected[k] & mask
                        ));
                    }
                    let sent = match combine {
                        Combine::Add => values[k].wrapping_add(pads[k]),
                        Combine::Sub => values[k].wrapping_sub(pads[k]),
                        Combine::SubLow => values[k].wrapping_sub(pads[k]) & mask,
                    };
                    if words[k] != sent {
                        return Err(format!(
                            "word {} on the wire is not the recorded value combined with its \
                             pad",
                            segment.start + k
                        ));
                    }
                    if !seen.words.insert((*key, *stream, offset + k)) {
                        return Err(format!(
                            "word {} of {key:?}'s stream {stream} pads a second word received \
                             by P{to}",
                            offset + k
                        ));
                    }
                }
                summary.stream_words[to] += segment.len as u64;
            }
            Pad::ZeroShare { sender, streams } => {
                if *sender != from {
                    return Err("a product component recorded for another sender".into());
                }
                let lacked = [KeyId::Pair(from), KeyId::Pair((from + 1) % 3)]
                    .into_iter()
                    .find(|k| !k.held_by(to))
                    .ok_or("the receiver holds both keys of the sender's zero sharing")?;
                if streams.is_empty() {
                    return Err("a product component with no zero sharing".into());
                }
                for &s in streams {
                    if let Some(first) = seen.zero.insert((lacked, s), segment.instruction) {
                        return Err(format!(
                            "the zero sharing of product instruction {s} under {lacked:?} \
                             already padded what P{to} received at instruction {first}: the \
                             two components sum without that pad"
                        ));
                    }
                }
                summary.zero_share_words[to] += segment.len as u64;
            }
            Pad::Clear => {
                if from != 3 {
                    return Err("a party sent words in the clear".into());
                }
                summary.clear_words[to] += segment.len as u64;
            }
        }
    }
    if covered != wire.len() {
        return Err(format!(
            "words {covered}..{} carry no recorded pad",
            wire.len()
        ));
    }
    Ok(())
}
