//! The protocols, one file each: the local part of products ([`mul`]), re-sharing of additive
//! products ([`reshare`]), truncation with a rotating dealer ([`trunc`]), boolean-share operations
//! ([`boolean`]), and the reference compositions codegen builds from LIR instructions
//! (comparison/MSB, B2A, ReLU, select: [`compose`]).
//!
//! Conventions: a party's replicated share is `(first, second)` = its components (i, i+1). A
//! communication step is split into a *start* that computes what this party sends to each peer
//! ([`Outgoing`], indexed by destination) and a *finish* that consumes what it received
//! (indexed by source). Payloads are flat row-major ring elements laid out exactly as
//! `LowProgram::step_elements` describes. No function here takes another party's share or a
//! plaintext secret: every argument is something the calling party legitimately holds.

pub mod boolean;
pub mod compose;
pub mod fourier;
pub mod mul;
pub mod reshare;
pub mod trunc;

/// Ring elements this party sends to each party (by destination; its own slot stays empty).
pub type Outgoing = [Vec<u64>; 3];

/// Ring elements this party received from each party for one step (by source).
pub type Incoming<'a> = [&'a [u64]; 3];

/// The party before `party` in the ring order (P(i-1)).
pub fn prev(party: usize) -> usize {
    (party + 2) % 3
}

/// The party after `party` (P(i+1)).
pub fn next(party: usize) -> usize {
    (party + 1) % 3
}

/// The parties' roles in a dealer step (truncation, Fourier opening) with dealer `dealer`: the
/// protocols are written for roles 0, 1 (the openers) and 2 (the dealer), and party p plays role
/// (p - dealer - 1) mod 3 ([`secc_ir::lir::dealer_role`]). The relabelling is a rotation, so
/// the component structure (party i holds components i, i+1) and the key structure (key k_j
/// held by P(j-1) and Pj) read the same in roles: a party's `(first, second)` are its role's
/// components, and the protocol's key k_rho is key k_(party(rho)).
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    dealer: u8,
}

impl Roles {
    /// The roles for `dealer`, which must name a party.
    pub fn new(dealer: u8) -> Result<Self, String> {
        if dealer > 2 {
            return Err(format!(
                "dealer P{dealer} does not exist (parties are 0, 1, 2)"
            ));
        }
        Ok(Roles { dealer })
    }

    /// The role `party` plays.
    pub fn role(self, party: usize) -> usize {
        secc_ir::lir::dealer_role(party, self.dealer)
    }

    /// The party that plays `role`.
    pub fn party(self, role: usize) -> usize {
        secc_ir::lir::role_party(role, self.dealer)
    }

    /// The protocol's key k_`rho` as this party holds it (an internal error if it does not).
    pub fn key(
        self,
        seeds: &crate::prg::PartySeeds,
        rho: usize,
    ) -> Result<&crate::prg::Seed, String> {
        seeds
            .require_key(self.party(rho))
            .map_err(|e| e.to_string())
    }
}
