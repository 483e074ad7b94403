"""ref_llama.py - float64 numpy reference of the Llama forward pass.

The ground truth penny's forward pass is compared with: written from the
math of the architecture (RMSNorm, RoPE, causal GQA attention, SwiGLU FFN),
reading weights with the independent tests/pygguf.py and computing every
step in float64, so the only differences left to penny are its float32
rounding. It favours clarity over speed: a whole prompt is one matrix pass
with a causal mask. Usable as a module (LlamaRef) or a command line:

    ref_llama.py MODEL.gguf --ids 1,2,3 [--out logits.f64] [--greedy N]
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


def silu(x):
    return x / (1.0 + np.exp(-x))


class LlamaRef:
    """Weights of a Llama GGUF in float64 and a forward pass over token ids."""

    def __init__(self, path, neox=False):
        g = pygguf.GGUFFile(path)
        self.gguf, self.hp, self.neox = g, Hparams(g), neox
        self.embd = g.tensor("token_embd.weight")  # (vocab, dim)
        self.out_norm = g.tensor("output_norm.weight")
        tied = "output.weight" not in g.tensors
        self.output = self.embd if tied else g.tensor("output.weight")  # (vocab, dim)
        self.freq_factors = (g.tensor("rope_freqs.weight")
                             if "rope_freqs.weight" in g.tensors else None)
        names = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                 "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"]
        self.layers = [{n: g.tensor(f"blk.{i}.{n}.weight") for n in names}
                       for i in range(self.hp.n_layer)]
        self.n_vocab = self.embd.shape[0]

    def _attn_block(self, L, x, ang):
        hp, T = self.hp, x.shape[0]
        n = rms_norm(x, L["attn_norm"], hp.eps)
        q = (n @ L["attn_q"].T).reshape(T, hp.n_head, hp.head_dim)
        k = (n @ L["attn_k"].T).reshape(T, hp.n_kv, hp.head_dim)
        v = (n @ L["attn_v"].T).reshape(T, hp.n_kv, hp.v_dim)
        q, k = rope(q, ang, self.neox), rope(k, ang, self.neox)
        return x + attention(q, k, v) @ L["attn_output"].T

    def _ffn_block(self, L, h):
        n = rms_norm(h, L["ffn_norm"], self.hp.eps)
        return h + (silu(n @ L["ffn_gate"].T) * (n @ L["ffn_up"].T)) @ L["ffn_down"].T

    def forward(self, ids):
        """Logits (T, vocab) for tokens ids at positions 0..T-1."""
        hp = self.hp
        ids = np.asarray(ids, dtype=np.int64)
        if ids.min() < 0 or ids.max() >= self.n_vocab:
            raise ValueError("token id out of range")
        ang = rope_angles(np.arange(len(ids)), hp.n_rot, hp.rope_base, hp.pos_scale,
                          self.freq_factors)
        x = self.embd[ids]
        for L in self.layers:
            x = self._ffn_block(L, self._attn_block(L, x, ang))
        return rms_norm(x, self.out_norm, hp.eps) @ self.output.T

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
    a = ap.parse_args(argv)
    ref = LlamaRef(a.model, neox=a.neox)
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
