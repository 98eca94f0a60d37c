#!/usr/bin/env python3
"""Emulate PUMA's GeLU and softmax approximations in PyTorch (float64 polynomials, everything
else exact) on the sentence set of export_sentence_model.py, and print the cosine of the sentence
embeddings to the fp32 model: how much of secc's puma-mode error the approximations themselves
cause, and what a larger exp exponent t would give (docs/accuracy.md).

    HF_HUB_OFFLINE=1 python examples/third_party/emulate_puma.py --model all-MiniLM-L6-v2

Same environment as export_sentence_model.py (examples/third_party/requirements.txt).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export_sentence_model as esm  # noqa: E402


def puma_gelu(x):
    """PUMA's four segments (0 below -4, cubic on [-4, -1.95), degree 6 on [-1.95, 3], x)."""
    x = x.double()
    p3 = (-0.011034134030615728 * x**3 - 0.11807612951181953 * x**2
          - 0.42226581151983866 * x - 0.5054031199708174)
    p6 = (0.0018067462606141187 * x**6 - 0.037688200365904236 * x**4
          + 0.3603292692789629 * x**2 + 0.5 * x + 0.008526321541038084)
    y = torch.where(x < -4, torch.zeros_like(x),
                    torch.where(x < -1.95, p3, torch.where(x <= 3, p6, x)))
    return y.float()


def puma_softmax(t):
    """exp(x - max) by (1 + x / 2^t)^(2^t), 0 below -14, normalised by the row sum."""
    def softmax(x, dim=-1, dtype=None, **_):
        z = (x - x.max(dim=dim, keepdim=True).values).double()
        e = torch.where(z < -14, torch.zeros_like(z), (1 + z / 2**t) ** (2**t))
        return (e / e.sum(dim=dim, keepdim=True)).float()
    return softmax


class Gelu(torch.nn.Module):
    def forward(self, x):
        return puma_gelu(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=sorted(esm.MODELS), default="all-MiniLM-L6-v2")
    ap.add_argument("--seq-len", type=int, default=16)
    args = ap.parse_args()
    make, tok_json, _, _ = esm.MODELS[args.model]()
    pipe = make(False)
    bert = next(m for m in pipe.modules() if type(m).__name__ == "BertModel")
    bert.config._attn_implementation = "eager"  # softmax through torch.nn.functional
    enc = esm.tokenize(tok_json, esm.SENTENCES, args.seq_len)
    feeds = [torch.tensor(enc[k]) for k in esm.NAMES]
    exact_act = [layer.intermediate.intermediate_act_fn for layer in bert.encoder.layer]
    exact_softmax = torch.nn.functional.softmax

    def embed(gelu, t):
        for layer, act in zip(bert.encoder.layer, exact_act):
            layer.intermediate.intermediate_act_fn = Gelu() if gelu else act
        torch.nn.functional.softmax = puma_softmax(t) if t else exact_softmax
        try:
            with torch.no_grad():
                return pipe(*feeds)[1].numpy().astype(np.float64)
        finally:
            torch.nn.functional.softmax = exact_softmax

    fp32 = embed(False, None)
    print(f"{args.model}: cosine to fp32 over {len(esm.SENTENCES)} sentences")
    print("| GeLU | softmax exp | min cos | mean cos |\n|---|---|---|---|")
    for gelu, t in [(True, None), (False, 5), (True, 5), (True, 6), (True, 7), (False, 6)]:
        cos = esm.cosines(embed(gelu, t), fp32)
        print(f"| {'PUMA' if gelu else 'exact'} | {f't = {t}' if t else 'exact'} "
              f"| {cos.min():.5f} | {cos.mean():.5f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
