#!/usr/bin/env python3
"""Export the conformance matrix's models: small random-init Hugging Face models of each
architecture, with each exporter and each initialisation, plus one input file and onnxruntime's
fp32 outputs per export. `matrix.py` then checks every export with `secc`.

    HF_HUB_OFFLINE=1 python examples/conformance/export_matrix.py --out-dir target/conformance \\
        [--only bert,gpt2] [--exporters ts14,ts17,dynamo18] [--inits hf,trained]

Nothing is downloaded: every model is built from a config (2 layers, hidden 64, 4 heads, vocab
1000, a few hundred kB of weights) with `torch.manual_seed(0)`.

Rows (one export each), named `<arch>/<exporter>/<init>`:

  arch      bert, roberta, xlm-roberta, distilbert, albert, electra, mpnet, deberta-v2 (encoders:
            output `last_hidden_state`), gpt2 (`GPT2LMHeadModel`, `use_cache=False`) and llama
            (`LlamaForCausalLM`): output `logits` of the forward pass over the whole sequence
  exporter  ts14 / ts17: `torch.onnx.export(..., dynamo=False)` at opset 14 / 17, dynamic
            batch and sequence axes; dynamo18: `torch.onnx.export(..., dynamo=True)` at opset 18
            with dynamic `batch` and `sequence` dims (the exporter's default optimisation on)
  init      hf: the model exactly as transformers initialises it (LayerNorm weight 1, bias 0,
            every Linear bias 0); trained: after that, every norm weight is 1 + N(0, 0.1) and
            every bias and norm shift N(0, 0.05) (what a trained model looks like to a compiler:
            no uniform tensor left)

Attention is left at the transformers default implementation (sdpa), as a user would export it.

Writes into --out-dir:

  inputs/<arch>.json                     batch 2, 12 tokens, the second row padded by 4 (a
                                         `secc run --input` file; the same for every row of an arch)
  <arch>/<exporter>_<init>.onnx          the export
  <arch>/<exporter>_<init>.expected.json onnxruntime's outputs on that input, {"outputs": [...]}
  manifest.json                          one entry per row: paths (relative to --out-dir), the
                                         ONNX op types of the export, or the exporter's error

An export that fails is recorded with its error (the matrix reports it), never fatal. Each
export is checked against PyTorch (onnxruntime within 1e-4); a mismatch is recorded as an
export error too.
"""

import argparse
import collections
import contextlib
import io
import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import onnx
import onnxruntime as ort
import torch
import transformers

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

BATCH, SEQ, PAD = 2, 12, 4
VOCAB = 1000
EXPORTERS = ["ts14", "ts17", "dynamo18"]
INITS = ["hf", "trained"]
COMMON = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=128, max_position_embeddings=64)


def encoder(cls_name, config_name, with_token_types=True, **extra):
    def build():
        config = getattr(transformers, config_name)(**{**COMMON, **extra})
        return getattr(transformers, cls_name)(config)
    return dict(build=build, output="last_hidden_state", token_types=with_token_types)


def decoder(cls_name, config_name, **kw):
    def build():
        config = getattr(transformers, config_name)(**kw)
        return getattr(transformers, cls_name)(config)
    return dict(build=build, output="logits", token_types=False)


# Each architecture at the matrix's size; extra keys are the config's own names.
ARCHS = {
    "bert": encoder("BertModel", "BertConfig"),
    "roberta": encoder("RobertaModel", "RobertaConfig", max_position_embeddings=66,
                       pad_token_id=1),
    "xlm-roberta": encoder("XLMRobertaModel", "XLMRobertaConfig", max_position_embeddings=66,
                           pad_token_id=1),
    "distilbert": dict(
        build=lambda: transformers.DistilBertModel(transformers.DistilBertConfig(
            vocab_size=VOCAB, dim=64, n_layers=2, n_heads=4, hidden_dim=128,
            max_position_embeddings=64)),
        output="last_hidden_state", token_types=False),
    "albert": encoder("AlbertModel", "AlbertConfig", embedding_size=32),
    "electra": encoder("ElectraModel", "ElectraConfig", embedding_size=32),
    "mpnet": encoder("MPNetModel", "MPNetConfig", with_token_types=False,
                     max_position_embeddings=66, pad_token_id=1,
                     relative_attention_num_buckets=32),
    # DeBERTa-v3's settings (disentangled attention with log-bucketed relative positions).
    "deberta-v2": encoder("DebertaV2Model", "DebertaV2Config", type_vocab_size=0,
                          relative_attention=True, position_buckets=32,
                          max_relative_positions=-1, pos_att_type=["p2c", "c2p"],
                          norm_rel_ebd="layer_norm", share_att_key=True,
                          position_biased_input=False),
    "gpt2": decoder("GPT2LMHeadModel", "GPT2Config", vocab_size=VOCAB, n_embd=64, n_layer=2,
                    n_head=4, n_positions=64, use_cache=False, bos_token_id=0,
                    eos_token_id=0),
    "llama": decoder("LlamaForCausalLM", "LlamaConfig", vocab_size=VOCAB, hidden_size=64,
                     intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, max_position_embeddings=64, use_cache=False,
                     tie_word_embeddings=False),
}


def perturb(model, seed=1):
    """Trained-like parameters: no norm weight 1, no bias or shift 0 (see the module docs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            owner = name.rsplit(".", 1)[0].lower()
            is_norm = "norm" in owner or owner.endswith("ln_1") or owner.endswith("ln_2") \
                or owner.endswith("ln_f")
            if leaf == "bias":
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
            elif leaf == "weight" and is_norm and p.dim() == 1:
                p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.1)
    return model


class Wrap(torch.nn.Module):
    """The model with the matrix's one output, called with keyword inputs."""

    def __init__(self, model, output):
        super().__init__()
        self.model, self.output = model, output

    def call(self, **kwargs):
        if self.output == "logits":
            kwargs["use_cache"] = False
        return getattr(self.model(**kwargs), self.output)


class Wrap2(Wrap):
    """forward(input_ids, attention_mask): explicit positional signatures for both exporters."""

    def forward(self, input_ids, attention_mask):
        return self.call(input_ids=input_ids, attention_mask=attention_mask)


class Wrap3(Wrap):
    """forward(input_ids, attention_mask, token_type_ids)."""

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.call(input_ids=input_ids, attention_mask=attention_mask,
                         token_type_ids=token_type_ids)


def make_inputs(arch, spec):
    """Batch 2, 12 tokens, the second row padded by 4 (pad id: the model's own)."""
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(3, VOCAB, (BATCH, SEQ), generator=g)
    mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    mask[1, SEQ - PAD:] = 0
    pad = 1 if arch in ("roberta", "xlm-roberta", "mpnet") else 0
    ids[1, SEQ - PAD:] = pad
    feeds = {"input_ids": ids, "attention_mask": mask}
    if spec["token_types"]:
        tt = torch.zeros(BATCH, SEQ, dtype=torch.long)
        tt[0, SEQ // 2:] = 1
        feeds["token_type_ids"] = tt
    return feeds


def export(wrap, feeds, path, exporter, output):
    names = list(feeds)
    args = tuple(feeds.values())
    if exporter.startswith("ts"):
        dyn = {k: {0: "batch", 1: "sequence"} for k in names}
        dyn[output] = {0: "batch", 1: "sequence"}
        torch.onnx.export(wrap, args, str(path), input_names=names, output_names=[output],
                          dynamic_axes=dyn, opset_version=int(exporter[2:]), dynamo=False,
                          do_constant_folding=True)
    else:
        batch = torch.export.Dim("batch", max=64)
        seq = torch.export.Dim("sequence", max=64)
        shapes = tuple({0: batch, 1: seq} for _ in names)
        torch.onnx.export(wrap, args, str(path), input_names=names, output_names=[output],
                          dynamic_shapes=shapes, opset_version=18, dynamo=True,
                          external_data=False, optimize=True, verbose=False)


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def last_line(e):
    lines = [l.strip() for l in str(e).strip().splitlines() if l.strip()]
    text = lines[-1] if lines else type(e).__name__
    return f"{type(e).__name__}: {text}"[:400]


def export_row(out, arch, spec, exporter, init, feeds):
    row_id = f"{arch}/{exporter}/{init}"
    rel = Path(arch) / f"{exporter}_{init}.onnx"
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = dict(id=row_id, arch=arch, exporter=exporter, init=init, onnx=str(rel),
                 input=f"inputs/{arch}.json", batch=BATCH, seq=SEQ, output=spec["output"])
    started = time.time()
    torch.manual_seed(0)
    model = spec["build"]().eval()
    if init == "trained":
        perturb(model)
    wrap = (Wrap3 if len(feeds) == 3 else Wrap2)(model, spec["output"]).eval()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            export(wrap, feeds, path, exporter, spec["output"])
        m = onnx.load(str(path))
        entry["opset"] = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
        entry["ops"] = dict(sorted(collections.Counter(n.op_type for n in m.graph.node).items()))
        entry["bytes"] = path.stat().st_size
        sess = session(path)
        got = sess.run(None, {i.name: feeds[i.name].numpy() for i in sess.get_inputs()})
        with torch.no_grad():
            want = wrap(*feeds.values()).numpy()
        err = float(np.abs(got[0].astype(np.float64) - want.astype(np.float64)).max())
        entry["ort_vs_torch"] = err
        if err > 1e-4:
            raise RuntimeError(f"onnxruntime differs from PyTorch by {err:.3g}")
        expected = {"outputs": [
            {"name": o.name, "shape": list(v.shape), "data": [float(x) for x in v.ravel()]}
            for o, v in zip(sess.get_outputs(), got)]}
        exp_rel = rel.with_suffix(".expected.json")
        (out / exp_rel).write_text(json.dumps(expected) + "\n")
        entry["expected"] = str(exp_rel)
    except Exception as e:  # recorded in the matrix, not fatal
        entry["export_error"] = last_line(e)
        entry["traceback"] = traceback.format_exc()[-4000:]
    entry["export_s"] = round(time.time() - started, 1)
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", required=True, type=Path)
    ap.add_argument("--only", help="comma-separated architectures (default: all)")
    ap.add_argument("--exporters", default=",".join(EXPORTERS))
    ap.add_argument("--inits", default=",".join(INITS))
    args = ap.parse_args()
    out = args.out_dir
    (out / "inputs").mkdir(parents=True, exist_ok=True)
    archs = args.only.split(",") if args.only else list(ARCHS)
    unknown = [a for a in archs if a not in ARCHS]
    if unknown:
        sys.exit(f"export_matrix.py: unknown architectures {unknown}; known: {list(ARCHS)}")
    entries = []
    for arch in archs:
        spec = ARCHS[arch]
        feeds = make_inputs(arch, spec)
        (out / "inputs" / f"{arch}.json").write_text(
            json.dumps({k: v.tolist() for k, v in feeds.items()}) + "\n")
        for exporter in args.exporters.split(","):
            for init in args.inits.split(","):
                entry = export_row(out, arch, spec, exporter, init, feeds)
                status = entry.get("export_error", "ok")
                print(f"export {entry['id']}: {status} ({entry['export_s']} s)", file=sys.stderr)
                entries.append(entry)
    manifest = dict(torch=torch.__version__, transformers=transformers.__version__,
                    onnx=onnx.__version__, onnxruntime=ort.__version__, rows=entries)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
