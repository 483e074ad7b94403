"""ref_act.py - which matmul inputs penny rounds to 8-bit blocks, for the
float64 references of tests/ref_qwen.py and tests/ref_deepseek2.py.

Penny multiplies Q8_0 and Q4_0 weights with activations rounded to 8-bit
blocks (src/kernels/dispatch.h); ref_llama.quantize_act_q8 writes that
rounding from its definition. This class applies it where penny does - to
the input of every matrix product with such a weight, once per distinct
input (a "site", numbered in forward order) - and keeps the bookkeeping of
rounding ties that tests/test_forward_ref.py explains: `ties` collects
(site, index, where) of inputs within 1e-4 of k + 1/2, where penny's
float32 activations may round to the other neighbour, and `flips` names
ties to round that other way.

Products that penny computes with the types' reference dot on float32
activations (deepseek2's per-head latent projections) are not rounded.

cache() applies the rounding of penny's KV cache (F16 or Q8_0, see
ref_llama.round_kv_f16 and quantize_kv_q8_0) to what it stores, with the
same site and tie bookkeeping.
"""

import ref_llama


class ActRounding:
    """Rounding of matmul inputs for the weights of one GGUF file."""

    def __init__(self, g, types=ref_llama.ACT_Q8_TYPES):
        self.g, self.types = g, tuple(types)
        self.begin()

    def begin(self, flips=(), ties=None):
        """Starts a forward pass: sites count from 0 again."""
        self.site, self.flips, self.ties = 0, tuple(flips), ties

    def rounded(self, name):
        """True when tensor `name` multiplies Q8-rounded inputs."""
        t = self.g.tensors.get(name)
        return t is not None and t.type in self.types

    def inputs(self, x, names, what):
        """{tensor name: x as that weight reads it}: x rounded once (one
        site) when any of the names is a rounded type, x itself otherwise."""
        q = [n for n in names if self.rounded(n)]
        if not q:
            return {n: x for n in names}
        site = self.site
        self.site += 1
        found = [] if self.ties is not None else None
        xq = ref_llama.quantize_act_q8(x, [i for s, i in self.flips if s == site], found)
        for i, gap in found or ():
            self.ties.append((site, i, f"{what}, row {i // x.shape[-1]} "
                                       f"(|x/d - (k+1/2)| = {gap:.1e})"))
        return {n: xq if n in q else x for n in names}

    def cache(self, x, kind, what):
        """x (T, segments, dim) as a KV cache of type kind ("f32", "f16",
        "q8_0") returns it; each segment is one stored vector (its own site)."""
        if kind not in ("f16", "q8_0"):
            return x
        site = self.site
        self.site += 1
        found = [] if self.ties is not None else None
        flip = [i for s, i in self.flips if s == site]
        if kind == "f16":
            xq, row, unit = ref_llama.round_kv_f16(x, flip, found), x.shape[1] * x.shape[2], \
                "ulps from the midpoint"
        else:
            xq = ref_llama.quantize_kv_q8_0(x, flip, found)
            row, unit = x.shape[1] * (x.shape[2] + -x.shape[2] % 32), "|x/d - (k+1/2)|"
        for i, gap in found or ():
            self.ties.append((site, i, f"{what}, row {i // row} ({unit} {gap:.1e})"))
        return xq

    def mm(self, x, w, name, what):
        """x @ w.T with x as tensor `name` reads it (its own site)."""
        return self.inputs(x, [name], what)[name] @ w.T
