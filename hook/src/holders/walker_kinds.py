# gpuleak's holders walker, part 1 of 3: the numbers it shares with the trace, what kinds of
# object it tells apart, small helpers. walker_names.py (paths) and walker.py (the walk) follow
# it in one namespace. The hook runs the three inside the profiled Python program, in a
# namespace of its own (never in sys.modules), with `_emit(text)`, `_clock_us()` and
# `_exit_gate()` given by the hook (hook/src/holders/inside.rs). It finds the owners of device
# memory (CUDA tensors by storage, objects whose type has `__cuda_array_interface__`) and the
# shortest reference path from a root to each, and hands the result to `_emit` as text (see
# hook/src/holders/parse.rs for the format).
#
# It must never change what the program computes: the collector is paused for the walk (never
# run), nothing is allocated on the device, no package is imported (torch is taken from
# sys.modules when the program has it), every exception is contained, and nothing the walk
# builds outlives it.

import gc
import sys

# The numbers are the trace's (trace/src/holders.rs): HoldersReason, WalkEnd, Role, RootKind.
EXIT, OUT_OF_MEMORY, ON_DEMAND = 1, 2, 3
COMPLETE, TIME_CAP, OBJECT_CAP, UNAVAILABLE, FAILED = 1, 2, 3, 4, 5
PARAMETER, BUFFER, GRADIENT, OPTIMIZER_STATE, AUTOGRAD, USER_HELD, FROM_C = 1, 2, 3, 4, 5, 6, 7
ROOT_GLOBAL, ROOT_FRAME, ROOT_GENERATOR, ROOT_NONE = 1, 2, 3, 4

# How an object was reached from its parent; the key names the edge.
E_ROOT, E_NAME, E_INDEX, E_KEY, E_ATTR, E_PARAM, E_BUFFER, E_GRAD = 0, 1, 2, 3, 4, 5, 6, 7
E_GRAD_FN, E_OPT_STATE, E_CLOSURE, E_LOCAL, E_REF, E_DICT_KEY = 8, 9, 10, 11, 12, 13

# How an object's references are followed, by type.
(H_SKIP, H_DICT, H_SEQ, H_SET, H_TENSOR, H_CAI, H_PYMOD, H_TYPE, H_FUNC, H_METHOD, H_CELL,
 H_GEN, H_FRAME, H_NNMOD, H_OPTIM, H_AUTOGRAD, H_OBJ, H_REFS, H_TB) = range(19)

_config = {"seconds": 2.0, "objects": 5000000}


def _traceback():
    try:
        raise ValueError
    except ValueError as e:
        return e.__traceback__


def _types():
    def gen():
        yield

    async def coro():
        pass

    async def agen():
        yield

    x = 0

    def cell():
        return x

    g, c, a = gen(), coro(), agen()
    out = {
        "module": type(sys),
        "function": type(_types),
        "method": type((lambda: 0).__get__(0)),
        "cell": type(cell.__closure__[0]),
        "generator": type(g),
        "coroutine": type(c),
        "async_generator": type(a),
        "frame": type(sys._getframe()),
        "traceback": type(_traceback()),
        "getset": type(type.__dict__["__dict__"]),
        "member": type(type.__dict__["__basicsize__"]),
    }
    c.close()
    return out


_T = _types()
_ATOMIC = frozenset((str, bytes, int, float, complex, bool, type(None), bytearray, range,
                     type(Ellipsis)))
_GENS = (_T["generator"], _T["coroutine"], _T["async_generator"])


def _esc(s):
    s = str(s).replace("\\", "\\\\")
    return s.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _short(path):
    """A module's file as the report shows it: whose code it is, not where it was installed."""
    p = str(path).replace("\\", "/")
    for mark in ("/site-packages/", "/dist-packages/"):
        at = p.rfind(mark)
        if at >= 0:
            return "site-packages/" + p[at + len(mark):]
    at = p.rfind("/custom_nodes/")
    if at >= 0:
        return p[at + 1:]
    return p


def _gen_frame(g):
    for name in ("gi_frame", "cr_frame", "ag_frame"):
        f = getattr(g, name, None)
        if f is not None:
            return f
    return None


def _gen_code(g):
    return getattr(g, "gi_code", None) or getattr(g, "cr_code", None) or getattr(g, "ag_code")


def _suspended(g):
    """Paused at a yield or await (not running, not finished), without making its frame."""
    for name in ("gi_suspended", "cr_suspended", "ag_suspended"):
        v = getattr(g, name, None)
        if v is not None:
            return v
    if sys.version_info >= (3, 11):
        # An async generator says nothing without making its frame: not taken as a root.
        return False
    # Before 3.11 every generator has its frame object already.
    f = _gen_frame(g)
    running = getattr(g, "gi_running", False) or getattr(g, "ag_running", False)
    return f is not None and not running


def _key_text(k):
    if type(k) in (str, int, float, bool, bytes, type(None)):
        r = repr(k)
        return r if len(r) <= 40 else r[:37] + "..."
    if type(k) is tuple and len(k) <= 4 and all(type(x) in (str, int, float, bool) for x in k):
        return repr(k)
    return "<" + type(k).__name__ + ">"
