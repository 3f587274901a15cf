"""The numpy stand-in (`scorehost.numpy`) against the real numpy on the machine's CPython.

Every case is a function of a numpy module. It runs once with the real numpy and once with
the stand-in, on the same inputs, and the two results must agree: the same shapes, the same
dtype names, the same Python types and the same values (bit for bit, except the cases marked
APPROX, whose float sums numpy adds in another order; those agree to a few ulps). When numpy
raises, the stand-in must raise the same kind of exception.

`cargo xtask test` installs numpy into the SDK's venv (the `test` extra of pyproject.toml).
"""

import math
import random
import sys
import unittest
from pathlib import Path

import numpy as real_np

SDK = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SDK))

from scorehost import numpy as stand_in

# Inputs shared by the cases (plain lists: each module builds its own arrays from them).
M = [[1.5, -2.0, 3.25], [4.0, 0.5, -6.75]]
I = [[1, 2, 3], [4, 5, 6]]
P = [[0.1, 0.7, 0.2], [0.3, 0.3, 0.4], [0.05, 0.05, 0.9]]
ROW = [1, 10, 100]
COL = [[1], [2]]
T3 = [[[i * 12 + j * 4 + k for k in range(4)] for j in range(3)] for i in range(2)]
F32 = [0.1, 0.2, 0.3, 1e-3, 123.456]
NANS = [1.0, float("nan"), 3.0]
LONG = [math.sin(i) * 10 ** (i % 7) for i in range(300)]


def _set_mask(np):
    a = np.array(M)
    a[a < 0] = 0
    return a


def _set_column(np):
    a = np.array(I)
    a[:, 1] = np.array([7, 8])
    a[0] = 9.7  # float into an int array truncates
    return a


def _set_fancy(np):
    a = np.arange(12).reshape(3, 4)
    a[[0, 2], 1:3] = -1
    a[1, [0, 3]] = [5, 6]
    return a


def _set_f32(np):
    a = np.zeros((2, 2), dtype=np.float32)
    a[0, 0] = 0.1
    a[1] = [1.0 / 3, 2.5]
    return a


def _iadd(np):
    a = np.array(M, dtype=np.float32)
    a += 0.1
    a *= np.array(ROW)
    return a


def _iadd_int_refuses_float(np):
    a = np.array(I)
    a += 1.5
    return a


def _set_shape(np):
    a = np.array(T3)
    a.shape = (4, -1)
    return a


def _set_wrong_shape(np):
    a = np.array(T3)
    a.shape = (5, -1)
    return a


def _methods_in_place(np):
    a = np.array(M)
    a.sort()
    b = np.array(I)
    b.fill(3)
    c = np.array(I)
    d = c.copy()
    d[0, 0] = 99
    return [a, b, c, d]


def _reshape_shares(np):
    a = np.array(I)
    b = a.reshape(-1)
    b[0] = 100
    return a


def _softmax(np):
    x = np.array(M, dtype=np.float32)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _softmax64(np):
    x = np.array(M)
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _standardise(np):
    x = np.array(P)
    return (x - x.mean(axis=0)) / x.std(axis=0)


def _iterate(np):
    return [[row.tolist(), len(row)] for row in np.array(T3)] + [list(np.array(ROW))]


def _top_k(np):
    probs = np.array(P)
    return np.argsort(-probs, axis=1)[:, :2]


def _float_of_element(np):
    a = np.array(M)
    return [float(a[0][1]), float(a[1, 2]), int(np.array(7)), float(np.array(2.5)), a[0, 0].item(), a.sum().item()]


def _scalars(np):
    a = np.array(I, dtype=np.int32)
    f = np.array(F32, dtype=np.float32)
    return [
        a[0, 1],
        a.sum(),
        a - a.sum(),
        f - f.max(),
        f * np.array(F32).sum(),
        a.argmax(),
        np.array(P)[1, 2],
        list(np.array(ROW)),
        np.array([a[0, 0], a[1, 1]]),
        np.array(ROW)[np.array(P).argmax()],
        np.dot(np.array(ROW), np.array(ROW)),
        a[0, 1].astype(np.float32),
    ]


def _item(np):
    return [np.array(M).item(4), np.array(I).item(1, 2), np.array([[3.5]]).item()]


def _dtype_call(np):
    return [np.float32(0.1), np.float64(0.1), np.int64(7), np.float32([0.1, 0.2])]


def _dtype_names(np):
    a = np.array(I, dtype="float32")
    return [
        a.dtype == np.float32,
        a.dtype == "float32",
        np.array(I).dtype == np.int64,
        np.array(M).dtype.name,
        a.dtype.kind,
        a.dtype.itemsize,
        np.dtype("int32") == np.int32,
        np.array(I, dtype=float).dtype == np.float64,
        np.array(I, dtype=int).dtype.name,
        np.array([True]).dtype.name,
        a.shape,
        a.ndim,
        a.size,
        len(a),
    ]


def _kinds(np):
    f, i, u = np.array(M, dtype=np.float32), np.array(I), np.array(I, dtype=np.uint8)
    return [
        np.issubdtype(f.dtype, np.floating),
        np.issubdtype(i.dtype, np.floating),
        np.issubdtype(i.dtype, np.integer),
        np.issubdtype(u.dtype, np.integer),
        np.issubdtype(f.dtype, np.number),
        np.issubdtype(np.array([True]).dtype, np.number),
        np.issubdtype(f.dtype, np.float32),
        np.issubdtype(f.dtype, np.float64),
        isinstance(f[0, 0], np.floating),
        isinstance(i.sum(), np.integer),
        isinstance(i.argmax(), np.integer),
        isinstance(f.max(), np.number),
        np.array(I, dtype=np.double).dtype.name,
        np.array(M, dtype=np.single).dtype.name,
        np.array(M, dtype=np.int_).dtype.name,
        np.array(M, dtype=np.intp).dtype.name,
    ]


def _nonzero_tuple(np):
    return np.nonzero(np.array([[0, 3], [4, 0]]))


def _where_one_arg(np):
    return np.where(np.array(ROW) > 5)


# (name, case) pairs; every case is a function of the numpy module it runs with.
CASES = [
    # construction
    ("array float", lambda np: np.array(M)),
    ("array int", lambda np: np.array(I)),
    ("array bool", lambda np: np.array([True, False])),
    ("array bool and int", lambda np: np.array([True, 2])),
    ("array int and float", lambda np: np.array([1, 2.5])),
    ("array str", lambda np: np.array(["a", "bc"])),
    ("array dtype float32", lambda np: np.array(F32, dtype=np.float32)),
    ("array dtype 'float32'", lambda np: np.array(M, dtype="float32")),
    ("array dtype float on ints", lambda np: np.array(I, dtype=float)),
    ("array dtype int truncates", lambda np: np.array([1.5, -1.7, 2.0], dtype=np.int64)),
    ("array dtype int32", lambda np: np.array(I, dtype=np.int32)),
    ("array dtype uint8", lambda np: np.array(I, dtype="uint8")),
    ("array dtype bool", lambda np: np.array([0, 1, 2], dtype=bool)),
    ("array of arrays", lambda np: np.array([np.array(ROW), np.array(ROW)])),
    ("array of float32 and ints", lambda np: np.array([np.array([1, 2], dtype=np.float32), [3, 4]])),
    ("array of a scalar", lambda np: np.array(3.5)),
    ("array 3-D", lambda np: np.array(T3)),
    ("array tuple rows", lambda np: np.array(((1, 2), (3, 4)))),
    ("array ragged", lambda np: np.array([[1, 2], [3]])),
    ("array ndmin", lambda np: np.array(ROW, ndmin=2)),
    ("array copies", lambda np: np.array(np.array(ROW), dtype=np.float32)),
    ("asarray list", lambda np: np.asarray(M)),
    ("asarray dtype", lambda np: np.asarray(np.array(I), dtype=np.float32)),
    ("asarray keeps", lambda np: np.asarray(np.array(I)).tolist()),
    ("zeros", lambda np: np.zeros((2, 3))),
    ("zeros int", lambda np: np.zeros(3, dtype=np.int64)),
    ("ones", lambda np: np.ones((2, 2), dtype="float32")),
    ("full", lambda np: np.full((2, 2), 7)),
    ("full float", lambda np: np.full(3, 0.5)),
    ("zeros_like", lambda np: np.zeros_like(np.array(I))),
    ("ones_like", lambda np: np.ones_like(np.array(M, dtype=np.float32))),
    ("arange", lambda np: np.arange(5)),
    ("arange start stop step", lambda np: np.arange(2, 11, 3)),
    ("arange float", lambda np: np.arange(0, 1, 0.25)),
    ("arange negative step", lambda np: np.arange(5, 0, -2)),
    ("arange dtype", lambda np: np.arange(4, dtype=np.float32)),
    ("linspace", lambda np: np.linspace(0, 1, 5)),
    ("linspace no endpoint", lambda np: np.linspace(-1, 1, 4, endpoint=False)),
    ("linspace thirds", lambda np: np.linspace(0, 1, 7)),
    ("linspace one", lambda np: np.linspace(2, 3, 1)),
    ("eye", lambda np: np.eye(3)),
    ("eye k", lambda np: np.eye(2, 3, k=1, dtype=int)),
    ("identity", lambda np: np.identity(2)),
    ("empty shape", lambda np: np.empty((2, 0)).shape),
    ("full dtype", lambda np: np.full((2,), 1.7, dtype=np.int32)),
    ("linspace int", lambda np: np.linspace(0, 10, 4, dtype=int)),
    ("atleast_2d", lambda np: np.atleast_2d(np.array(ROW))),
    ("copy", lambda np: np.copy(np.array(M))),
    ("itemsize and nbytes", lambda np: [np.array(I, dtype=np.int16).itemsize, np.array(M).nbytes]),
    ("methods in place", _methods_in_place),
    ("nonzero method", lambda np: (np.array(I) > 3).nonzero()),
    ("dtype names", _dtype_names),
    ("dtype call", _dtype_call),
    ("dtype kinds and aliases", _kinds),
    # arithmetic and comparisons with scalars
    ("add int", lambda np: np.array(I) + 1),
    ("add float to int", lambda np: np.array(I) + 0.5),
    ("radd", lambda np: 2 + np.array(M)),
    ("sub", lambda np: np.array(M) - 1),
    ("rsub", lambda np: 10 - np.array(I)),
    ("mul float32 by python float", lambda np: np.array(F32, dtype=np.float32) * 0.1),
    ("mul int32 by int", lambda np: np.array(I, dtype=np.int32) * 3),
    ("mul uint8 wraps", lambda np: np.array([200, 100], dtype=np.uint8) * np.array([2, 3], dtype=np.uint8)),
    ("rmul", lambda np: 0.5 * np.array(I)),
    ("truediv ints", lambda np: np.array(I) / 2),
    ("truediv float32", lambda np: np.array(F32, dtype=np.float32) / 3),
    ("rtruediv", lambda np: 1 / np.array(M)),
    ("truediv by zero", lambda np: np.array([1.0, -1.0, 0.0]) / 0),
    ("floordiv", lambda np: np.array([7, -7, 8]) // 2),
    ("floordiv float", lambda np: np.array([7.5, -7.5]) // 2),
    ("floordiv by zero", lambda np: np.array([1, 2]) // 0),
    ("mod", lambda np: np.array([5, -5, 7]) % 3),
    ("mod float", lambda np: np.array([5.5, -5.5]) % 3),
    ("pow int", lambda np: np.array(I) ** 2),
    ("pow float", lambda np: np.array(M) ** 2),
    ("pow half", lambda np: np.array(I) ** 0.5),
    ("rpow", lambda np: 2 ** np.array(I)),
    ("pow negative int", lambda np: np.array(I) ** -1),
    ("neg", lambda np: -np.array(M)),
    ("neg int8 wraps", lambda np: -np.array([-128, 5], dtype=np.int8)),
    ("pos", lambda np: +np.array(I)),
    ("builtin abs", lambda np: abs(np.array(M))),
    ("bool plus int", lambda np: np.array([True, False]) + 1),
    ("bool plus bool", lambda np: np.array([True, False]) + np.array([True, True])),
    ("bool times float", lambda np: np.array([True, False]) * 1.5),
    ("gt", lambda np: np.array(M) > 0),
    ("ge int vs float", lambda np: np.array(I) >= 2.5),
    ("lt", lambda np: np.array(I) < 3),
    ("le", lambda np: np.array(M) <= 0.5),
    ("eq", lambda np: np.array(I) == 2),
    ("ne", lambda np: np.array(I) != 2),
    ("eq arrays", lambda np: np.array(I) == np.array(I).T.T),
    ("eq float32 with python float", lambda np: np.array(F32, dtype=np.float32) == 0.1),
    ("eq str", lambda np: np.array(["a", "b"]) == "a"),
    ("reversed comparison", lambda np: 2 < np.array(I)),
    ("and masks", lambda np: (np.array(M) > 0) & (np.array(M) < 3.5)),
    ("or masks", lambda np: (np.array(M) < 0) | (np.array(M) > 3.5)),
    ("xor masks", lambda np: (np.array(I) > 2) ^ (np.array(I) > 4)),
    ("invert mask", lambda np: ~(np.array(I) > 2)),
    ("bitwise int", lambda np: np.array(I) & 1),
    ("nan comparisons", lambda np: np.array(NANS) > 0),
    # arithmetic between arrays: dtype promotion
    ("float32 plus int64", lambda np: np.array(F32, dtype=np.float32) + np.arange(5)),
    ("float32 plus int16", lambda np: np.array(F32, dtype=np.float32) + np.arange(5, dtype=np.int16)),
    ("float32 plus float64", lambda np: np.array(F32, dtype=np.float32) + np.array(F32)),
    ("float32 plus float32", lambda np: np.array(F32, dtype=np.float32) + np.array(F32, dtype=np.float32)),
    ("int32 plus uint32", lambda np: np.array(I, dtype=np.int32) + np.array(I, dtype=np.uint32)),
    ("int64 plus uint64", lambda np: np.array(I) + np.array(I, dtype=np.uint64)),
    ("int8 plus int32", lambda np: np.array(I, dtype=np.int8) + np.array(I, dtype=np.int32)),
    ("uint8 plus int8", lambda np: np.array(I, dtype=np.uint8) + np.array(I, dtype=np.int8)),
    ("int8 truediv int8", lambda np: np.array(I, dtype=np.int8) / np.array(I, dtype=np.int8)),
    ("float32 times float32", lambda np: np.array(F32, dtype=np.float32) * np.array(F32, dtype=np.float32)),
    # broadcasting
    ("row broadcast", lambda np: np.array(I) + np.array(ROW)),
    ("column broadcast", lambda np: np.array(I) * np.array(COL)),
    ("column minus row", lambda np: np.array(COL) - np.array(ROW)),
    ("3-D with row", lambda np: np.array(T3) + np.array([1, 2, 3, 4])),
    ("3-D with column", lambda np: np.array(T3) * np.array([[1], [2], [3]])),
    ("3-D with plane", lambda np: np.array(T3) - np.array(T3)[0]),
    ("3-D with (2, 1, 1)", lambda np: np.array(T3) // np.array([[[2]], [[3]]])),
    ("4-D from two", lambda np: np.ones((2, 1, 3, 1)) + np.arange(4)),
    ("size-1 array", lambda np: np.array(M) + np.array([1.0])),
    ("list operand", lambda np: np.array(M) + [1, 2, 3]),
    ("compare broadcast", lambda np: np.array(I) > np.array(COL) * 2),
    ("shapes that do not broadcast", lambda np: np.array(I) + np.array([1, 2])),
    # reductions
    ("sum", lambda np: np.array(M).sum()),
    ("sum int", lambda np: np.array(I).sum()),
    ("sum int32", lambda np: np.array(I, dtype=np.int32).sum(axis=0)),
    ("sum uint8", lambda np: np.array(I, dtype=np.uint8).sum()),
    ("sum bool", lambda np: (np.array(I) > 2).sum()),
    ("sum float32", lambda np: np.array(F32, dtype=np.float32).sum()),
    ("sum axis 0", lambda np: np.array(M).sum(axis=0)),
    ("sum axis 1", lambda np: np.array(M).sum(axis=1)),
    ("sum axis -1 keepdims", lambda np: np.array(M).sum(axis=-1, keepdims=True)),
    ("sum keepdims", lambda np: np.array(M).sum(keepdims=True)),
    ("sum 3-D axis 1", lambda np: np.array(T3).sum(axis=1)),
    ("sum 3-D axes", lambda np: np.array(T3).sum(axis=(0, 2))),
    ("sum 3-D axes keepdims", lambda np: np.array(T3).sum(axis=(0, 2), keepdims=True)),
    ("sum function", lambda np: np.sum(np.array(I), axis=0)),
    ("sum of a list", lambda np: np.sum([1, 2, 3.5])),
    ("sum bad axis", lambda np: np.array(M).sum(axis=2)),
    ("sum long", lambda np: np.array(LONG).sum()),
    ("sum long float32", lambda np: np.array(LONG, dtype=np.float32).sum()),
    ("mean", lambda np: np.array(M).mean()),
    ("mean int", lambda np: np.array(I).mean()),
    ("mean axis 0", lambda np: np.array(I).mean(axis=0)),
    ("mean axis 1 keepdims", lambda np: np.array(M).mean(axis=1, keepdims=True)),
    ("mean float32", lambda np: np.array(F32, dtype=np.float32).mean()),
    ("mean function", lambda np: np.mean(np.array(T3), axis=2)),
    ("max", lambda np: np.array(M).max()),
    ("max axis 0", lambda np: np.array(M).max(axis=0)),
    ("max axis 1 keepdims", lambda np: np.array(I).max(axis=1, keepdims=True)),
    ("max nan", lambda np: np.array(NANS).max()),
    ("max float32", lambda np: np.array(F32, dtype=np.float32).max()),
    ("max function", lambda np: np.max(np.array(T3), axis=(1, 2))),
    ("amax", lambda np: np.amax(np.array(M), axis=1)),
    ("min", lambda np: np.array(M).min()),
    ("min axis 1", lambda np: np.array(I).min(axis=1)),
    ("min function keepdims", lambda np: np.min(np.array(M), axis=0, keepdims=True)),
    ("max of empty", lambda np: np.array([]).max()),
    ("argmax", lambda np: np.array(M).argmax()),
    ("argmax axis 1", lambda np: np.array(P).argmax(axis=1)),
    ("argmax axis 0", lambda np: np.argmax(np.array(P), axis=0)),
    ("argmax keepdims", lambda np: np.argmax(np.array(P), axis=1, keepdims=True)),
    ("argmax ties", lambda np: np.array([3, 7, 7, 1]).argmax()),
    ("argmax nan", lambda np: np.array(NANS).argmax()),
    ("argmax 3-D", lambda np: np.array(T3).argmax(axis=1)),
    ("argmin", lambda np: np.array(M).argmin()),
    ("argmin axis 1", lambda np: np.argmin(np.array(M), axis=1)),
    ("argmin axis -2", lambda np: np.array(M).argmin(axis=-2)),
    ("prod", lambda np: np.array(I).prod(axis=1)),
    ("std", lambda np: np.array(M).std()),
    ("std axis 0", lambda np: np.std(np.array(P), axis=0)),
    ("var ddof", lambda np: np.array(I).var(ddof=1)),
    ("var float32", lambda np: np.array(F32, dtype=np.float32).var()),
    ("std float32 axis 1", lambda np: np.array(P, dtype=np.float32).std(axis=1)),
    ("std long", lambda np: np.array(LONG).std()),
    ("any", lambda np: (np.array(I) > 5).any()),
    ("all axis 1", lambda np: (np.array(I) > 1).all(axis=1)),
    ("count_nonzero", lambda np: np.count_nonzero(np.array(I) > 2)),
    # shape
    ("reshape -1 n", lambda np: np.array(ROW * 4).reshape(-1, 3)),
    ("reshape tuple", lambda np: np.array(T3).reshape((4, 6))),
    ("reshape n -1", lambda np: np.array(T3).reshape(3, -1)),
    ("reshape -1", lambda np: np.array(M).reshape(-1)),
    ("reshape function", lambda np: np.reshape(np.array(I), (3, 2))),
    ("reshape wrong size", lambda np: np.array(I).reshape(4, -1)),
    ("reshape shares data", _reshape_shares),
    ("set shape", _set_shape),
    ("set a wrong shape", _set_wrong_shape),
    ("T", lambda np: np.array(M).T),
    ("T 1-D", lambda np: np.array(ROW).T),
    ("T 3-D", lambda np: np.array(T3).T),
    ("transpose axes", lambda np: np.array(T3).transpose(1, 0, 2)),
    ("transpose function", lambda np: np.transpose(np.array(T3), (2, 0, 1))),
    ("swapaxes", lambda np: np.array(T3).swapaxes(0, 2)),
    ("flatten", lambda np: np.array(T3).flatten()),
    ("ravel", lambda np: np.ravel(np.array(M))),
    ("squeeze", lambda np: np.array([[[1], [2]]]).squeeze()),
    ("squeeze axis", lambda np: np.squeeze(np.array([[[1], [2]]]), axis=0)),
    ("expand_dims", lambda np: np.expand_dims(np.array(M), 1)),
    ("expand_dims -1", lambda np: np.expand_dims(np.array(ROW), -1)),
    ("expand_dims tuple", lambda np: np.expand_dims(np.array(M), (0, 3))),
    ("squeeze bad axis", lambda np: np.squeeze(np.array(M), axis=0)),
    ("concatenate", lambda np: np.concatenate([np.array(M), np.array(I)])),
    ("concatenate axis 1", lambda np: np.concatenate([np.array(M), np.array(COL)], axis=1)),
    ("concatenate 1-D", lambda np: np.concatenate([np.array(ROW), np.array([4.5])])),
    ("concatenate 3-D axis 2", lambda np: np.concatenate([np.array(T3), np.array(T3)], axis=2)),
    ("concatenate None", lambda np: np.concatenate([np.array(M), np.array(ROW)], axis=None)),
    ("concatenate mismatch", lambda np: np.concatenate([np.array(M), np.array(COL)])),
    ("stack", lambda np: np.stack([np.array(ROW), np.array(ROW)])),
    ("stack axis 1", lambda np: np.stack([np.array(ROW), np.array(ROW) * 2], axis=1)),
    ("stack 2-D axis -1", lambda np: np.stack([np.array(M), np.array(I)], axis=-1)),
    ("stack mismatch", lambda np: np.stack([np.array(ROW), np.array([1, 2])])),
    ("vstack 1-D", lambda np: np.vstack([np.array(ROW), np.array(ROW)])),
    ("vstack 2-D", lambda np: np.vstack([np.array(M), np.array(ROW)])),
    ("hstack 1-D", lambda np: np.hstack([np.array(ROW), np.array([0.5])])),
    ("hstack 2-D", lambda np: np.hstack([np.array(M), np.array(COL)])),
    ("column_stack", lambda np: np.column_stack([np.array(ROW), np.array(ROW) * 2])),
    # functions
    ("exp", lambda np: np.exp(np.array(M))),
    ("exp int", lambda np: np.exp(np.array(I))),
    ("exp overflow", lambda np: np.exp(np.array([1000.0, -1000.0]))),
    ("exp float32", lambda np: np.exp(np.array(F32, dtype=np.float32))),
    ("exp int16", lambda np: np.exp(np.array(I, dtype=np.int16))),
    ("exp of a scalar", lambda np: np.exp(1.5)),
    ("log", lambda np: np.log(np.array([1.0, 2.0, 0.0, -1.0]))),
    ("log int", lambda np: np.log(np.array(I))),
    ("log float32", lambda np: np.log(np.array(F32, dtype=np.float32))),
    ("log1p", lambda np: np.log1p(np.array(F32))),
    ("log10", lambda np: np.log10(np.array([1.0, 1000.0]))),
    ("sqrt", lambda np: np.sqrt(np.array([4.0, 2.0, -1.0]))),
    ("sqrt int", lambda np: np.sqrt(np.array(I))),
    ("sqrt float32", lambda np: np.sqrt(np.array(F32, dtype=np.float32))),
    ("tanh", lambda np: np.tanh(np.array(M))),
    ("abs", lambda np: np.abs(np.array(M))),
    ("abs int", lambda np: np.abs(np.array([-3, 4]))),
    ("absolute", lambda np: np.absolute(np.array(M, dtype=np.float32))),
    ("round", lambda np: np.round(np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1.25]))),
    ("round decimals", lambda np: np.round(np.array([2.675, 0.125, 1.005, -3.14159]), 2)),
    ("round negative decimals", lambda np: np.round(np.array([15.0, 25.0, 1234.5]), -1)),
    ("round int", lambda np: np.round(np.array(I))),
    ("round int negative decimals", lambda np: np.round(np.array([15, 25, -35]), -1)),
    ("round float32", lambda np: np.round(np.array(F32, dtype=np.float32), 1)),
    ("around", lambda np: np.around(np.array(M), 1)),
    ("round method", lambda np: np.array(P).round(1)),
    ("floor", lambda np: np.floor(np.array(M))),
    ("ceil", lambda np: np.ceil(np.array(M))),
    ("clip", lambda np: np.clip(np.array(M), -1, 2)),
    ("clip int with float bounds", lambda np: np.clip(np.array(I), 1.5, 4)),
    ("clip int", lambda np: np.clip(np.array(I), 2, 5)),
    ("clip upper only", lambda np: np.clip(np.array(M), None, 1)),
    ("clip method", lambda np: np.array(M, dtype=np.float32).clip(0, 1)),
    ("clip array bounds", lambda np: np.clip(np.array(I), np.array(ROW) - 8, 5)),
    ("clip nan", lambda np: np.clip(np.array(NANS), 0, 2)),
    ("where", lambda np: np.where(np.array(M) > 0, np.array(M), 0)),
    ("where scalars", lambda np: np.where(np.array(I) > 2, 1, 0)),
    ("where float and int", lambda np: np.where(np.array(I) > 2, 1, 0.5)),
    ("where broadcast", lambda np: np.where(np.array(COL) > 1, np.array(ROW), -np.array(ROW))),
    ("where one argument", _where_one_arg),
    ("nonzero", _nonzero_tuple),
    ("maximum", lambda np: np.maximum(np.array(M), 0)),
    ("minimum", lambda np: np.minimum(np.array(I), np.array(ROW))),
    ("maximum nan", lambda np: np.maximum(np.array(NANS), 2)),
    ("isnan", lambda np: np.isnan(np.array(NANS))),
    ("isfinite", lambda np: np.isfinite(np.array([1.0, float("inf"), float("nan")]))),
    ("dot matrix vector", lambda np: np.dot(np.array(M), np.array([1.0, 2.0, 3.0]))),
    ("dot vectors", lambda np: np.dot(np.array(ROW), np.array(ROW))),
    ("dot matrices", lambda np: np.dot(np.array(M), np.array(P))),
    ("dot vector matrix", lambda np: np.dot(np.array([1.0, 2.0]), np.array(M))),
    ("dot method", lambda np: np.array(I).dot(np.array(I).T)),
    ("dot float32", lambda np: np.array(M, dtype=np.float32).dot(np.array(P, dtype=np.float32))),
    ("dot scalar", lambda np: np.dot(np.array(I), 2)),
    ("dot not aligned", lambda np: np.dot(np.array(M), np.array(M))),
    ("matmul", lambda np: np.array(M) @ np.array(P)),
    ("matmul vector", lambda np: np.array(I) @ [1, 2, 3]),
    ("rmatmul list", lambda np: [1, 2] @ np.array(I)),
    ("matmul function", lambda np: np.matmul(np.array(P), np.array(P))),
    ("matmul bool", lambda np: np.array([[True, False]]) @ np.array([[False], [True]])),
    ("astype int", lambda np: np.array(M).astype(np.int64)),
    ("astype int32", lambda np: np.array(M).astype("int32")),
    ("astype float32", lambda np: np.array([0.1, 1 / 3]).astype(np.float32)),
    ("astype float", lambda np: np.array(I).astype(float)),
    ("astype bool", lambda np: np.array(M).astype(bool)),
    ("astype str", lambda np: np.array(I).astype(str)),
    ("astype from str", lambda np: np.array(["1.5", "2"]).astype(np.float64)),
    ("astype uint8 wraps", lambda np: np.array([-1, 256, 300]).astype(np.uint8)),
    ("sort", lambda np: np.sort(np.array(M))),
    ("sort axis 0", lambda np: np.sort(np.array(M), axis=0)),
    ("sort nan", lambda np: np.sort(np.array([3.0, float("nan"), 1.0]))),
    ("argsort", lambda np: np.argsort(np.array([3.0, 1.0, 2.0]))),
    ("top k", _top_k),
    ("unique", lambda np: np.unique(np.array([3, 1, 3, 2, 1]))),
    ("cumsum", lambda np: np.cumsum(np.array(M))),
    ("cumsum axis 0", lambda np: np.cumsum(np.array(I), axis=0)),
    ("cumsum axis 1 float32", lambda np: np.array(P, dtype=np.float32).cumsum(axis=1)),
    ("cumsum 3-D axis 1", lambda np: np.cumsum(np.array(T3), axis=1)),
    ("cumsum bool", lambda np: np.cumsum(np.array([True, False, True]))),
    ("median", lambda np: np.median(np.array(M))),
    ("median odd", lambda np: np.median(np.array(ROW))),
    ("median axis 0", lambda np: np.median(np.array(P), axis=0)),
    ("median axis 1 keepdims", lambda np: np.median(np.array(I), axis=1, keepdims=True)),
    ("median float32", lambda np: np.median(np.array(F32[:4], dtype=np.float32))),
    ("median nan", lambda np: np.median(np.array(NANS))),
    ("isclose", lambda np: np.isclose(np.array([1.0, 1.0 + 1e-9, 1.1, float("inf")]), np.array([1.0, 1.0, 1.0, float("inf")]))),
    ("isclose scalar", lambda np: np.isclose(np.array(F32, dtype=np.float32).sum(), 123.956)),
    ("isclose nan", lambda np: np.isclose(np.array(NANS), np.array(NANS), equal_nan=True)),
    ("allclose", lambda np: [np.allclose(np.array(M), np.array(M) + 1e-9), np.allclose(np.array(M), 0)]),
    ("array_equal", lambda np: [np.array_equal(np.array(I), np.array(I)), np.array_equal(np.array(I), np.array(ROW))]),
    ("softmax float32", _softmax),
    ("softmax float64", _softmax64),
    ("standardise", _standardise),
    # indexing
    ("int index", lambda np: np.array(M)[1]),
    ("negative index", lambda np: np.array(M)[-1]),
    ("element", lambda np: np.array(M)[1, 2]),
    ("element of 1-D", lambda np: np.array(ROW)[-2]),
    ("column", lambda np: np.array(M)[:, 1]),
    ("column slice", lambda np: np.array(M)[:, 1:3]),
    ("row slice", lambda np: np.array(T3)[1:]),
    ("step slice", lambda np: np.array(ROW * 3)[::2]),
    ("reverse slice", lambda np: np.array(M)[::-1, ::-1]),
    ("last column keeps dims", lambda np: np.array(M)[:, -1:]),
    ("3-D mixed", lambda np: np.array(T3)[:, 1, 1:3]),
    ("ellipsis", lambda np: np.array(T3)[..., 0]),
    ("newaxis", lambda np: np.array(ROW)[:, None]),
    ("newaxis front", lambda np: np.array(M)[None, :, 1]),
    ("empty slice", lambda np: np.array(M)[2:]),
    ("bool mask", lambda np: np.array(M)[np.array(M) > 0]),
    ("bool mask rows", lambda np: np.array(M)[np.array([True, False])]),
    ("bool mask columns", lambda np: np.array(M)[:, np.array([True, False, True])]),
    ("bool mask list", lambda np: np.array(ROW)[[False, True, True]]),
    ("bool mask 3-D", lambda np: np.array(T3)[np.array(T3) % 5 == 0]),
    ("bool mask 2-D of 3-D", lambda np: np.array(T3)[np.array([[True, False, True], [False, True, False]])]),
    ("bool mask wrong size", lambda np: np.array(M)[np.array([True, False, True])]),
    ("int array", lambda np: np.array(ROW)[np.array([2, 0, 2])]),
    ("int list rows", lambda np: np.array(M)[[1, 0]]),
    ("int arrays pairs", lambda np: np.array(P)[[0, 1, 2], [2, 1, 0]]),
    ("argmax picks", lambda np: np.array(P)[np.arange(3), np.array(P).argmax(axis=1)]),
    ("int array with slice", lambda np: np.array(T3)[:, [0, 2], 1]),
    ("int array separated", lambda np: np.array(T3)[0, :, [1, 2]]),
    ("int array 2-D", lambda np: np.array(ROW)[np.array([[0, 1], [2, 2]])]),
    ("index out of bounds", lambda np: np.array(M)[2]),
    ("element out of bounds", lambda np: np.array(M)[0, 3]),
    ("too many indices", lambda np: np.array(ROW)[0, 0]),
    ("float index", lambda np: np.array(ROW)[1.0]),
    ("set mask", _set_mask),
    ("set column and row", _set_column),
    ("set fancy", _set_fancy),
    ("set float32", _set_f32),
    ("in-place ops", _iadd),
    ("in-place int refuses float", _iadd_int_refuses_float),
    # conversion
    ("tolist", lambda np: np.array(M).tolist()),
    ("tolist float32", lambda np: np.array(F32, dtype=np.float32).tolist()),
    ("tolist 0-d", lambda np: np.array(3.5).tolist()),
    ("float of element", _float_of_element),
    ("scalars keep their dtype", _scalars),
    ("item", _item),
    ("float of a long array", lambda np: float(np.array(ROW))),
    ("truth of a long array", lambda np: bool(np.array(ROW) > 1)),
    ("truth of one", lambda np: bool(np.array([0]))),
    ("len and iteration", _iterate),
    ("len of 0-d", lambda np: len(np.array(1.5))),
    ("in", lambda np: [10 in np.array(ROW), 11 in np.array(ROW), 2 in np.array(I), 3.5 in np.array(3.5)]),
    ("shape of a list", lambda np: [np.shape(M), np.ndim(T3), np.size(I)]),
]

# Float sums that numpy adds in another order (pairwise, BLAS, or float32 accumulators), and
# functions numpy computes with its own SIMD code rather than the C library's: equal to a few
# ulps, not bit for bit.
APPROX = {
    "dot matrices",
    "matmul",
    "matmul function",
    "exp float32",
    "exp int16",
    "log1p",
    "tanh",
    "log float32",
}


def _dtype_name(d):
    return "str" if d.kind == "U" else d.name


def describe(x):
    """A result as plain data: arrays as (shape, dtype name, nested values), numpy scalars as
    (dtype name, the Python value they hold), Python values with their type."""
    if isinstance(x, real_np.ndarray):
        return ("array", x.shape, _dtype_name(x.dtype), _leaves(x.tolist()))
    if isinstance(x, stand_in.ndarray):
        return ("array", x.shape, x.dtype.name, _leaves(x.tolist()))
    if isinstance(x, (real_np.generic, stand_in.generic)):
        return ("scalar", _dtype_name(x.dtype), _leaves(x.item()))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [describe(v) for v in x])
    # The stand-in gives bool and str elements as plain bool and str.
    if isinstance(x, bool):
        return ("scalar", "bool", _leaves(x))
    if isinstance(x, str):
        return ("scalar", "str", _leaves(x))
    if isinstance(x, (int, float)):
        return ("python", _leaves(x))
    if isinstance(x, real_np.dtype):
        return ("dtype", _dtype_name(x))
    if isinstance(x, stand_in.dtype):
        return ("dtype", x.name)
    raise TypeError(f"unexpected result {x!r}")


def _leaves(v):
    """Nested values with each leaf tagged by its Python type (so 1 != 1.0 != True)."""
    if isinstance(v, list):
        return [_leaves(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_leaves(x) for x in v)
    return (type(v).__name__, v)


def _same(a, b, approx):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y, approx) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if approx:
            return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


def _builtin_base(exc):
    """The nearest built-in exception class (numpy's own classes derive from them)."""
    return next(c for c in type(exc).__mro__ if c.__module__ == "builtins")


def run(case, np):
    with real_np.errstate(all="ignore"):
        return case(np)


DTYPES = ["float64", "float32", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8", "bool"]


def _random_values(rng, shape, name):
    n = math.prod(shape)
    if name == "bool":
        return [rng.random() < 0.5 for _ in range(n)]
    if name.startswith("float"):
        return [rng.choice([rng.uniform(-5, 5), rng.randint(-3, 3), 0.5, -0.0]) for _ in range(n)]
    return [rng.randint(0 if name.startswith("u") else -9, 9) for _ in range(n)]


def _random_case(rng):
    """One seeded case: two arrays of random rank (0 to 4), shapes (mostly broadcastable)
    and dtypes, and an operation on them."""
    s1 = tuple(rng.randint(1, 3) for _ in range(rng.randint(0, 4)))
    if rng.random() < 0.8:  # a shape that broadcasts against s1
        s2 = tuple(rng.choice([n, 1]) for n in s1[rng.randint(0, len(s1)) :])
    else:
        s2 = tuple(rng.randint(1, 3) for _ in range(rng.randint(0, 4)))
    d1, d2 = rng.choice(DTYPES), rng.choice(DTYPES)
    v1, v2 = _random_values(rng, s1, d1), _random_values(rng, s2, d2)
    scalar = rng.choice([2, 0.5, True, -1, 3.0, None])
    axis = rng.choice([None, 0, -1, (0,)]) if s1 else None
    keepdims = rng.random() < 0.3
    index = tuple(
        rng.choice([slice(None), 0, -1, slice(1, None), [0, 0], None]) for _ in range(min(len(s1), 2))
    )
    op = rng.choice(["+", "-", "*", "/", "//", "%", "**", "<", "==", ">=", "&", "|", "reduce", "T",
                     "index", "where", "clip", "maximum", "concatenate", "stack", "scalar"])  # fmt: skip
    reduction = rng.choice(["sum", "mean", "max", "min", "argmax", "argmin"])

    def case(np):
        a, b = np.array(v1, dtype=d1).reshape(s1), np.array(v2, dtype=d2).reshape(s2)
        other = b if scalar is None else scalar
        if op in ("+", "-", "*", "/", "//", "%", "**", "<", "==", ">=", "&", "|"):
            return eval(f"a {op} other")
        if op == "reduce":
            return getattr(a, reduction)(axis=0 if axis == (0,) and "arg" in reduction else axis, keepdims=keepdims)
        if op == "T":
            return a.T
        if op == "index":
            return a[index] if s1 else a[()]
        if op == "where":
            return np.where(a > 0, a, other)
        if op == "clip":
            return np.clip(a, -1, scalar if scalar is not None else 2)
        if op == "maximum":
            return np.maximum(a, other)
        if op == "concatenate":
            return np.concatenate([a, a], axis=axis if isinstance(axis, int) else 0)
        if op == "stack":
            return np.stack([a, a], axis=-1)
        return a.sum() * b  # a numpy-style scalar combined with an array

    return f"{op} {reduction} {d1}{s1} {d2}{s2} scalar={scalar} axis={axis} keepdims={keepdims} index={index}", case


class HostBytesTest(unittest.TestCase):
    """Arrays decoded from the host's tensor bytes give them back unchanged, and re-encode
    after any change, whichever array or list method made it."""

    def test_bytes_come_back_until_the_elements_change(self):
        source = real_np.arange(12, dtype=real_np.float32).reshape(3, 4)
        data = source.tobytes()

        def decoded():
            return stand_in._from_bytes(data, (3, 4), "float32")

        a = decoded()
        self.assertIs(stand_in._to_bytes(a), data)
        # Passed on unchanged, the bytes were never turned into Python numbers.
        self.assertIsNone(a._data)
        self.assertEqual((a.shape, a.size, a.nbytes, a.dtype.name), ((3, 4), 12, 48, "float32"))
        self.assertEqual(a.tolist(), source.tolist())
        self.assertIs(stand_in._to_bytes(a), data)
        self.assertEqual(stand_in._to_bytes(a.reshape(12)), data)
        with self.assertRaises(ValueError):
            stand_in._from_bytes(data[:-1], (3, 4), "float32")
        with self.assertRaises(ValueError):
            stand_in._from_bytes(data, (2, 4), "float32")
        changes = [
            lambda a: a.__setitem__((0, 0), 7.0),
            lambda a: a.reshape(12).__setitem__(5, -1.0),
            lambda a: a.__iadd__(1.0),
            lambda a: a.fill(2.0),
            lambda a: a.sort(),
        ]
        for change in changes:
            a = decoded()
            expected = real_np.frombuffer(data, dtype=real_np.float32).reshape(3, 4).copy()
            change(a)
            change(expected)
            self.assertEqual(stand_in._to_bytes(a), expected.tobytes())
        # Another dtype of the same elements is encoded as that dtype.
        self.assertEqual(stand_in._to_bytes(decoded().astype("float64")), source.astype(real_np.float64).tobytes())


class StandInAgainstNumpyTest(unittest.TestCase):
    def test_every_case_gives_what_numpy_gives(self):
        self.assertEqual(len({name for name, _ in CASES}), len(CASES), "case names are unique")
        self.assertTrue(APPROX <= {name for name, _ in CASES})
        for name, case in CASES:
            with self.subTest(name):
                self._check(name, case, approx=name in APPROX)

    def test_random_ranks_shapes_dtypes_and_operations_give_what_numpy_gives(self):
        rng = random.Random(14)
        for _ in range(2000):
            name, case = _random_case(rng)
            with self.subTest(name):
                # numpy's float32 pow is its own (a ulp from the correctly rounded value).
                self._check(name, case, approx=name.startswith("**"))

    def _check(self, name, case, approx):
        try:
            expected = describe(run(case, real_np))
        except Exception as exc:
            base = _builtin_base(exc)
            with self.assertRaises(base, msg=f"numpy raised {type(exc).__name__}: {exc}"):
                run(case, stand_in)
            return
        got = describe(run(case, stand_in))
        self.assertTrue(_same(got, expected, approx), f"\nstand-in: {got}\n   numpy: {expected}")

    def test_a_size_one_array_converts_to_a_number_as_in_numpy_1(self):
        # numpy 2.4 refuses float() of a 1-element array that is not 0-d; numpy 1.x, which
        # many Azure ML environments pin, allows it, and so does the stand-in.
        self.assertEqual(float(stand_in.array([2.5])), 2.5)
        self.assertEqual(int(stand_in.array([[7]])), 7)

    def test_float32_results_are_rounded_to_float32(self):
        # 0.1 is not a float32: numpy stores the nearest float32, and so must the stand-in.
        self.assertEqual(stand_in.array([0.1], dtype=stand_in.float32).tolist(), [float(real_np.float32(0.1))])
        self.assertNotEqual(stand_in.float32(0.1), 0.1)


if __name__ == "__main__":
    unittest.main()
