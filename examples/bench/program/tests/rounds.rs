//! The round-structure analysis on a hand-built program whose dependencies are known:
//! round 2 does not use round 1's result, round 3 uses round 2's, so 3 rounds have a critical
//! path of 2 and one round is independent of the round before it.

use secc_ir::lir::{CommInstr, LocalInstr, LowProgram, Reg, RegDecl, RegKind, Stage};
use secc_netbench::rounds::analyse;

fn reshare_stage(local: Vec<LocalInstr>, src: u32, dst: u32, op: &str) -> Stage {
    Stage {
        local,
        comm: vec![CommInstr::Reshare {
            dst: Reg(dst),
            src: Reg(src),
        }],
        comm_sources: vec![format!("{op} @ /node")],
    }
}

fn mul(dst: u32, a: u32, b: u32) -> LocalInstr {
    LocalInstr::MulShares {
        dst: Reg(dst),
        a: Reg(a),
        b: Reg(b),
    }
}

#[test]
fn critical_path_and_independent_rounds_follow_the_dependencies() {
    let decl = RegDecl {
        kind: RegKind::Rss,
        shape: vec![2],
        frac_bits: 0,
    };
    let load = LocalInstr::LoadInput {
        dst: Reg(0),
        input: 0,
    };
    let low = LowProgram {
        regs: vec![decl; 7],
        stages: vec![
            reshare_stage(vec![load, mul(1, 0, 0)], 1, 2, "MatMul"),
            // Reads only the input: could have gone in round 1.
            reshare_stage(vec![mul(3, 0, 0)], 3, 4, "Mul"),
            // Reads round 2's result.
            reshare_stage(vec![mul(5, 4, 2)], 5, 6, "Mul"),
            // Local work only: not a round.
            Stage::default(),
        ],
        ..LowProgram::default()
    };
    let r = analyse(&low);
    assert_eq!(r.rounds, 3);
    assert_eq!(r.critical_rounds, 2);
    assert_eq!(r.independent_of_previous, 1);
    assert_eq!(r.independent_pairs.get("MatMul | Mul"), Some(&1));
    assert_eq!(r.rounds_by_op.get("Mul"), Some(&2));
    assert_eq!(r.rounds_by_op.get("MatMul"), Some(&1));
    assert_eq!(r.rounds_by_step.get("Reshare"), Some(&3));
    // Each reshare of a 2-element register: every party sends its 2 words (16 bytes).
    assert_eq!(r.round_bytes, vec![[16, 16, 16]; 3]);
    assert_eq!(r.max_party_bytes_per_round_sum(), 48);
}
