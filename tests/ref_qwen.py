"""ref_qwen.py - float64 numpy reference of the grouped-query-attention
families: qwen2, qwen3, qwen3moe, and llama files with Mixtral-style
experts.

Written from the models' definitions (see each helper) on top of the Llama
building blocks of tests/ref_llama.py (RMSNorm, rotary embedding, causal GQA
attention) and the experts of tests/ref_moe.py, reading weights with the
independent tests/pygguf.py:

- qwen2 (Qwen2/2.5): Llama's block plus biases on the q, k and v
  projections; rotary embedding rotates the two halves of each head (NeoX
  order), as the GGUF conversion stores q/k unpermuted.
- qwen3: no biases; per-head RMSNorm of q and of k (attn_q_norm,
  attn_k_norm, over head_dim) before the rotary embedding; NeoX order.
- qwen3moe: qwen3 attention, experts instead of the dense FFN (softmax,
  top k, renormalised).
- llama with expert_count: Mixtral's experts (ref_moe), adjacent-pair rope.
  A selection bias (exp_probs_b, DeepSeek-V3's) is honoured when a file has one.

YaRN (arXiv 2309.00071), when the file asks for it: per-pair frequencies as
in ref_deepseek2.yarn_inv_freq, and the rotated dims of q and k scaled by
0.1 ln(factor) + 1 (its attention temperature). Matmul inputs of Q8_0/Q4_0
weights are rounded as penny rounds them (tests/ref_act.py).

    ref_qwen.py MODEL.gguf --ids 1,2,3 [--out logits.f64]
"""

import argparse
import math
import sys

import numpy as np

import pygguf
import ref_act
import ref_deepseek2
import ref_llama
import ref_moe
from ref_llama import rms_norm, rope, attention, silu

NEOX = {"llama": False, "qwen2": True, "qwen3": True, "qwen3moe": True}


class DecoderRef:
    """A GQA decoder of any family above, in float64."""

    def __init__(self, path, kv="f32"):
        """kv: the KV cache type penny runs with ("f32", "f16", "q8_0")."""
        g = pygguf.GGUFFile(path)
        self.kv = kv
        self.arch = g.get("general.architecture")
        if self.arch not in NEOX:
            raise ValueError(f"ref_qwen: architecture {self.arch}")
        self.g, self.hp = g, ref_llama.Hparams(g, self.arch)
        self.act = ref_act.ActRounding(g)
        key = lambda k, d=None: g.get(f"{self.arch}.{k}", d)
        self.n_expert = int(key("expert_count", 0))
        self.router = None
        if self.n_expert:
            norm = bool(key("expert_weights_norm", True))
            scale = float(key("expert_weights_scale", 0.0)) or 1.0
            P = ref_moe.MoeParams(self.n_expert, int(key("expert_used_count")), "softmax", norm,
                                  scale, int(key("expert_group_count", 0)),
                                  int(key("expert_group_used_count", 0)))
            self.router = ref_moe.Router(P)
        self._rope_setup(key)
        self.embd = g.tensor("token_embd.weight")
        self.out_norm = g.tensor("output_norm.weight")
        self.out_name = "output.weight" if "output.weight" in g.tensors else "token_embd.weight"
        self.output = g.tensor(self.out_name)
        self.layers = [self._layer(i) for i in range(self.hp.n_layer)]
        self.n_vocab = self.embd.shape[0]

    def _rope_setup(self, key):
        hp = self.hp
        self.mscale = 1.0
        if key("rope.scaling.type", "none") == "yarn":
            f = float(key("rope.scaling.factor"))
            self.inv_freq = ref_deepseek2.yarn_inv_freq(
                hp.n_rot, hp.rope_base, f, int(key("rope.scaling.original_context_length")),
                float(key("rope.scaling.yarn_beta_fast", 32.0)),
                float(key("rope.scaling.yarn_beta_slow", 1.0)))
            self.mscale = 0.1 * math.log(f) + 1.0
        else:
            self.inv_freq = hp.pos_scale * hp.rope_base ** (-np.arange(0, hp.n_rot, 2) / hp.n_rot)
        if "rope_freqs.weight" in self.g.tensors:
            self.inv_freq = self.inv_freq / self.g.tensor("rope_freqs.weight")

    def _layer(self, i):
        g = self.g
        t = lambda n: g.tensor(f"blk.{i}.{n}")
        opt = lambda n: t(n) if f"blk.{i}.{n}" in g.tensors else None
        L = {n: t(n + ".weight") for n in ["attn_norm", "attn_q", "attn_k", "attn_v",
                                            "attn_output", "ffn_norm"]}
        for n in ["attn_q", "attn_k", "attn_v"]:
            L[n + ".bias"] = opt(n + ".bias")
        L["q_norm"], L["k_norm"] = opt("attn_q_norm.weight"), opt("attn_k_norm.weight")
        if self.n_expert:
            L["moe"] = {"router": t("ffn_gate_inp.weight"), "gate": t("ffn_gate_exps.weight"),
                        "up": t("ffn_up_exps.weight"), "down": t("ffn_down_exps.weight"),
                        "bias": opt("exp_probs_b.bias")}
        else:
            L["ffn"] = [t(n + ".weight") for n in ["ffn_gate", "ffn_up", "ffn_down"]]
        return L

    def _proj(self, L, inp, i, name, heads, dim):
        y = inp[f"blk.{i}.{name}.weight"] @ L[name].T
        if L[name + ".bias"] is not None:
            y = y + L[name + ".bias"]
        return y.reshape(y.shape[0], heads, dim)

    def _attn_block(self, i, x, ang):
        hp, L, neox = self.hp, self.layers[i], NEOX[self.arch]
        n = rms_norm(x, L["attn_norm"], hp.eps)
        inp = self.act.inputs(n, [f"blk.{i}.attn_{p}.weight" for p in "qkv"],
                              f"layer {i} attention input")
        q = self._proj(L, inp, i, "attn_q", hp.n_head, hp.head_dim)
        k = self._proj(L, inp, i, "attn_k", hp.n_kv, hp.head_dim)
        v = self._proj(L, inp, i, "attn_v", hp.n_kv, hp.v_dim)
        if L["q_norm"] is not None:  # qwen3: RMSNorm of each head's q and k
            q, k = rms_norm(q, L["q_norm"], hp.eps), rms_norm(k, L["k_norm"], hp.eps)
        q, k = rope(q, ang, neox), rope(k, ang, neox)
        q[..., :hp.n_rot] *= self.mscale
        k[..., :hp.n_rot] *= self.mscale
        k = self.act.cache(k, self.kv, f"layer {i} cached key")
        v = self.act.cache(v, self.kv, f"layer {i} cached value")
        return x + self.act.mm(attention(q, k, v), L["attn_output"], f"blk.{i}.attn_output.weight",
                               f"layer {i} attention output")

    def _ffn_block(self, i, h):
        L = self.layers[i]
        n = rms_norm(h, L["ffn_norm"], self.hp.eps)
        if "moe" in L:
            return h + ref_moe.moe_ffn(n, L["moe"], self.router, self.act, f"blk.{i}.",
                                       f"layer {i} experts")
        gate, up, down = L["ffn"]
        inp = self.act.inputs(n, [f"blk.{i}.ffn_gate.weight", f"blk.{i}.ffn_up.weight"],
                              f"layer {i} FFN input")
        g = silu(inp[f"blk.{i}.ffn_gate.weight"] @ gate.T) * (inp[f"blk.{i}.ffn_up.weight"] @ up.T)
        return h + self.act.mm(g, down, f"blk.{i}.ffn_down.weight", f"layer {i} ffn_down input")

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
    logits = DecoderRef(a.model).forward([int(t) for t in a.ids.split(",")])
    if a.out:
        logits.astype("<f8").tofile(a.out)
    print("argmax per position:", " ".join(str(int(t)) for t in logits.argmax(axis=1)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
