"""The student: all-MiniLM-L6-v2's BERT computed exactly as `secc compile --mode secformer` (with
the chosen substitutions) computes it, in PyTorch, differentiably.

Every operator is the function secc's plaintext interpreter gives for the compiled program
(ir/src/interp.rs, ir/src/approx.rs):

  softmax    quad   2Quad: (s + 5)^2 on the kept entries, 0 on masked ones, divided by the row sum
                    (quad-softmax pass; SecFormer's c = 5)
             relu   relu(s) / (sum relu(s) + 2^-10) on the kept entries (`--softmax relu`)
             exact  the teacher's softmax
  GeLU       fourier  SecFormer's GeLU: 0 below -2.5 sqrt 2, x from 2.5 sqrt 2 up, between
                    0.5 x (1 + F(x)) with F the 7-term sine series (period 16) least-squares
                    fitted to erf(x / sqrt 2) on a 2001-point grid (sec-activations pass)
             relu   max(x, 0) (`--gelu relu`)
             exact  erf GeLU (teacher)
  layer norm exact  (x - mean) / sqrt(var + eps) * gamma + beta; secformer mode computes
                    1 / sqrt with a calibrated Goldschmidt iteration (relative error <= 1e-4 on its
                    valid range), which the student does not model (measured by the recipe)
             affine (x - mean) * gamma + beta (`--layernorm affine`)

The division of 2Quad by its row sum is a Goldschmidt reciprocal in secc too (same 1e-4
bound); the final L2 normalisation is range-reduced in secc. Neither is modelled: the recipe
checks that `secc reference` of the compiled program equals this student within 1e-3.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

QUAD_SHIFT = 5.0
RELU_SOFTMAX_EPS = 1.0 / 1024.0
FOURIER_TERMS = 7
FOURIER_PERIOD = 16.0
GELU_CUT = 2.5 * math.sqrt(2.0)


def fourier_erf_coefficients():
    """The least-squares fit secc makes (approx::fourier_fit): sum_m b_m sin(2 pi m x / 16),
    m = 1..7, to erf(x / sqrt 2) on 2001 equispaced points of [-cut, cut]."""
    from scipy.special import erf

    x = np.linspace(-GELU_CUT, GELU_CUT, 2001)
    w = 2.0 * np.pi / FOURIER_PERIOD
    basis = np.stack([np.sin((m + 1) * w * x) for m in range(FOURIER_TERMS)], axis=1)
    ata = basis.T @ basis
    atb = basis.T @ erf(x / np.sqrt(2.0))
    return np.linalg.solve(ata, atb)


class Variant:
    """Which operators the student computes (see the module docstring)."""

    def __init__(self, softmax="quad", gelu="fourier", layernorm="exact"):
        assert softmax in ("quad", "relu", "exact")
        assert gelu in ("fourier", "relu", "exact")
        assert layernorm in ("exact", "affine")
        self.softmax, self.gelu, self.layernorm = softmax, gelu, layernorm

    @classmethod
    def teacher(cls):
        return cls("exact", "exact", "exact")

    def compile_flags(self):
        """The `secc compile` flags whose program computes this student."""
        flags = ["--mode", "secformer"]
        if self.gelu == "relu":
            flags += ["--gelu", "relu"]
        if self.layernorm == "affine":
            flags += ["--layernorm", "affine"]
        if self.softmax == "relu":
            flags += ["--softmax", "relu"]
        return flags

    def name(self):
        parts = [p for p, on in (("gelu-relu", self.gelu == "relu"),
                                 ("layernorm-affine", self.layernorm == "affine"),
                                 ("softmax-relu", self.softmax == "relu")) if on]
        return "+".join(parts) or "2quad"


class Ops:
    """The student's non-linear operators for one variant."""

    def __init__(self, variant, dtype=torch.float32):
        self.v = variant
        b = fourier_erf_coefficients()
        self.fourier_b = torch.tensor(b, dtype=dtype)
        self.fourier_m = torch.arange(1, FOURIER_TERMS + 1, dtype=dtype) * (
            2.0 * math.pi / FOURIER_PERIOD)

    def to(self, dtype):
        self.fourier_b = self.fourier_b.to(dtype)
        self.fourier_m = self.fourier_m.to(dtype)
        return self

    def gelu(self, x):
        if self.v.gelu == "exact":
            return F.gelu(x)
        if self.v.gelu == "relu":
            return torch.relu(x)
        return FourierGelu.apply(x, self.fourier_b)

    def softmax(self, scores, keep):
        """scores [B, H, S, S]; keep [B, 1, 1, S] bool (the attention mask)."""
        if self.v.softmax == "exact":
            return torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1)
        if self.v.softmax == "quad":
            q = torch.where(keep, (scores + QUAD_SHIFT) ** 2, torch.zeros_like(scores))
            return q / q.sum(-1, keepdim=True)
        r = torch.where(keep, torch.relu(scores), torch.zeros_like(scores))
        return r / (r.sum(-1, keepdim=True) + RELU_SOFTMAX_EPS)

    def layer_norm(self, x, ln):
        if self.v.layernorm == "exact":
            return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)
        return (x - x.mean(-1, keepdim=True)) * ln.weight + ln.bias


class FourierGelu(torch.autograd.Function):
    """SecFormer's GeLU with its derivative in closed form (saves memory and time: the sines
    of m theta come from the Chebyshev recurrence on sin theta and cos theta)."""

    @staticmethod
    def forward(ctx, x, b):
        w = 2.0 * math.pi / FOURIER_PERIOD
        theta = x * w
        s1, c1 = torch.sin(theta), torch.cos(theta)
        s_prev, s_cur = torch.zeros_like(x), s1
        c_prev, c_cur = torch.ones_like(x), c1
        series = torch.zeros_like(x)
        slope = torch.zeros_like(x)
        for m in range(1, FOURIER_TERMS + 1):
            series += b[m - 1] * s_cur
            slope += (b[m - 1] * m * w) * c_cur
            s_prev, s_cur = s_cur, 2.0 * c1 * s_cur - s_prev
            c_prev, c_cur = c_cur, 2.0 * c1 * c_cur - c_prev
        middle = 0.5 * x * (1.0 + series)
        low, high = x < -GELU_CUT, x >= GELU_CUT
        out = torch.where(low, torch.zeros_like(x), torch.where(high, x, middle))
        grad = torch.where(low, torch.zeros_like(x),
                           torch.where(high, torch.ones_like(x),
                                       0.5 * (1.0 + series) + 0.5 * x * slope))
        ctx.save_for_backward(grad)
        return out

    @staticmethod
    def backward(ctx, g):
        (grad,) = ctx.saved_tensors
        return g * grad, None


def embeddings(bert, ops, ids, types):
    e = bert.embeddings
    pos = torch.arange(ids.shape[1], device=ids.device)
    x = e.word_embeddings(ids) + e.position_embeddings(pos)[None] + e.token_type_embeddings(types)
    return ops.layer_norm(x, e.LayerNorm)


def layer_forward(layer, ops, x, keep):
    """One BERT layer; returns (output, attention probabilities)."""
    att = layer.attention
    sa = att.self
    b, s, h = x.shape
    heads = sa.num_attention_heads
    d = h // heads

    def split(t):
        return t.view(b, s, heads, d).transpose(1, 2)

    q, k, v = split(sa.query(x)), split(sa.key(x)), split(sa.value(x))
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    probs = ops.softmax(scores, keep)
    ctx = (probs @ v).transpose(1, 2).reshape(b, s, h)
    a = ops.layer_norm(att.output.dense(ctx) + x, att.output.LayerNorm)
    inter = ops.gelu(layer.intermediate.dense(a))
    out = ops.layer_norm(layer.output.dense(inter) + a, layer.output.LayerNorm)
    return out, probs


def forward(bert, ops, ids, mask, types, layers=None):
    """Returns (sentence embedding [B, H] (mean pooled, L2-normalised), hidden states (the
    embedding output and each layer's), attention probabilities per layer)."""
    keep = mask.bool()[:, None, None, :]
    x = embeddings(bert, ops, ids, types)
    hidden, attn = [x], []
    for layer in bert.encoder.layer:
        x, p = layer_forward(layer, ops, x, keep)
        hidden.append(x)
        attn.append(p)
    return pool(x, mask), hidden, attn


def pool(tok, mask):
    """sentence-transformers' mean pooling then Normalize."""
    m = mask.unsqueeze(-1).to(tok.dtype)
    emb = (tok * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
    return F.normalize(emb, p=2.0, dim=1)
