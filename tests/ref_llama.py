"""ref_llama.py - float64 numpy reference of the Llama forward pass.

The ground truth penny's forward pass is compared with: written from the
math of the architecture (RMSNorm, RoPE, causal GQA attention, SwiGLU FFN),
reading weights with the independent tests/pygguf.py and computing every
step in float64, so the only differences left to penny are its float32
rounding. It favours clarity over speed: a whole prompt is one matrix pass
with a causal mask. Usable as a module (LlamaRef) or a command line:

    ref_llama.py MODEL.gguf --ids 1,2,3 [--out logits.f64] [--greedy N] [--exact-act]

KV cache: penny stores keys and values in its cache type before attending
(F16 by default; the tests run F32 too). kv="f16" rounds k and v (after
rope) to IEEE half precision, round to nearest even; kv="q8_0" rounds each
head's vector in GGUF Q8_0 blocks of 32 (quantize_kv_q8_0); kv="f32" (the
default here) leaves them exact.

Activation quantization: penny multiplies quantized weights (Q8_0, Q4_0 and
the K-quants) by the activations rounded to 8-bit blocks
(src/kernels/dispatch.h), so by default
the reference rounds a matmul's input the same way (quantize_act_q8, written
here from that definition) before multiplying it, in float64, with such a
weight. Everything else stays exact; --exact-act (act_q8=()) turns it off.
"""

import argparse
import sys

import numpy as np

import pygguf


class Hparams:
    """Hyperparameters of a GGUF Llama-family file, with the usual defaults."""

    def __init__(self, g, arch=None):
        arch = arch or g.get("general.architecture")
        key = lambda k, d=None: g.get(f"{arch}.{k}", d)
        self.dim = int(key("embedding_length"))
        self.n_layer = int(key("block_count"))
        self.n_head = int(key("attention.head_count"))
        self.n_kv = int(key("attention.head_count_kv", self.n_head))
        self.n_ff = int(key("feed_forward_length"))
        self.eps = float(key("attention.layer_norm_rms_epsilon"))
        self.head_dim = int(key("attention.key_length", self.dim // self.n_head))
        self.v_dim = int(key("attention.value_length", self.head_dim))
        self.n_rot = int(key("rope.dimension_count", self.head_dim))
        self.rope_base = float(key("rope.freq_base", 10000.0))
        self.pos_scale = 1.0
        if key("rope.scaling.type", "none") == "linear":
            self.pos_scale = 1.0 / float(key("rope.scaling.factor"))
        if self.n_head % self.n_kv or self.n_rot % 2 or self.n_rot > self.head_dim:
            raise ValueError("inconsistent head counts or rope dimensions")


def rms_norm(x, w, eps):
    """x: (T, dim) rows normalised by their RMS, times weight w (dim)."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope_angles(pos, n_rot, base, pos_scale=1.0, freq_factors=None):
    """(T, n_rot/2) angles: pos * pos_scale * base^(-2i/n_rot) / factor[i]."""
    inv = base ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)
    if freq_factors is not None:
        inv = inv / freq_factors
    return np.outer(np.asarray(pos, dtype=np.float64) * pos_scale, inv)


def rope(x, ang, neox=False):
    """Rotates the first n_rot dims of every head of x (T, heads, head_dim).

    normal (llama): pairs (2i, 2i+1); neox (qwen, ...): pairs (i, i + n_rot/2).
    Dimensions past n_rot pass through unchanged.
    """
    half = ang.shape[1]
    out = x.copy()
    if neox:
        a, b = x[..., :half], x[..., half:2 * half]
        ia, ib = (slice(0, half),), (slice(half, 2 * half),)
    else:
        a, b = x[..., 0:2 * half:2], x[..., 1:2 * half:2]
        ia, ib = (slice(0, 2 * half, 2),), (slice(1, 2 * half, 2),)
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    out[(Ellipsis,) + ia] = a * cos - b * sin
    out[(Ellipsis,) + ib] = a * sin + b * cos
    return out


def attention(q, k, v, n_past=0):
    """Causal GQA attention. q (T, H, hd), k (S, Hkv, hd), v (S, Hkv, vd),
    S = n_past + T; query t sees keys 0..n_past+t. Returns (T, H*vd)."""
    T, H, hd = q.shape
    S, Hkv = k.shape[0], k.shape[1]
    group = H // Hkv
    kk = np.repeat(k, group, axis=1)  # query head h uses kv head h // group
    vv = np.repeat(v, group, axis=1)
    s = np.einsum("thd,shd->hts", q, kk) / np.sqrt(hd)
    mask = np.arange(S)[None, :] > (n_past + np.arange(T))[:, None]
    s = np.where(mask[None], -np.inf, s)
    s = np.exp(s - s.max(axis=-1, keepdims=True))
    p = s / s.sum(axis=-1, keepdims=True)
    return np.einsum("hts,shd->thd", p, vv).reshape(T, -1)


# ggml type ids whose matmuls read Q8-rounded activations in penny
Q8_0, Q4_0, Q4_K, Q5_K, Q6_K = 8, 2, 12, 13, 14
ACT_Q8_TYPES = (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)


# |x/d| this close to k + 1/2 (in units of q) is a rounding tie: see below
TIE_TOL = 1e-4


def quantize_act_q8(x, flip=(), ties=None):
    """x rounded as penny rounds a matmul input for quantized weights.

    Each row (last axis, a multiple of 32) goes in blocks of 32, in float32:
    d = max|x| / 127, q = x * (1/d) rounded half away from zero, clamped to
    [-127, 127] (q = 0 when d = 0). Returns d * q in float64, the values the
    integer dot products see.

    Rounding ties: penny's float32 activations differ from these float64
    ones in their last bits, so where x/d lies within TIE_TOL of k + 1/2
    penny may correctly round to the other neighbour, and one such element
    moves the logits by ~1e-3, far above the test tolerance. `ties` (a list)
    receives (flat index, distance from k + 1/2) of those elements; `flip`
    names flat indices to round to the other neighbour instead.
    """
    x32 = np.asarray(x, dtype=np.float32)
    b = x32.reshape(-1, 32)
    d = np.abs(b).max(axis=1, keepdims=True) / np.float32(127)
    safe = np.where(d != 0, d, np.float32(1))
    inv = np.where(d != 0, np.float32(1) / safe, np.float32(0)).astype(np.float32)
    v = (b * inv).astype(np.float64).reshape(-1)  # the float32 product, exact in float64
    a = np.abs(v)
    r = np.floor(a + 0.5)
    if ties is not None:
        gap = np.abs(a - np.floor(a) - 0.5)
        ties.extend((int(i), float(gap[i])) for i in np.flatnonzero(gap < TIE_TOL))
    f = np.asarray(list(flip), dtype=np.int64)
    r[f] = np.where(r[f] > a[f], r[f] - 1, r[f] + 1)
    q = np.clip(np.sign(v) * r, -127, 127).reshape(b.shape)
    return (d.astype(np.float64) * q).reshape(x32.shape)


def quantize_kv_q8_0(x, flip=(), ties=None):
    """x (T, heads, dim) as penny's Q8_0 KV cache holds it: each head's
    vector, zero-padded to a multiple of 32, in blocks of 32 of the GGUF
    Q8_0 formula in float32 - d = max|x| / 127, q = x * (1/d) rounded half
    away from zero - with d stored as float16. Returns f16(d) * q in float64.
    Ties and flips as in quantize_act_q8 (indices into the padded array)."""
    T, H, dim = x.shape
    pad = -dim % 32
    xp = np.concatenate([np.asarray(x, dtype=np.float32),
                         np.zeros((T, H, pad), dtype=np.float32)], axis=2)
    b = xp.reshape(-1, 32)
    d = np.abs(b).max(axis=1, keepdims=True) / np.float32(127)
    safe = np.where(d != 0, d, np.float32(1))
    inv = np.where(d != 0, np.float32(1) / safe, np.float32(0)).astype(np.float32)
    v = (b * inv).astype(np.float64).reshape(-1)
    a = np.abs(v)
    r = np.floor(a + 0.5)
    if ties is not None:
        gap = np.abs(a - np.floor(a) - 0.5)
        ties.extend((int(i), float(gap[i])) for i in np.flatnonzero(gap < TIE_TOL))
    f = np.asarray(list(flip), dtype=np.int64)
    r[f] = np.where(r[f] > a[f], r[f] - 1, r[f] + 1)
    q = np.clip(np.sign(v) * r, -127, 127).reshape(b.shape)
    d16 = d.astype(np.float16).astype(np.float64)
    return (d16 * q).reshape(xp.shape)[:, :, :dim]


F16_TIE_REL = 1e-6  # |x - midpoint| / |x| below which a half rounding is a tie


def round_kv_f16(x, flip=(), ties=None):
    """x rounded to IEEE half (nearest even), as penny's F16 cache stores it.

    Ties: penny rounds its float32 value, which differs from this float64 one
    in the last bits, so where x lies within F16_TIE_REL (relative) of the
    midpoint between two halves penny may round to the other one: `ties`
    receives (flat index, distance from the midpoint in ulps) of those,
    and `flip` names flat indices to round the other way."""
    x = np.asarray(x, dtype=np.float64)
    h = x.astype(np.float32).astype(np.float16)
    up = np.where(x > h.astype(np.float64), np.float16(np.inf), np.float16(-np.inf))
    other = np.nextafter(h, up.astype(np.float16))
    hf, of = h.astype(np.float64).reshape(-1), other.astype(np.float64).reshape(-1)
    xf = x.reshape(-1)
    if ties is not None:
        dist = np.abs(xf - (hf + of) / 2)
        near = np.flatnonzero(dist <= F16_TIE_REL * np.abs(xf))
        ties.extend((int(i), float(dist[i] / abs(of[i] - hf[i]))) for i in near)
    out = hf.copy()
    f = np.asarray(list(flip), dtype=np.int64)
    out[f] = of[f]
    return out.reshape(x.shape)


def silu(x):
    return x / (1.0 + np.exp(-x))


class LlamaRef:
    """Weights of a Llama GGUF in float64 and a forward pass over token ids."""

    def __init__(self, path, neox=False, act_q8=ACT_Q8_TYPES, kv="f32"):
        g = pygguf.GGUFFile(path)
        self.gguf, self.hp, self.neox, self.kv = g, Hparams(g), neox, kv
        self.act_q8 = tuple(act_q8)  # weight types whose matmul inputs are Q8-rounded
        self.embd = g.tensor("token_embd.weight")  # (vocab, dim)
        self.out_norm = g.tensor("output_norm.weight")
        tied = "output.weight" not in g.tensors
        self.output = self.embd if tied else g.tensor("output.weight")  # (vocab, dim)
        self.output_q8 = self._q8(g, "token_embd.weight" if tied else "output.weight")
        self.freq_factors = (g.tensor("rope_freqs.weight")
                             if "rope_freqs.weight" in g.tensors else None)
        names = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                 "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"]
        self.layers = [{n: g.tensor(f"blk.{i}.{n}.weight") for n in names}
                       for i in range(self.hp.n_layer)]
        self.layers_q8 = [{n for n in names if self._q8(g, f"blk.{i}.{n}.weight")}
                          for i in range(self.hp.n_layer)]
        self.n_vocab = self.embd.shape[0]

    def _q8(self, g, name):
        return g.tensors[name].type in self.act_q8

    def _act(self, x, what):
        """x Q8-rounded as penny rounds it; one call per distinct matmul input
        (a "site"), numbered in forward order, so that ties can be named."""
        site = self._site
        self._site += 1
        found = [] if self._ties is not None else None
        xq = quantize_act_q8(x, [i for s, i in self._flips if s == site], found)
        for i, gap in found or ():
            t = i // x.shape[-1]
            self._ties.append((site, i, t, gap, f"{what}, token {t} (|x/d - (k+1/2)| = {gap:.1e})"))
        return xq

    def _cache(self, x, what):
        """x (T, heads, dim) as the KV cache returns it (see quantize_kv_q8_0)."""
        if self.kv not in ("f16", "q8_0"):
            return x
        site = self._site
        self._site += 1
        found = [] if self._ties is not None else None
        flip = [i for s, i in self._flips if s == site]
        if self.kv == "f16":
            xq, row = round_kv_f16(x, flip, found), x.shape[1] * x.shape[2]
            unit = "ulps from the midpoint"
        else:
            xq = quantize_kv_q8_0(x, flip, found)
            row = x.shape[1] * (x.shape[2] + -x.shape[2] % 32)
            unit = "|x/d - (k+1/2)|"
        for i, gap in found or ():
            t = i // row
            self._ties.append((site, i, t, gap, f"{what}, token {t} ({unit} {gap:.1e})"))
        return xq

    def _inputs(self, x, Q, names, what):
        """{name: the input x or its Q8 rounding, as weight `name` reads it}."""
        xq = self._act(x, what) if Q & set(names) else None
        return {n: xq if n in Q else x for n in names}

    def _attn_block(self, il, x, ang):
        hp, T, L, Q = self.hp, x.shape[0], self.layers[il], self.layers_q8[il]
        n = rms_norm(x, L["attn_norm"], hp.eps)
        inp = self._inputs(n, Q, ("attn_q", "attn_k", "attn_v"), f"layer {il} attention input")
        q = (inp["attn_q"] @ L["attn_q"].T).reshape(T, hp.n_head, hp.head_dim)
        k = (inp["attn_k"] @ L["attn_k"].T).reshape(T, hp.n_kv, hp.head_dim)
        v = (inp["attn_v"] @ L["attn_v"].T).reshape(T, hp.n_kv, hp.v_dim)
        q, k = rope(q, ang, self.neox), rope(k, ang, self.neox)
        k, v = self._cache(k, f"layer {il} cached key"), self._cache(v, f"layer {il} cached value")
        att = self._inputs(attention(q, k, v), Q, ("attn_output",), f"layer {il} attention output")
        return x + att["attn_output"] @ L["attn_output"].T

    def _ffn_block(self, il, h):
        L, Q = self.layers[il], self.layers_q8[il]
        n = rms_norm(h, L["ffn_norm"], self.hp.eps)
        inp = self._inputs(n, Q, ("ffn_gate", "ffn_up"), f"layer {il} FFN input")
        g = silu(inp["ffn_gate"] @ L["ffn_gate"].T) * (inp["ffn_up"] @ L["ffn_up"].T)
        return h + self._inputs(g, Q, ("ffn_down",), f"layer {il} ffn_down input")["ffn_down"] \
            @ L["ffn_down"].T

    def forward(self, ids, flips=(), ties=None):
        """Logits (T, vocab) for tokens ids at positions 0..T-1.

        With Q8-rounded inputs: `ties` (a list) receives (site, index, token,
        distance from the tie, description) of every rounding tie; `flips` holds (site, index) pairs
        of ties to round the other way (see quantize_act_q8).
        """
        hp = self.hp
        ids = np.asarray(ids, dtype=np.int64)
        if ids.min() < 0 or ids.max() >= self.n_vocab:
            raise ValueError("token id out of range")
        ang = rope_angles(np.arange(len(ids)), hp.n_rot, hp.rope_base, hp.pos_scale,
                          self.freq_factors)
        self._site, self._flips, self._ties = 0, tuple(flips), ties
        x = self.embd[ids]
        for il in range(hp.n_layer):
            x = self._ffn_block(il, self._attn_block(il, x, ang))
        n = rms_norm(x, self.out_norm, hp.eps)
        return (self._act(n, "output input") if self.output_q8 else n) @ self.output.T

    def greedy(self, ids, n):
        """Appends n argmax tokens (recomputing the whole prefix each step)."""
        ids = list(ids)
        for _ in range(n):
            ids.append(int(np.argmax(self.forward(ids)[-1])))
        return ids


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--ids", required=True, help="comma-separated token ids")
    ap.add_argument("--out", help="write logits as raw float64 (T, vocab)")
    ap.add_argument("--greedy", type=int, default=0, help="print n greedy continuations")
    ap.add_argument("--neox", action="store_true", help="NeoX rope ordering")
    ap.add_argument("--exact-act", action="store_true",
                    help="no Q8 rounding of matmul inputs for quantized weights")
    a = ap.parse_args(argv)
    ref = LlamaRef(a.model, neox=a.neox, act_q8=() if a.exact_act else ACT_Q8_TYPES)
    ids = [int(t) for t in a.ids.split(",")]
    logits = ref.forward(ids)
    if a.out:
        logits.astype("<f8").tofile(a.out)
    print("argmax per position:", " ".join(str(int(t)) for t in logits.argmax(axis=1)))
    if a.greedy:
        print("greedy:", " ".join(str(t) for t in ref.greedy(ids, a.greedy)[len(ids):]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
