"""pygguf.py - a small, independent GGUF reader for penny's numpy references.

Penny's own reader (src/format/gguf.c) is what the tests check, so the
reference must not share code with it: this module is written from the
format definition alone (header, typed metadata incl. nested arrays, tensor
infos, alignment, data section) and dequantizes the types penny computes
with (F32, F16, BF16, Q8_0, Q4_0) into float64 numpy arrays. Only numpy and
the standard library are used. Being a test helper it is strict and simple:
any inconsistency raises GGUFError naming the byte offset.
"""

import struct

import numpy as np

GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0, GGML_BF16 = 0, 1, 2, 8, 30

# value type id -> struct format of a scalar (STRING=8 and ARRAY=9 apart)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9

# ggml type id -> (elements per block, bytes per block); only those we decode
_BLOCKS = {GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_BF16: (1, 2),
           GGML_Q8_0: (32, 34), GGML_Q4_0: (32, 18)}
TYPE_NAMES = {GGML_F32: "F32", GGML_F16: "F16", GGML_BF16: "BF16",
              GGML_Q8_0: "Q8_0", GGML_Q4_0: "Q4_0"}


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


def dequantize(raw, ggml_type, n):
    """n elements of ggml_type in raw -> float64 array (exact)."""
    raw = np.frombuffer(raw, dtype=np.uint8, count=tensor_nbytes(ggml_type, n))
    if ggml_type == GGML_F32:
        return raw.view("<f4").astype(np.float64)
    if ggml_type == GGML_F16:
        return _half(raw.view("<u2"))
    if ggml_type == GGML_BF16:
        bits = raw.view("<u2").astype(np.uint32) << 16
        return bits.view(np.float32).astype(np.float64)
    blocks = raw.reshape(-1, _BLOCKS[ggml_type][1])
    d = _half(blocks[:, :2].copy().view("<u2"))  # (n_blocks, 1)
    if ggml_type == GGML_Q8_0:
        q = blocks[:, 2:].view(np.int8).astype(np.float64)
    else:  # Q4_0: low nibbles are elements 0..15, high nibbles 16..31
        qs = blocks[:, 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float64) - 8.0
    return (d * q).reshape(-1)
