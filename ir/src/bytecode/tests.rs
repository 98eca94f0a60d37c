use super::*;
use crate::lir::*;
use crate::op::{InputRole, Op};
use crate::tensor::Tensor;
use crate::types::Encoding;

/// An IR program with a constant whose values stress float round-tripping through RON.
fn sample_ir() -> Program {
    let mut p = Program::new("sample", 16);
    let x = p.add_input("x", InputRole::Client, vec![2, 3], Encoding::Fixed);
    let w = p.add_param("w", vec![2, 3]);
    let c = p
        .push(
            Op::Const {
                value: Tensor::new(vec![3], Encoding::Fixed, vec![0.1, -1e-300, f64::MAX]),
            },
            vec![],
            "c",
        )
        .unwrap();
    let s = p.push(Op::Add, vec![x, w], "add").unwrap();
    let t = p.push(Op::Add, vec![s, c], "add2").unwrap();
    p.add_output("y", t);
    p
}

/// A low-level program using every instruction variant once (kinds need not type-check: the
/// format only promises that indices are in range).
fn sample_low() -> LowProgram {
    let r = Reg;
    let local = vec![
        LocalInstr::LoadInput {
            dst: r(0),
            input: 0,
        },
        LocalInstr::LoadParam {
            dst: r(1),
            param: 0,
        },
        LocalInstr::LoadConst {
            dst: r(2),
            index: 0,
        },
        LocalInstr::PublicOp {
            dst: r(3),
            op: Op::Clip {
                min: Some(-0.5),
                max: None,
            },
            args: vec![r(2)],
        },
        LocalInstr::Encode {
            dst: r(4),
            src: r(3),
            frac_bits: 16,
        },
        LocalInstr::Add {
            dst: r(5),
            a: r(0),
            b: r(1),
        },
        LocalInstr::Sub {
            dst: r(5),
            a: r(0),
            b: r(1),
        },
        LocalInstr::Neg { dst: r(5), a: r(0) },
        LocalInstr::MulPublic {
            dst: r(5),
            a: r(0),
            b: r(4),
        },
        LocalInstr::MatMulPublic {
            dst: r(5),
            a: r(0),
            b: r(4),
        },
        LocalInstr::MulInt {
            dst: r(5),
            a: r(0),
            k: -7,
        },
        LocalInstr::MulShares {
            dst: r(6),
            a: r(0),
            b: r(1),
        },
        LocalInstr::MatMulShares {
            dst: r(6),
            a: r(0),
            b: r(1),
        },
        LocalInstr::Struct {
            dst: r(5),
            src: r(0),
            op: StructOp::Reshape { shape: vec![3, 2] },
        },
        LocalInstr::Struct {
            dst: r(5),
            src: r(0),
            op: StructOp::Transpose { perm: vec![1, 0] },
        },
        LocalInstr::Struct {
            dst: r(5),
            src: r(0),
            op: StructOp::Slice {
                axis: 1,
                start: 0,
                end: 2,
            },
        },
        LocalInstr::Struct {
            dst: r(5),
            src: r(0),
            op: StructOp::Broadcast {
                shape: vec![4, 2, 3],
            },
        },
        LocalInstr::Struct {
            dst: r(5),
            src: r(0),
            op: StructOp::Gather {
                axis: 0,
                indices: vec![1, 0, 1],
                indices_shape: vec![3],
            },
        },
        LocalInstr::Concat {
            dst: r(5),
            srcs: vec![r(0), r(1)],
            axis: 1,
        },
        LocalInstr::ReduceSum {
            dst: r(5),
            src: r(0),
            axes: vec![1],
            keep_dims: true,
        },
        LocalInstr::ComponentToBool {
            dst: r(7),
            src: r(0),
            component: 2,
        },
        LocalInstr::BoolXor {
            dst: r(7),
            a: r(7),
            b: r(7),
        },
        LocalInstr::BoolXorPublic {
            dst: r(7),
            a: r(7),
            word: u64::MAX,
        },
        LocalInstr::BoolAndLocal {
            dst: r(7),
            a: r(7),
            b: r(7),
        },
        LocalInstr::BoolShl {
            dst: r(7),
            a: r(7),
            bits: 3,
        },
        LocalInstr::BoolBit {
            dst: r(7),
            a: r(7),
            bit: 63,
        },
        LocalInstr::BitComponentToArith {
            dst: r(5),
            src: r(7),
            component: 1,
        },
        LocalInstr::Rescale {
            dst: r(6),
            src: r(5),
        },
        LocalInstr::BoolExtract {
            dst: r(7),
            a: r(7),
            mask: 0xaaaa_aaaa_aaaa_aaaa,
        },
    ];
    let comm = vec![
        CommInstr::Reshare {
            dst: r(5),
            src: r(6),
        },
        CommInstr::ReshareBool {
            dst: r(7),
            src: r(7),
        },
        CommInstr::ReshareBoolPacked {
            dst: r(7),
            src: r(7),
            width: 31,
        },
        CommInstr::TruncOpen {
            dst: r(8),
            src: r(6),
            shift: 16,
            dealer: 1,
        },
        CommInstr::TruncFinish {
            dst: r(5),
            src: r(8),
            dealer: 1,
        },
        CommInstr::FourierOpen {
            dst: r(8),
            src: r(5),
            period_bits: 4,
            coefficients: vec![1.25, -0.03, f64::MIN_POSITIVE],
            dealer: 2,
        },
        CommInstr::TruncOpen {
            dst: r(8),
            src: r(5),
            shift: 3,
            dealer: 0,
        },
    ];
    let decl = |kind, shape: Vec<usize>| RegDecl {
        kind,
        shape,
        frac_bits: 16,
    };
    LowProgram {
        frac_bits: 16,
        regs: vec![
            decl(RegKind::Rss, vec![2, 3]),
            decl(RegKind::Rss, vec![2, 3]),
            decl(RegKind::Public, vec![3]),
            decl(RegKind::Public, vec![3]),
            decl(RegKind::Ring, vec![3]),
            decl(RegKind::Rss, vec![2, 3]),
            decl(RegKind::Add3, vec![2, 3]),
            decl(RegKind::BoolRss, vec![2, 3]),
            decl(RegKind::Pending, vec![2, 3]),
        ],
        consts: vec![Tensor::new(vec![3], Encoding::Int, vec![1.0, -2.0, 3.5])],
        inputs: vec![
            LowInput {
                name: "x".into(),
                shape: vec![2, 3],
                form: InputForm::Secret { frac_bits: 16 },
            },
            LowInput {
                name: "mask".into(),
                shape: vec![2],
                form: InputForm::Public,
            },
            LowInput {
                name: "ids".into(),
                shape: vec![2],
                form: InputForm::OneHot { vocab: 1000 },
            },
        ],
        params: vec![LowParam {
            name: "w".into(),
            shape: vec![2, 3],
            frac_bits: 16,
        }],
        outputs: vec![LowOutput {
            name: "y".into(),
            reg: r(5),
            frac_bits: 16,
        }],
        stages: vec![
            Stage {
                local,
                comm,
                comm_sources: vec![
                    "mul @ layer0/MatMul".into(),
                    "relu @ layer0".into(),
                    "mul @ layer0/MatMul".into(),
                    "mul @ layer0/MatMul".into(),
                    "sec_gelu @ layer0/Gelu".into(),
                ],
            },
            Stage::default(),
        ],
    }
}

fn sample(weights: bool) -> Container {
    Container {
        program: sample_ir(),
        low: sample_low(),
        weights: weights.then(|| Weights {
            tensors: vec![Tensor::new(
                vec![2, 3],
                Encoding::Fixed,
                vec![0.5, -0.25, 1e-9, 3.0, -4.0, f64::MIN_POSITIVE],
            )],
        }),
    }
}

fn sample_shares() -> PartyShares {
    PartyShares {
        program_hash: sample(false).program_hash(),
        party: 2,
        params: vec![ParamShare {
            name: "w".into(),
            shape: vec![2, 3],
            components: [vec![1, 2, 3, 4, 5, u64::MAX], vec![0, 9, 8, 7, 6, 1 << 63]],
        }],
    }
}

#[test]
fn program_round_trips_with_and_without_weights() {
    for weights in [false, true] {
        let c = sample(weights);
        let bytes = encode(&c);
        let back = decode(&bytes).unwrap();
        assert_eq!(back, c);
        // Deterministic: re-encoding the decoded container gives the same bytes, so hashes
        // computed by different holders of the same file agree.
        assert_eq!(encode(&back), bytes);
        assert_eq!(back.program_hash(), c.program_hash());
    }
}

#[test]
fn program_hash_ignores_weights_but_not_the_program() {
    assert_eq!(sample(true).program_hash(), sample(false).program_hash());
    let mut other = sample(false);
    other.low.stages[0].comm_sources[1] = "relu @ layer1".into();
    assert_ne!(other.program_hash(), sample(false).program_hash());
    assert_eq!(sample(true).without_weights(), sample(false));
}

#[test]
fn shares_round_trip() {
    let s = sample_shares();
    let bytes = encode_shares(&s);
    assert_eq!(decode_shares(&bytes).unwrap(), s);
}

#[test]
fn foreign_bytes_are_not_a_secc_file() {
    for junk in [&b""[..], b"PK\x03\x04 zip file", b"{\"json\": 1}", b"S"] {
        let e = decode(junk).unwrap_err();
        // An empty file or a prefix of the magic is truncated, anything else foreign.
        if b"SECC\0PRG".starts_with(junk) {
            assert!(matches!(
                e,
                BytecodeError::NotSecc { .. } | BytecodeError::Truncated { .. }
            ));
        } else {
            assert_eq!(
                e,
                BytecodeError::NotSecc {
                    expected: FileKind::Program
                }
            );
            assert!(e.to_string().contains("not a secc program file"), "{e}");
        }
    }
    assert!(matches!(
        decode_shares(b"hello world, this is text").unwrap_err(),
        BytecodeError::NotSecc { .. }
    ));
}

#[test]
fn a_share_file_is_not_a_program_and_vice_versa() {
    let e = decode(&encode_shares(&sample_shares())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "this is a secc share file, not a secc program file"
    );
    let e = decode_shares(&encode(&sample(false))).unwrap_err();
    assert!(matches!(e, BytecodeError::WrongKind { .. }), "{e}");
}

#[test]
fn version_mismatch_names_both_versions() {
    // 7: a future version; 1: the version before dealer steps named their dealer, whose
    // programs this build must not read (the missing field would decode as dealer P0).
    for found in [7u32, 1] {
        for bytes in [encode(&sample(false)), encode_shares(&sample_shares())] {
            let mut bytes = bytes;
            bytes[8..12].copy_from_slice(&found.to_le_bytes());
            let e = match decode(&bytes) {
                Err(BytecodeError::WrongKind { .. }) => decode_shares(&bytes).unwrap_err(),
                other => other.unwrap_err(),
            };
            assert_eq!(
                e,
                BytecodeError::UnsupportedVersion {
                    found,
                    expected: FORMAT_VERSION
                }
            );
            let text = e.to_string();
            assert!(
                text.contains(&format!("version {found}"))
                    && text.contains(&format!("version {FORMAT_VERSION}")),
                "{text}"
            );
        }
    }
}

#[test]
fn every_truncation_is_reported_as_truncated() {
    let bytes = encode(&sample(true));
    for len in 0..bytes.len() {
        let e = decode(&bytes[..len]).unwrap_err();
        assert!(
            matches!(e, BytecodeError::Truncated { got, .. } if got == len as u64)
                || (len == 0 && matches!(e, BytecodeError::Truncated { .. })),
            "length {len}: {e}"
        );
    }
    let shares = encode_shares(&sample_shares());
    let e = decode_shares(&shares[..shares.len() - 1]).unwrap_err();
    assert!(matches!(e, BytecodeError::Truncated { .. }), "{e}");
}

#[test]
fn trailing_bytes_are_corrupt() {
    let mut bytes = encode(&sample(false));
    bytes.push(0);
    assert!(matches!(decode(&bytes), Err(BytecodeError::Corrupt { .. })));
}

#[test]
fn every_flipped_byte_is_detected() {
    for bytes in [encode(&sample(true)), encode_shares(&sample_shares())] {
        let is_program = bytes[..8] == PROGRAM_MAGIC;
        for i in 0..bytes.len() {
            for mask in [0x01u8, 0x80] {
                let mut bad = bytes.clone();
                bad[i] ^= mask;
                let failed = if is_program {
                    decode(&bad).is_err()
                } else {
                    decode_shares(&bad).is_err()
                };
                assert!(failed, "flipping bit {mask:#x} of byte {i} went unnoticed");
            }
        }
    }
}

#[test]
fn a_changed_section_byte_is_a_hash_mismatch() {
    let bytes = encode(&sample(false));
    // The last byte lies inside the program section (weights are absent), in the middle of a
    // string or number, so the prost structure survives and only the hash can tell.
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let e = decode(&bad).unwrap_err();
    assert!(
        matches!(
            e,
            BytecodeError::HashMismatch {
                section: "program",
                ..
            }
        ) || matches!(e, BytecodeError::Corrupt { .. }),
        "{e}"
    );
    // Rewriting a label byte keeps the structure valid for certain.
    let pos = bytes
        .windows(7)
        .position(|w| w == b"layer0/")
        .expect("label present");
    let mut bad = bytes.clone();
    bad[pos + 5] = b'9';
    let e = decode(&bad).unwrap_err();
    assert!(
        matches!(
            e,
            BytecodeError::HashMismatch {
                section: "program",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("SHA-256"), "{e}");
}

/// A body whose hashes are right but whose content is inconsistent (a file written by a buggy
/// or hostile encoder) is still refused rather than handed to the interpreter.
#[test]
fn out_of_range_indices_are_refused_even_with_valid_hashes() {
    let mut low = sample_low();
    low.outputs[0].reg = Reg(99);
    let c = Container {
        program: sample_ir(),
        low,
        weights: None,
    };
    let e = decode(&encode(&c)).unwrap_err();
    assert!(e.to_string().contains("register r99 does not exist"), "{e}");

    let mut low = sample_low();
    low.stages[0].local[1] = LocalInstr::LoadParam {
        dst: Reg(1),
        param: 5,
    };
    let c = Container {
        program: sample_ir(),
        low,
        weights: None,
    };
    let e = decode(&encode(&c)).unwrap_err();
    assert!(e.to_string().contains("parameter 5 does not exist"), "{e}");

    let mut low = sample_low();
    let CommInstr::TruncFinish { dealer, .. } = &mut low.stages[0].comm[4] else {
        panic!("the sample's fifth step is a TruncFinish");
    };
    *dealer = 3;
    let c = Container {
        program: sample_ir(),
        low,
        weights: None,
    };
    let e = decode(&encode(&c)).unwrap_err();
    assert!(e.to_string().contains("dealer P3 does not exist"), "{e}");

    let mut c = sample(true);
    c.weights.as_mut().unwrap().tensors[0].shape = vec![3, 2];
    let e = decode(&encode(&c)).unwrap_err();
    assert!(e.to_string().contains("have shape [3, 2]"), "{e}");

    let mut s = sample_shares();
    s.params[0].components[1].pop();
    let e = decode_shares(&encode_shares(&s)).unwrap_err();
    assert!(
        e.to_string().contains("needs 6 elements per component"),
        "{e}"
    );
}

#[test]
fn files_are_written_atomically_and_errors_name_the_path() {
    let dir = std::env::temp_dir().join(format!("secc-bytecode-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.secc");
    write_program(&path, &sample(false)).unwrap();
    assert_eq!(read_program(&path).unwrap(), sample(false));
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("model.secc")],
        "no temporary left"
    );
    // Weights and shares: readable by the owner only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    std::fs::write(&path, b"garbage").unwrap();
    let e = read_program(&path).unwrap_err().to_string();
    assert!(
        e.contains("model.secc") && e.contains("not a secc program file"),
        "{e}"
    );
    let e = read_shares(&dir.join("missing.shares"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.shares"), "{e}");
    let e = write_program(&dir.join("no-such-dir/x.secc"), &sample(false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.secc"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
