"""Iteration marks for gpuleak, the GPU memory leak profiler.

    import gpuleak

    for step in range(steps):
        with gpuleak.iteration("step"):
            latents = denoise(latents)

or ``gpuleak.mark_iteration("step")`` at the start of each step. When the program does not run
under gpuleak (its hook is not loaded), both do nothing and cost next to nothing, so the marks
can stay in the code. No dependencies beyond the standard library.
"""

import contextlib
import ctypes

__all__ = ["mark_iteration", "iteration", "active"]


def _find_mark():
    # The hook exports gpuleak_mark_iteration; look it up in the process without loading anything.
    try:
        fn = ctypes.CDLL(None).gpuleak_mark_iteration
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_char_p]
    fn.restype = None
    return fn


_mark = _find_mark()


def active():
    """True when the program runs under gpuleak and marks are recorded."""
    return _mark is not None


def mark_iteration(label=None):
    """Marks the start of an iteration (a sampling step, an image). `label` is optional."""
    if _mark is None:
        return
    _mark(None if label is None else str(label).encode("utf-8", "replace"))


@contextlib.contextmanager
def iteration(label=None):
    """Marks the start of an iteration for the duration of a ``with`` block."""
    mark_iteration(label)
    yield
