"""ref_deepseek2.py - float64 numpy reference of DeepSeek-V2/V3 (GGUF arch
"deepseek2"): multi-head latent attention, YaRN, DeepSeekMoE.

Written from the papers (DeepSeek-V2 arXiv 2405.04434, DeepSeek-V3 arXiv
2412.19437, YaRN arXiv 2309.00071) and the GGUF tensor layout, not from
penny's C code. Attention is computed the plain way, expanding every
head's keys and values from the latent, so it checks both of penny's paths
(absorbed and naive) against the same equations:

    c_q  = RMSNorm(x W_qa)                     (or no compression: q = x W_q)
    q_h  = [q_nope_h, q_pe_h] = (c_q W_qb)_h,  q_pe_h rotated
    [c_kv, k_pe] = x W_kva,  c_kv = RMSNorm(c_kv),  k_pe rotated (one, shared)
    k_h  = [W_UK_h c_kv, k_pe],  v_h = W_UV_h c_kv
    o_h  = softmax(q_h.k_h * mscale^2 / sqrt(qk_nope + qk_rope)) v_h
    y    = x + [o_1 .. o_H] W_o

Rotary embedding: adjacent pairs (2i, 2i+1) on the rope parts only. YaRN
frequencies ramp between original and interpolated ones over the pairs
whose rotation counts over the original context fall between beta_slow and
beta_fast; mscale = 0.1 mscale_all_dim ln(factor) + 1, where GGUF stores
yarn_log_multiplier = 0.1 mscale_all_dim.

Tensors: W_UK/W_UV come from attn_k_b (per head, transposed: numpy
(H, kv_lora, qk_nope)) and attn_v_b (H, v, kv_lora), or from the legacy
attn_kv_b (H*(qk_nope + v), kv_lora) whose rows per head are the key rows
then the value rows. FFN: dense in the first leading_dense_block_count
layers, experts (ref_moe) plus shared experts after. Matmul inputs of
Q8_0/Q4_0 weights are rounded as penny rounds them (tests/ref_act.py); the
per-head W_UK/W_UV products are exact in penny and here.

    ref_deepseek2.py MODEL.gguf --ids 1,2,3 [--out logits.f64]
"""

import argparse
import math
import sys

import numpy as np

import pygguf
import ref_act
import ref_moe
from ref_llama import rms_norm, rope, silu


def yarn_inv_freq(dim, base, factor, orig_ctx, beta_fast=32.0, beta_slow=1.0):
    """YaRN inverse frequencies of dim/2 rotated pairs."""
    inv = base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)

    def corr_dim(n_rotations):  # pair index completing n_rotations over orig_ctx
        return dim * math.log(orig_ctx / (n_rotations * 2 * math.pi)) / (2 * math.log(base))

    low = max(math.floor(corr_dim(beta_fast)), 0)
    high = min(math.ceil(corr_dim(beta_slow)), dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    return inv / factor * ramp + inv * (1.0 - ramp)


class Hparams:
    def __init__(self, g):
        key = lambda k, d=None: g.get(f"deepseek2.{k}", d)
        self.dim = int(key("embedding_length"))
        self.n_layer = int(key("block_count"))
        self.n_head = int(key("attention.head_count"))
        self.eps = float(key("attention.layer_norm_rms_epsilon"))
        self.q_lora = int(key("attention.q_lora_rank", 0))
        self.kv_lora = int(key("attention.kv_lora_rank"))
        self.rope = int(key("rope.dimension_count"))
        if key("attention.key_length_mla") is not None:
            self.qk_head, self.v_head = int(key("attention.key_length_mla")), int(key("attention.value_length_mla"))
        else:
            self.qk_head, self.v_head = int(key("attention.key_length")), int(key("attention.value_length"))
        self.nope = self.qk_head - self.rope
        self.n_dense = int(key("leading_dense_block_count", 0))
        self.n_shared = int(key("expert_shared_count", 0))
        self.rope_base = float(key("rope.freq_base", 10000.0))
        self.yarn = key("rope.scaling.type", "none") == "yarn"
        self.factor = float(key("rope.scaling.factor", 1.0))
        self.orig_ctx = int(key("rope.scaling.original_context_length", key("context_length")))
        self.log_mul = float(key("rope.scaling.yarn_log_multiplier", 0.0))
        gating = {1: "softmax", 2: "sigmoid"}[int(key("expert_gating_func", 1))]
        self.moe = ref_moe.MoeParams(
            int(key("expert_count")), int(key("expert_used_count")), gating,
            bool(key("expert_weights_norm", False)), float(key("expert_weights_scale", 0.0)) or 1.0,
            int(key("expert_group_count", 0)), int(key("expert_group_used_count", 0)))


class DeepSeek2Ref:
    """Weights of a deepseek2 GGUF in float64 and a forward pass."""

    def __init__(self, path, kv="f32", mla="absorbed"):
        """kv, mla: penny's KV cache type ("f32", "f16", "q8_0") and MLA path,
        which decide what the cache rounds: the latent row [c, k_pe]
        (absorbed) or the expanded per-head keys and values (naive)."""
        g = pygguf.GGUFFile(path)
        self.kv, self.mla = kv, mla
        self.g, self.hp = g, Hparams(g)
        self.act = ref_act.ActRounding(g)
        hp = self.hp
        self.router = ref_moe.Router(hp.moe)
        self.embd = g.tensor("token_embd.weight")
        self.out_norm = g.tensor("output_norm.weight")
        self.out_name = "output.weight" if "output.weight" in g.tensors else "token_embd.weight"
        self.output = g.tensor(self.out_name)
        self.layers = [self._layer(i) for i in range(hp.n_layer)]
        self.n_vocab = self.embd.shape[0]
        if hp.yarn:
            self.inv_freq = yarn_inv_freq(hp.rope, hp.rope_base, hp.factor, hp.orig_ctx)
            mscale = 1.0 + hp.log_mul * math.log(hp.factor)
        else:
            self.inv_freq = hp.rope_base ** (-np.arange(0, hp.rope, 2) / hp.rope)
            mscale = 1.0
        self.scale = mscale * mscale / math.sqrt(hp.qk_head)

    def _has(self, name):
        return name in self.g.tensors

    def _kv_up(self, t, i):
        """(W_UK (H, nope, r), W_UV (H, v, r)) from either tensor layout."""
        hp = self.hp
        if self._has(f"blk.{i}.attn_k_b.weight"):
            return t("attn_k_b.weight").transpose(0, 2, 1), t("attn_v_b.weight")
        kvb = t("attn_kv_b.weight").reshape(hp.n_head, hp.nope + hp.v_head, hp.kv_lora)
        return kvb[:, :hp.nope], kvb[:, hp.nope:]

    def _layer(self, i):
        hp = self.hp
        t = lambda n: self.g.tensor(f"blk.{i}.{n}")
        L = {n: t(n + ".weight") for n in ["attn_norm", "attn_kv_a_mqa", "attn_kv_a_norm",
                                            "attn_output", "ffn_norm"]}
        if hp.q_lora:
            L["q"] = (t("attn_q_a.weight"), t("attn_q_a_norm.weight"), t("attn_q_b.weight"))
        else:
            L["q"] = (t("attn_q.weight"),)
        L["wuk"], L["wuv"] = self._kv_up(t, i)
        if i < hp.n_dense:
            L["ffn"] = [t(n + ".weight") for n in ["ffn_gate", "ffn_up", "ffn_down"]]
            return L
        moe = {"router": t("ffn_gate_inp.weight"), "gate": t("ffn_gate_exps.weight"),
               "up": t("ffn_up_exps.weight"), "down": t("ffn_down_exps.weight"),
               "bias": t("exp_probs_b.bias") if self._has(f"blk.{i}.exp_probs_b.bias") else None}
        if hp.n_shared:
            moe["shared"] = [t(n + ".weight") for n in ["ffn_gate_shexp", "ffn_up_shexp",
                                                        "ffn_down_shexp"]]
        L["moe"] = moe
        return L

    def _project(self, i, L, h):
        """Queries (T, H, qk_head) and the kv_a output (T, kv_lora + rope) of h."""
        hp, a = self.hp, self.act
        nq = f"blk.{i}.attn_q_a.weight" if hp.q_lora else f"blk.{i}.attn_q.weight"
        nkv = f"blk.{i}.attn_kv_a_mqa.weight"
        inp = a.inputs(h, [nq, nkv], f"layer {i} attention input")
        if hp.q_lora:
            qa, qa_norm, qb = L["q"]
            cq = rms_norm(inp[nq] @ qa.T, qa_norm, hp.eps)
            q = a.mm(cq, qb, f"blk.{i}.attn_q_b.weight", f"layer {i} q_b input")
        else:
            q = inp[nq] @ L["q"][0].T
        return q.reshape(h.shape[0], hp.n_head, hp.qk_head), inp[nkv] @ L["attn_kv_a_mqa"].T

    def _attn_block(self, i, x, ang):
        hp, L, T = self.hp, self.layers[i], x.shape[0]
        h = rms_norm(x, L["attn_norm"], hp.eps)
        q, kv = self._project(i, L, h)
        c = rms_norm(kv[:, :hp.kv_lora], L["attn_kv_a_norm"], hp.eps)
        k_pe = rope(kv[:, None, hp.kv_lora:], ang)  # (T, 1, rope)
        if self.mla == "absorbed":  # the cache holds [c, k_pe] as one row
            row = self.act.cache(np.concatenate([c[:, None], k_pe], axis=-1), self.kv,
                                 f"layer {i} cached latent")
            c, k_pe = row[:, 0, :hp.kv_lora], row[:, :, hp.kv_lora:]
        q = np.concatenate([q[..., :hp.nope], rope(q[..., hp.nope:], ang)], axis=-1)
        k_nope = np.einsum("hnr,tr->thn", L["wuk"], c)
        v = np.einsum("hvr,tr->thv", L["wuv"], c)
        k = np.concatenate([k_nope, np.repeat(k_pe, hp.n_head, axis=1)], axis=-1)
        if self.mla == "naive":
            k = self.act.cache(k, self.kv, f"layer {i} cached key")
            v = self.act.cache(v, self.kv, f"layer {i} cached value")
        s = np.einsum("thd,shd->hts", q, k) * self.scale
        s = np.where(np.triu(np.ones((T, T), dtype=bool), 1)[None], -np.inf, s)
        p = np.exp(s - s.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        o = np.einsum("hts,shv->thv", p, v).reshape(T, -1)
        return x + self.act.mm(o, L["attn_output"], f"blk.{i}.attn_output.weight",
                               f"layer {i} attention output")

    def _ffn_block(self, i, x):
        L, a = self.layers[i], self.act
        n = rms_norm(x, L["ffn_norm"], self.hp.eps)
        if "moe" in L:
            return x + ref_moe.moe_ffn(n, L["moe"], self.router, a, f"blk.{i}.", f"layer {i} experts")
        gate, up, down = L["ffn"]
        ng, nu = f"blk.{i}.ffn_gate.weight", f"blk.{i}.ffn_up.weight"
        inp = a.inputs(n, [ng, nu], f"layer {i} FFN input")
        g = silu(inp[ng] @ gate.T) * (inp[nu] @ up.T)
        return x + a.mm(g, down, f"blk.{i}.ffn_down.weight", f"layer {i} ffn_down input")

    def forward(self, ids, flips=(), ties=None):
        """Logits (T, vocab) for tokens ids at positions 0..T-1. ties/flips:
        rounding ties of Q8-rounded inputs (ref_act.ActRounding)."""
        ids = np.asarray(ids, dtype=np.int64)
        ang = np.outer(np.arange(len(ids), dtype=np.float64), self.inv_freq)
        self.act.begin(flips, ties)
        x = self.embd[ids]
        for i in range(len(self.layers)):
            x = self._ffn_block(i, self._attn_block(i, x, ang))
        n = rms_norm(x, self.out_norm, self.hp.eps)
        return self.act.mm(n, self.output, self.out_name, "output input")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--ids", required=True, help="comma-separated token ids")
    ap.add_argument("--out", help="write logits as raw float64 (T, vocab)")
    a = ap.parse_args(argv)
    logits = DeepSeek2Ref(a.model).forward([int(t) for t in a.ids.split(",")])
    if a.out:
        logits.astype("<f8").tofile(a.out)
    print("argmax per position:", " ".join(str(int(t)) for t in logits.argmax(axis=1)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
