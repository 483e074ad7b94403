"""ref_moe.py - float64 numpy reference of mixture-of-experts FFN layers.

Written from the published definitions, not from penny's C code:

- Mixtral (arXiv 2401.04088): y = sum over the k experts with the largest
  router logits of softmax(those k logits)_i * SwiGLU_i(x).
- Qwen3-MoE: softmax over all experts, top k, weights renormalised over the
  k (norm_topk_prob) - the same numbers as Mixtral's rule.
- DeepSeekMoE (V2: arXiv 2405.04434, V3: arXiv 2412.19437): scores are the
  softmax or the sigmoid of the router logits; V3 adds a bias to the scores
  for choosing experts only (exp_probs_b), restricts the choice to the
  best groups (a group's score is the sum of its two best biased scores),
  takes the top k of the biased scores, weights them with the unbiased
  scores (normalised to sum 1 if asked) times the routed scaling factor,
  and adds always-on shared experts.

GGUF stores expert stacks as 3-D tensors [n_in, n_out, n_expert]; pygguf
returns them as numpy (n_expert, n_out, n_in).
"""

import numpy as np


def silu(x):
    return x / (1.0 + np.exp(-x))


class MoeParams:
    """Routing settings: n_expert, n_used, gating ('softmax' | 'sigmoid'),
    norm (renormalise the k weights), scale, n_group, n_group_used."""

    def __init__(self, n_expert, n_used, gating="softmax", norm=True, scale=1.0,
                 n_group=0, n_group_used=0):
        self.n_expert, self.n_used, self.gating = n_expert, n_used, gating
        self.norm, self.scale = norm, scale
        self.n_group, self.n_group_used = n_group, n_group_used


class Router:
    """Chooses experts per token and records how close each choice was."""

    def __init__(self, P):
        self.P = P
        self.min_margin = np.inf  # smallest gap between chosen and rejected

    def _eligible(self, sel):
        """sel with the experts outside the best n_group_used groups at -inf."""
        P = self.P
        if P.n_group <= 1:
            return sel
        groups = sel.reshape(P.n_group, -1)
        top2 = np.sort(groups, axis=1)[:, ::-1][:, :2]
        gscore = top2.sum(axis=1)
        order = sorted(range(P.n_group), key=lambda g: (-gscore[g], g))
        if P.n_group_used < P.n_group:
            gap = gscore[order[P.n_group_used - 1]] - gscore[order[P.n_group_used]]
            self.min_margin = min(self.min_margin, gap)
        out = np.full_like(groups, -np.inf)
        for g in order[:P.n_group_used]:
            out[g] = groups[g]
        return out.reshape(-1)

    def route(self, logits, bias=None):
        """logits (n_expert,) -> (expert ids, weights) for one token."""
        P = self.P
        if P.gating == "softmax":
            e = np.exp(logits - logits.max())
            scores = e / e.sum()
        else:
            scores = 1.0 / (1.0 + np.exp(-logits))
        sel = self._eligible(scores + (bias if bias is not None else 0.0))
        order = sorted(range(P.n_expert), key=lambda i: (-sel[i], i))
        ids = order[:P.n_used]
        if P.n_used < P.n_expert and np.isfinite(sel[order[P.n_used]]):
            self.min_margin = min(self.min_margin, sel[ids[-1]] - sel[order[P.n_used]])
        if P.gating == "softmax" and P.norm:
            z = logits[ids] - logits[ids].max()  # Mixtral: softmax over the chosen logits
            w = np.exp(z) / np.exp(z).sum()
        else:
            w = scores[ids]
            if P.norm:
                w = w / w.sum()
        return ids, w * P.scale


def moe_ffn(x, layer, router, act=None, prefix="", what="experts"):
    """x (T, d) -> (T, d). layer: router (E, d), gate/up (E, ff, d),
    down (E, d, ff), optional bias (E,), optional shared (gate, up, down).
    act (ref_act.ActRounding, optional) rounds matmul inputs where penny
    does, tensors named prefix + "ffn_gate_inp.weight" etc.; each expert's
    rows are its tokens in order, as penny gathers them."""
    n = lambda part: f"{prefix}{part}.weight"
    names = [n("ffn_gate_inp"), n("ffn_gate_exps"), n("ffn_up_exps"), n("ffn_gate_shexp"),
             n("ffn_up_shexp")]
    inp = act.inputs(x, names, f"{what} input") if act else {k: x for k in names}
    mm = (lambda h, w, name, where: act.mm(h, w, name, where)) if act else \
        (lambda h, w, name, where: h @ w.T)
    logits = inp[n("ffn_gate_inp")] @ layer["router"].T
    picks = [router.route(logits[t], layer.get("bias")) for t in range(x.shape[0])]
    y = np.zeros_like(x)
    for e in range(layer["gate"].shape[0]):
        rows = [(t, w[list(ids).index(e)]) for t, (ids, w) in enumerate(picks) if e in ids]
        if not rows:
            continue
        ts = [t for t, _ in rows]
        h = silu(inp[n("ffn_gate_exps")][ts] @ layer["gate"][e].T) * \
            (inp[n("ffn_up_exps")][ts] @ layer["up"][e].T)
        out = mm(h, layer["down"][e], n("ffn_down_exps"), f"{what} expert {e} down input")
        for (t, we), o in zip(rows, out):
            y[t] += we * o
    if layer.get("shared") is not None:
        gate, up, down = layer["shared"]
        h = silu(inp[n("ffn_gate_shexp")] @ gate.T) * (inp[n("ffn_up_shexp")] @ up.T)
        y += mm(h, down, n("ffn_down_shexp"), f"{what} shared down input")
    return y
