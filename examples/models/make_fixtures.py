#!/usr/bin/env python3
"""Generate the ONNX test fixtures, inputs and onnxruntime reference outputs in examples/models/.

Exact command (from the repository root):

    HF_HUB_OFFLINE=1 /work/pyenv/bin/python examples/models/make_fixtures.py \
        --optimum-python /work/optenv/bin/python

--optimum-python is optional: it names an interpreter that can `import optimum.exporters.onnx`
and is used only for minilm_optimum_opset17.onnx. optimum-onnx 0.1.0 pins transformers<5, so it
lives in a separate venv layered over /work/pyenv (its own transformers 4.57.6 shadows 5.23.0):

    /root/.pyenv/versions/3.11.7/bin/python3 -m venv /work/optenv
    echo /work/pyenv/lib/python3.11/site-packages > /work/optenv/lib/python3.11/site-packages/zz_pyenv.pth
    /work/optenv/bin/pip install optimum-onnx==0.1.0   # -> optimum 2.1.0, transformers 4.57.6

`--only issue8` regenerates only the issue-8 fixtures (bert_default, roberta, st_passthrough),
their inputs and expected outputs, leaving every other file as it is.

Without the flag an existing minilm_optimum_opset17.onnx is left untouched (its expected outputs
are still regenerated).

Package versions used to produce the committed files:

    python 3.11, torch 2.15.0, transformers 5.23.0, onnx 1.23.2, onnxruntime 1.31.1,
    onnxscript 0.7.2, onnx-ir 1.1.0, numpy 2.4.6, sentence-transformers 6.2.0

Nothing is downloaded: every model is built from a config with random weights. The script is
deterministic (fixed seeds, single-threaded onnxruntime); re-running it with the same package
versions reproduces byte-identical files (it prints a sha256 per file).

Weights: HF initialises Linear/Embedding weights ~ N(0, initializer_range) but every bias to 0 and
every LayerNorm to gamma=1, beta=0. A fixture with all-zero biases cannot catch bias bugs (and the
TorchScript exporter then deduplicates the identical initializers into Identity nodes), so after
the seeded init we perturb, with a separate seeded generator, every bias by N(0, 0.05) and every
LayerNorm weight to 1 + N(0, 0.1). initializer_range=0.1 (HF default 0.02) so attention
probabilities are visibly non-uniform and GELU is exercised outside its linear region.

Files written (all under examples/models/):
  bert_opset14.onnx / bert_opset17.onnx         BertModel, TorchScript exporter (dynamo=False)
  bert_cls_opset14.onnx / bert_cls_opset17.onnx BertForSequenceClassification (3 labels), no token_type_ids input
  mlp.onnx                                      Gemm/Relu classifier, opset 14
  minilm_tp_opset17.onnx                        "third-party style" sentence-embedding model, dynamo exporter
  minilm_optimum_opset17.onnx                   same weights as minilm_tp, exported by optimum (feature-extraction)
  bert_default_opset17.onnx                     BertModel exactly as transformers initialises it (LayerNorm
                                                gamma 1, beta 0, zero biases: the exporter folds the identical
                                                initializers into Identity nodes), TorchScript exporter
  roberta_opset17.onnx                          RobertaModel (position ids from a CumSum over input_ids),
                                                TorchScript exporter
  st_passthrough_opset17.onnx                   small BERT + sentence-transformers' own Pooling(mean) module
                                                with its features dict as outputs: input_ids and attention_mask
                                                pass through, token_embeddings, sentence_embedding
  inputs/*.json                                 {input_name: nested list}
  expected/<model>__<input>.json                {"outputs": [{"name", "shape", "data"}]} from onnxruntime
Inputs a model has but an input file lacks (token_type_ids) are fed as int64 zeros of the
input_ids shape; inputs a file has but the model lacks are never paired (see PAIRS).
"""

import argparse
import collections
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import onnx
import onnxruntime as ort
import torch
from transformers import (BertConfig, BertForSequenceClassification, BertModel, RobertaConfig,
                          RobertaModel)

warnings.filterwarnings("ignore")
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "inputs"
EXPECTED = HERE / "expected"

BERT_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


# --------------------------------------------------------------------------- models

def bert_config(**kw):
    base = dict(
        vocab_size=1000,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
        max_position_embeddings=64,
        type_vocab_size=2,
        hidden_act="gelu",
        initializer_range=0.1,
        attn_implementation="eager",
    )
    base.update(kw)
    return BertConfig(**base)


def perturb_affine(model, seed):
    """Give biases and LayerNorm gammas non-trivial values (see module docstring)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
            elif "LayerNorm.weight" in name:
                p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.1)
    return model


class BertWrap(torch.nn.Module):
    """Positional forward(input_ids, attention_mask, token_type_ids) -> (last_hidden_state, pooler_output)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        o = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return o.last_hidden_state, o.pooler_output


class ClsWrap(torch.nn.Module):
    """forward(input_ids, attention_mask) -> logits; token_type_ids default to the model's zero buffer."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m(input_ids=input_ids, attention_mask=attention_mask).logits


class SentenceEmbedding(torch.nn.Module):
    """What sentence-transformers' Transformer + Pooling(mean) modules compute (no Normalize)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        h = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).expand(h.size()).to(h.dtype)
        emb = torch.sum(h * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
        # integer pass-through output, as some third-party exports have
        return h, emb, attention_mask


class PassThrough(torch.nn.Module):
    """A sentence-transformers pipeline (BERT, then sentence_transformers.models.Pooling) returning
    its features dict the way sentence-transformers' ONNX exports do: the inputs pass through."""

    def __init__(self, m):
        super().__init__()
        from sentence_transformers.models import Pooling

        self.m = m
        self.pool = Pooling(m.config.hidden_size, pooling_mode="mean")

    def forward(self, input_ids, attention_mask, token_type_ids):
        h = self.m(input_ids=input_ids, attention_mask=attention_mask,
                   token_type_ids=token_type_ids).last_hidden_state
        f = self.pool({"input_ids": input_ids, "attention_mask": attention_mask,
                       "token_embeddings": h})
        return f["input_ids"], f["attention_mask"], f["token_embeddings"], f["sentence_embedding"]


def roberta_config():
    return RobertaConfig(
        vocab_size=1000,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
        max_position_embeddings=66,  # 64 positions after the padding offset of 2
        type_vocab_size=1,
        pad_token_id=1,
        hidden_act="gelu",
        initializer_range=0.1,
        attn_implementation="eager",
    )


class RobertaWrap(torch.nn.Module):
    """forward(input_ids, attention_mask) -> (last_hidden_state, pooler_output)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        o = self.m(input_ids=input_ids, attention_mask=attention_mask)
        return o.last_hidden_state, o.pooler_output


def make_mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(16, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 4),
    ).eval()


# --------------------------------------------------------------------------- export helpers

def dummy_bert(batch=2, seq=8):
    g = torch.Generator().manual_seed(123)
    ids = torch.randint(1, 1000, (batch, seq), generator=g)
    am = torch.ones(batch, seq, dtype=torch.long)
    am[1, seq - 3:] = 0
    tt = torch.zeros(batch, seq, dtype=torch.long)
    return ids, am, tt


def export_ts(module, args, path, input_names, output_names, dynamic_axes, opset):
    torch.onnx.export(
        module, args, str(path),
        input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
        opset_version=opset, dynamo=False, do_constant_folding=True,
    )


def export_dynamo(module, args, path, input_names, output_names, dynamic_shapes, opset):
    torch.onnx.export(
        module, args, str(path),
        input_names=input_names, output_names=output_names, dynamic_shapes=dynamic_shapes,
        opset_version=opset, dynamo=True, external_data=False, optimize=True, verbose=False,
    )


def check(path, must_have=(), must_not_have=()):
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    for op in must_have:
        assert ops[op] > 0, f"{path.name}: expected {op} node"
    for op in must_not_have:
        assert ops[op] == 0, f"{path.name}: unexpected {op} node"
    return m, ops


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def feeds_for(sess, inp):
    feeds = {}
    for i in sess.get_inputs():
        if i.name in inp:
            dt = np.float32 if i.type == "tensor(float)" else np.int64
            feeds[i.name] = np.asarray(inp[i.name], dtype=dt)
        elif i.name == "token_type_ids":
            feeds[i.name] = np.zeros(np.asarray(inp["input_ids"]).shape, dtype=np.int64)
        else:
            raise KeyError(f"input {i.name} missing")
    extra = set(inp) - {i.name for i in sess.get_inputs()}
    assert not extra, f"input file has inputs the model lacks: {extra}"
    return feeds


def compare_torch(path, torch_fn, feeds_list, tol=1e-4):
    """Check the ONNX file against torch on several (dynamic) shapes."""
    sess = session(path)
    for feeds in feeds_list:
        got = sess.run(None, {k: v.numpy() for k, v in feeds.items()})
        with torch.no_grad():
            ref = torch_fn(*feeds.values())
        if not isinstance(ref, (tuple, list)):
            ref = (ref,)
        for g, r in zip(got, ref):
            assert g.shape == tuple(r.shape), (path.name, g.shape, r.shape)
            err = float(np.abs(g.astype(np.float64) - r.numpy().astype(np.float64)).max())
            assert err < tol, f"{path.name}: ORT vs torch max err {err}"


def random_bert_feeds(names, shapes, vocab=1000):
    g = torch.Generator().manual_seed(7)
    out = []
    for b, s in shapes:
        ids = torch.randint(0, vocab, (b, s), generator=g)
        am = torch.ones(b, s, dtype=torch.long)
        for r in range(b):
            pad = r % max(1, s - 1)
            if pad:
                am[r, s - pad:] = 0
        tt = torch.randint(0, 2, (b, s), generator=g)
        d = {"input_ids": ids, "attention_mask": am, "token_type_ids": tt}
        out.append({k: d[k] for k in names})
    return out


# --------------------------------------------------------------------------- inputs

def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def make_inputs():
    inputs = {
        # batch 1, seq 8, last two tokens padding; no token_type_ids (=> zeros)
        "bert_pad": {
            "input_ids": [[101, 7, 45, 311, 999, 102, 0, 0]],
            "attention_mask": [[1, 1, 1, 1, 1, 1, 0, 0]],
        },
        # batch 2, seq 8, different padding per row; no token_type_ids (=> zeros)
        "bert_batch2": {
            "input_ids": [
                [101, 12, 640, 87, 5, 102, 0, 0],
                [101, 300, 2, 771, 45, 128, 19, 102],
            ],
            "attention_mask": [
                [1, 1, 1, 1, 1, 1, 0, 0],
                [1, 1, 1, 1, 1, 1, 1, 1],
            ],
        },
        # sentence pair with explicit token_type_ids (segment B = 1), one padding token
        "bert_pair": {
            "input_ids": [[101, 33, 412, 102, 250, 9, 102, 0]],
            "attention_mask": [[1, 1, 1, 1, 1, 1, 1, 0]],
            "token_type_ids": [[0, 0, 0, 0, 1, 1, 1, 0]],
        },
        # like bert_pad, other ids; token_type_ids given explicitly as zeros
        # RoBERTa: <s> = 0, </s> = 2, padding = 1 (pad_token_id), so position ids skip the padding
        "roberta_pad": {
            "input_ids": [[0, 7, 45, 311, 999, 2, 1, 1]],
            "attention_mask": [[1, 1, 1, 1, 1, 1, 0, 0]],
        },
        "roberta_batch2": {
            "input_ids": [
                [0, 12, 640, 87, 5, 2, 1, 1],
                [0, 300, 3, 771, 45, 128, 19, 2],
            ],
            "attention_mask": [
                [1, 1, 1, 1, 1, 1, 0, 0],
                [1, 1, 1, 1, 1, 1, 1, 1],
            ],
        },
        "minilm": {
            "input_ids": [[101, 203, 200, 137, 323, 102, 0, 0]],
            "attention_mask": [[1, 1, 1, 1, 1, 1, 0, 0]],
            "token_type_ids": [[0, 0, 0, 0, 0, 0, 0, 0]],
        },
    }
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.0, 2.0, size=(2, 16)).astype(np.float32)
    inputs["mlp"] = {"x": [[float(str(v)) for v in row] for row in x]}
    for name, obj in inputs.items():
        write_json(INPUTS / f"{name}.json", obj)
    return inputs


# --------------------------------------------------------------------------- expected outputs

def tolist_exact(a):
    a = np.asarray(a)
    if a.dtype == np.float32:
        # shortest repr that round-trips to the same float32
        return [float(str(v)) for v in a.ravel()]
    if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        return [int(v) for v in a.ravel()]
    raise TypeError(a.dtype)


def write_expected(model_path, input_name, inp):
    sess = session(model_path)
    outs = sess.run(None, feeds_for(sess, inp))
    obj = {"outputs": [
        {"name": o.name, "shape": list(v.shape), "data": tolist_exact(v)}
        for o, v in zip(sess.get_outputs(), outs)
    ]}
    write_json(EXPECTED / f"{model_path.stem}__{input_name}.json", obj)


PAIRS = {
    "bert_opset14": ["bert_pad", "bert_batch2", "bert_pair"],
    "bert_opset17": ["bert_pad", "bert_batch2", "bert_pair"],
    "bert_cls_opset14": ["bert_pad", "bert_batch2"],
    "bert_cls_opset17": ["bert_pad", "bert_batch2"],
    "mlp": ["mlp"],
    "minilm_tp_opset17": ["minilm", "bert_pad", "bert_batch2"],
    "minilm_optimum_opset17": ["minilm", "bert_pad", "bert_batch2"],
    "bert_default_opset17": ["bert_pad", "bert_pair"],
    "roberta_opset17": ["roberta_pad", "roberta_batch2"],
    "st_passthrough_opset17": ["minilm", "bert_batch2"],
}

# The fixtures of issue 8 (real exports as transformers makes them), which `--only issue8`
# regenerates without touching the others.
ISSUE8 = ["bert_default_opset17", "roberta_opset17", "st_passthrough_opset17"]

OPTIMUM_SNIPPET = """
import sys
from optimum.exporters.onnx import main_export
main_export(sys.argv[1], sys.argv[2], task="feature-extraction", opset=17,
            library_name="transformers", local_files_only=True, do_validation=True)
"""


def export_optimum(py, model, dest):
    """Save `model` with save_pretrained and export it with optimum in another interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "hf", Path(tmp) / "onnx"
        model.save_pretrained(src)
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        subprocess.run([py, "-c", OPTIMUM_SNIPPET, str(src), str(out)], check=True, env=env)
        shutil.copyfile(out / "model.onnx", dest)


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--optimum-python", help="interpreter with optimum-onnx installed (optional)")
    ap.add_argument("--only", choices=["issue8"],
                    help="regenerate only these fixtures (and every input and expected file they use)")
    args = ap.parse_args()
    INPUTS.mkdir(exist_ok=True)
    EXPECTED.mkdir(exist_ok=True)
    shapes = [(1, 8), (2, 8), (1, 3), (3, 17)]
    if args.only == "issue8":
        make_issue8(shapes)
        inputs = make_inputs()
        for model in ISSUE8:
            for i in PAIRS[model]:
                write_expected(HERE / f"{model}.onnx", i, inputs[i])
        summary()
        return 0
    make_issue8(shapes)

    # ---- BertModel, opset 14 and 17 (same weights)
    torch.manual_seed(0)
    bert = perturb_affine(BertModel(bert_config()).eval(), seed=1)
    assert bert.config._attn_implementation == "eager"
    wrap = BertWrap(bert).eval()
    dyn = {k: {0: "batch", 1: "sequence"} for k in BERT_INPUTS + ["last_hidden_state"]}
    dyn["pooler_output"] = {0: "batch"}
    for opset in (14, 17):
        p = HERE / f"bert_opset{opset}.onnx"
        export_ts(wrap, dummy_bert(), p, BERT_INPUTS, ["last_hidden_state", "pooler_output"], dyn, opset)
        if opset == 14:
            check(p, must_have=["ReduceMean", "Sqrt", "Softmax", "MatMul"], must_not_have=["LayerNormalization"])
        else:
            check(p, must_have=["LayerNormalization", "Softmax", "MatMul"])
        compare_torch(p, wrap, random_bert_feeds(BERT_INPUTS, shapes))

    # ---- BertForSequenceClassification, no token_type_ids input
    torch.manual_seed(0)
    cls = perturb_affine(BertForSequenceClassification(bert_config(num_labels=3)).eval(), seed=2)
    cwrap = ClsWrap(cls).eval()
    names = ["input_ids", "attention_mask"]
    dyn = {k: {0: "batch", 1: "sequence"} for k in names}
    dyn["logits"] = {0: "batch"}
    for opset in (14, 17):
        p = HERE / f"bert_cls_opset{opset}.onnx"
        export_ts(cwrap, dummy_bert()[:2], p, names, ["logits"], dyn, opset)
        if opset == 14:
            check(p, must_not_have=["LayerNormalization"])
        else:
            check(p, must_have=["LayerNormalization"])
        compare_torch(p, cwrap, random_bert_feeds(names, shapes))

    # ---- MLP with Gemm
    mlp = make_mlp()
    p = HERE / "mlp.onnx"
    export_ts(mlp, (torch.zeros(2, 16),), p, ["x"], ["logits"], {"x": {0: "batch"}, "logits": {0: "batch"}}, 14)
    check(p, must_have=["Gemm", "Relu"], must_not_have=["MatMul"])
    g = torch.Generator().manual_seed(5)
    compare_torch(p, mlp, [{"x": torch.rand(b, 16, generator=g) * 4 - 2} for b in (1, 2, 5)])

    # ---- third-party style sentence-embedding model (dynamo exporter). Attention is left at the
    # transformers default (sdpa), as a third party would export it: the mask bias is -inf and
    # Softmax is followed by an IsNaN/Where guard, unlike the eager bert_* fixtures.
    torch.manual_seed(0)
    minilm = perturb_affine(
        BertModel(bert_config(hidden_size=96, num_hidden_layers=3, num_attention_heads=3,
                              intermediate_size=384, max_position_embeddings=128,
                              attn_implementation="sdpa")).eval(), seed=3)
    st = SentenceEmbedding(minilm).eval()
    B = torch.export.Dim("batch")
    S = torch.export.Dim("sequence", max=128)
    ds = {k: {0: B, 1: S} for k in BERT_INPUTS}
    p = HERE / "minilm_tp_opset17.onnx"
    export_dynamo(st, dummy_bert(), p, BERT_INPUTS,
                  ["token_embeddings", "sentence_embedding", "attention_mask_out"], ds, 17)
    check(p, must_have=["LayerNormalization", "ReduceSum"])
    compare_torch(p, st, random_bert_feeds(BERT_INPUTS, shapes))

    # ---- the same weights exported by optimum (TorchScript exporter + transformers 4.x SDPA path)
    p = HERE / "minilm_optimum_opset17.onnx"
    if args.optimum_python:
        export_optimum(args.optimum_python, minilm, p)
    if p.exists():
        check(p, must_have=["LayerNormalization"])
        compare_torch(p, lambda *a: st(*a)[0], random_bert_feeds(BERT_INPUTS, shapes))
    else:
        del PAIRS["minilm_optimum_opset17"]

    # ---- inputs and expected outputs
    inputs = make_inputs()
    for model, ins in PAIRS.items():
        for i in ins:
            write_expected(HERE / f"{model}.onnx", i, inputs[i])

    summary()
    return 0


def make_issue8(shapes):
    """The exports of issue 8: what transformers and sentence-transformers produce untouched."""
    # ---- BertModel as transformers initialises it: no perturbation
    torch.manual_seed(0)
    bert = BertModel(bert_config()).eval()
    wrap = BertWrap(bert).eval()
    dyn = {k: {0: "batch", 1: "sequence"} for k in BERT_INPUTS + ["last_hidden_state"]}
    dyn["pooler_output"] = {0: "batch"}
    p = HERE / "bert_default_opset17.onnx"
    export_ts(wrap, dummy_bert(), p, BERT_INPUTS, ["last_hidden_state", "pooler_output"], dyn, 17)
    check(p, must_have=["LayerNormalization"])
    compare_torch(p, wrap, random_bert_feeds(BERT_INPUTS, shapes))

    # ---- RobertaModel: position ids = cumsum(input_ids != pad) * (input_ids != pad) + pad
    torch.manual_seed(0)
    roberta = perturb_affine(RobertaModel(roberta_config()).eval(), seed=4)
    rwrap = RobertaWrap(roberta).eval()
    names = ["input_ids", "attention_mask"]
    dyn = {k: {0: "batch", 1: "sequence"} for k in names + ["last_hidden_state"]}
    dyn["pooler_output"] = {0: "batch"}
    p = HERE / "roberta_opset17.onnx"
    ids, am, _ = dummy_bert()
    export_ts(rwrap, (ids, am), p, names, ["last_hidden_state", "pooler_output"], dyn, 17)
    check(p, must_have=["CumSum", "LayerNormalization"])
    feeds = random_bert_feeds(names, shapes)
    for f in feeds:  # padding positions hold the padding id, as a tokenizer writes them
        f["input_ids"] = torch.where(f["attention_mask"] == 1, f["input_ids"].clamp(min=3), 1)
    compare_torch(p, rwrap, feeds)

    # ---- sentence-transformers pipeline with pass-through outputs
    torch.manual_seed(0)
    st_bert = perturb_affine(BertModel(bert_config()).eval(), seed=5)
    st = PassThrough(st_bert).eval()
    outs = ["input_ids_out", "attention_mask_out", "token_embeddings", "sentence_embedding"]
    dyn = {k: {0: "batch", 1: "sequence"} for k in BERT_INPUTS + outs[:3]}
    dyn["sentence_embedding"] = {0: "batch"}
    p = HERE / "st_passthrough_opset17.onnx"
    export_ts(st, dummy_bert(), p, BERT_INPUTS, outs, dyn, 17)
    check(p, must_have=["LayerNormalization"])
    compare_torch(p, st, random_bert_feeds(BERT_INPUTS, shapes))


def summary():
    for f in sorted(list(HERE.glob("*.onnx")) + list(INPUTS.glob("*.json")) + list(EXPECTED.glob("*.json"))):
        h = hashlib.sha256(f.read_bytes()).hexdigest()[:16]
        print(f"{f.relative_to(HERE)}  {f.stat().st_size:>9} B  sha256:{h}")
    for f in sorted(HERE.glob("*.onnx")):
        m = onnx.load(str(f))
        ops = collections.Counter(n.op_type for n in m.graph.node)
        print(f"\n{f.name}: opset {m.opset_import[0].version}, {len(m.graph.node)} nodes")
        print("  ops:", dict(sorted(ops.items())))
        for kind, vals in (("in ", m.graph.input), ("out", m.graph.output)):
            for v in vals:
                t = v.type.tensor_type
                dims = [d.dim_param or d.dim_value for d in t.shape.dim]
                print(f"  {kind} {v.name}: {onnx.TensorProto.DataType.Name(t.elem_type)} {dims}")


if __name__ == "__main__":
    sys.exit(main())
