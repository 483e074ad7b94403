"""pygguf.py - a small, independent GGUF reader for penny's numpy references.

Penny's own reader (src/format/gguf.c) is what the tests check, so the
reference must not share code with it: this module is written from the
format definition alone (header, typed metadata incl. nested arrays, tensor
infos, alignment, data section) and dequantizes the types penny computes
with (F32, F16, BF16, Q8_0, Q4_0, and the K-quants Q4_K, Q5_K, Q6_K) into
float64 numpy arrays. The K-quant decoders follow the block layouts as the
GGUF ecosystem defines them (documented below at _k_scales), not penny's C
code. Only numpy and
the standard library are used. Being a test helper it is strict and simple:
any inconsistency raises GGUFError naming the byte offset.
"""

import struct

import numpy as np

GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0, GGML_BF16 = 0, 1, 2, 8, 30
GGML_Q4_K, GGML_Q5_K, GGML_Q6_K = 12, 13, 14

# value type id -> struct format of a scalar (STRING=8 and ARRAY=9 apart)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9

# ggml type id -> (elements per block, bytes per block); only those we decode
_BLOCKS = {GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_BF16: (1, 2),
           GGML_Q8_0: (32, 34), GGML_Q4_0: (32, 18),
           GGML_Q4_K: (256, 144), GGML_Q5_K: (256, 176), GGML_Q6_K: (256, 210)}
TYPE_NAMES = {GGML_F32: "F32", GGML_F16: "F16", GGML_BF16: "BF16",
              GGML_Q8_0: "Q8_0", GGML_Q4_0: "Q4_0",
              GGML_Q4_K: "Q4_K", GGML_Q5_K: "Q5_K", GGML_Q6_K: "Q6_K"}


class GGUFError(Exception):
    pass


class _Cursor:
    """Reads little-endian fields from a bytes buffer, checking bounds."""

    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, n, what):
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError(f"{what} at offset {self.pos}: needs {n} bytes, "
                            f"{len(self.buf) - self.pos} left")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def scalar(self, fmt, what):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what):
        n = self.scalar("<Q", what + " length")
        raw = self.take(n, what)
        return raw.decode("utf-8", errors="surrogateescape")

    def value(self, vtype, what):
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype], what)
        if vtype == _STRING:
            return self.string(what)
        if vtype == _ARRAY:
            etype = self.scalar("<I", what + " element type")
            n = self.scalar("<Q", what + " count")
            return self.array(etype, n, what)
        raise GGUFError(f"{what} at offset {self.pos}: unknown value type {vtype}")

    def array(self, etype, n, what):
        if etype in _SCALARS and etype != 7:
            fmt = _SCALARS[etype]
            raw = self.take(n * struct.calcsize(fmt), what)
            return np.frombuffer(raw, dtype=np.dtype(fmt)).copy()
        return [self.value(etype, f"{what}[{i}]") for i in range(n)]


class Tensor:
    """One tensor: name, ne (ne[0] fastest), ggml type, and its raw bytes."""

    def __init__(self, name, ne, ggml_type, offset, raw):
        self.name, self.ne, self.type, self.offset, self.raw = name, ne, ggml_type, offset, raw

    def numpy(self):
        """float64 array in numpy order: shape (ne[n-1], ..., ne[0])."""
        flat = dequantize(self.raw, self.type, int(np.prod(self.ne)))
        return flat.reshape(tuple(reversed(self.ne)))


class GGUFFile:
    """A parsed GGUF file: .version, .kv (dict, file order), .tensors (dict)."""

    def __init__(self, path):
        with open(path, "rb") as f:
            buf = f.read()
        self.path = path
        c = _Cursor(buf)
        if c.take(4, "magic") != b"GGUF":
            raise GGUFError(f"{path}: bad magic")
        self.version = c.scalar("<I", "version")
        if self.version not in (2, 3):
            raise GGUFError(f"{path}: unsupported version {self.version}")
        n_tensors = c.scalar("<Q", "tensor_count")
        n_kv = c.scalar("<Q", "kv_count")
        self.kv = {}
        for i in range(n_kv):
            key = c.string(f"key {i}")
            vtype = c.scalar("<I", f"type of {key}")
            self.kv[key] = c.value(vtype, key)
        infos = [self._read_info(c, i) for i in range(n_tensors)]
        self.alignment = int(self.kv.get("general.alignment", 32))
        if self.alignment <= 0 or self.alignment & (self.alignment - 1):
            raise GGUFError(f"{path}: bad general.alignment {self.alignment}")
        self.data_start = -(-c.pos // self.alignment) * self.alignment
        self.tensors = {}
        for name, ne, t, off in infos:
            self.tensors[name] = self._bind(buf, name, ne, t, off)

    def _read_info(self, c, i):
        name = c.string(f"tensor {i} name")
        n_dims = c.scalar("<I", f"{name} n_dims")
        if not 1 <= n_dims <= 4:
            raise GGUFError(f"{name}: n_dims {n_dims}")
        ne = [c.scalar("<Q", f"{name} ne[{d}]") for d in range(n_dims)]
        t = c.scalar("<I", f"{name} type")
        off = c.scalar("<Q", f"{name} offset")
        return name, ne, t, off

    def _bind(self, buf, name, ne, t, off):
        if off % self.alignment:
            raise GGUFError(f"{name}: offset {off} not aligned to {self.alignment}")
        nbytes = tensor_nbytes(t, int(np.prod(ne))) if t in _BLOCKS else 0
        start = self.data_start + off
        if start + nbytes > len(buf):
            raise GGUFError(f"{name}: data [{start}, {start + nbytes}) past end {len(buf)}")
        return Tensor(name, ne, t, off, buf[start:start + nbytes])

    def get(self, key, default=None):
        return self.kv.get(key, default)

    def tensor(self, name):
        """float64 numpy array of tensor name (KeyError when absent)."""
        return self.tensors[name].numpy()


def tensor_nbytes(ggml_type, n):
    if ggml_type not in _BLOCKS:
        raise GGUFError(f"type {ggml_type} not supported by pygguf")
    bs, size = _BLOCKS[ggml_type]
    if n % bs:
        raise GGUFError(f"{n} elements is not a multiple of block size {bs}")
    return n // bs * size


def _half(raw_u16):
    return raw_u16.view("<f2").astype(np.float64)


def _k_scales(s):
    """The 12 scale bytes of Q4_K/Q5_K -> (sc, m), each (n_blocks, 8).

    Sub-block j < 4 keeps its 6-bit scale in the low 6 bits of byte j and its
    min in byte j+4. For j >= 4 the low 4 bits of both sit in byte j+4 (scale
    in the low nibble, min in the high one) and their top 2 bits in the top
    bits of bytes j-4 (scale) and j (min)."""
    s = s.astype(np.int64)
    sc = np.concatenate([s[:, 0:4] & 63, (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)], axis=1)
    m = np.concatenate([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], axis=1)
    return sc, m


def _k_nibbles(qs):
    """(n_blocks, 128) bytes -> (n_blocks, 256) 4-bit values. Byte 32c+l holds
    element 64c+l in its low nibble and element 64c+32+l in its high one."""
    qs = qs.reshape(-1, 4, 1, 32).astype(np.int64)
    return np.concatenate([qs & 15, qs >> 4], axis=2).reshape(-1, 256)


def _q45_k(blocks, qs_at, has_qh):
    """Q4_K / Q5_K: x = (d*sc)*q - (dmin*m), evaluated in float32 as the
    format defines it: both products are exact, the difference rounds once."""
    d = _half(blocks[:, 0:2].copy().view("<u2")).astype(np.float32)
    dmin = _half(blocks[:, 2:4].copy().view("<u2")).astype(np.float32)
    sc, m = _k_scales(blocks[:, 4:16])
    q = _k_nibbles(blocks[:, qs_at:qs_at + 128])
    if has_qh:  # bit 4 of element e is bit e//32 of qh[e%32]
        qh = blocks[:, 16:48].astype(np.int64)
        q = q + 16 * ((qh[:, None, :] >> np.arange(8)[None, :, None]) & 1).reshape(-1, 256)
    scale = np.repeat(d * sc.astype(np.float32), 32, axis=1)  # (n_blocks, 256)
    offset = np.repeat(dmin * m.astype(np.float32), 32, axis=1)
    return (scale * q.astype(np.float32) - offset).astype(np.float64)


def _q6_k(blocks):
    """Q6_K: ql[128], qh[64], int8 scales[16], f16 d; x = d*scale[e//16]*(q-32).
    In half h = e//128, quarter k = (e%128)//32, l = e%32: the low 4 bits of q
    are in ql[64h + 32(k%2) + l] (low nibble for k < 2, high for k >= 2), the
    top 2 bits are bits 2k, 2k+1 of qh[32h + l]."""
    ql = blocks[:, 0:128].reshape(-1, 2, 2, 32).astype(np.int64)  # [h][k%2][l]
    qh = blocks[:, 128:192].reshape(-1, 2, 1, 32).astype(np.int64)  # [h][.][l]
    low = np.concatenate([ql & 15, ql >> 4], axis=2)  # [h][k][l], k = 0..3
    high = (qh >> (2 * np.arange(4)[None, None, :, None])) & 3
    q = (low | (high << 4)).reshape(-1, 256) - 32
    sc = np.repeat(blocks[:, 192:208].view(np.int8).astype(np.float64), 16, axis=1)
    d = _half(blocks[:, 208:210].copy().view("<u2"))
    return d * sc * q  # exact: at most 23 significant bits


def dequantize(raw, ggml_type, n):
    """n elements of ggml_type in raw -> float64 array (exact: every value is
    the float32 the format defines, Q4_K/Q5_K included)."""
    raw = np.frombuffer(raw, dtype=np.uint8, count=tensor_nbytes(ggml_type, n))
    if ggml_type == GGML_F32:
        return raw.view("<f4").astype(np.float64)
    if ggml_type == GGML_F16:
        return _half(raw.view("<u2"))
    if ggml_type == GGML_BF16:
        bits = raw.view("<u2").astype(np.uint32) << 16
        return bits.view(np.float32).astype(np.float64)
    blocks = raw.reshape(-1, _BLOCKS[ggml_type][1])
    if ggml_type in (GGML_Q4_K, GGML_Q5_K):
        return _q45_k(blocks, 16 if ggml_type == GGML_Q4_K else 48, ggml_type == GGML_Q5_K).reshape(-1)
    if ggml_type == GGML_Q6_K:
        return _q6_k(blocks).reshape(-1)
    d = _half(blocks[:, :2].copy().view("<u2"))  # (n_blocks, 1)
    if ggml_type == GGML_Q8_0:
        q = blocks[:, 2:].view(np.int8).astype(np.float64)
    else:  # Q4_0: low nibbles are elements 0..15, high nibbles 16..31
        qs = blocks[:, 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float64) - 8.0
    return (d * q).reshape(-1)
