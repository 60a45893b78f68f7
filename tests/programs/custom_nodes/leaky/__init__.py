"""A custom node package (ComfyUI's layout) that caches what it is given: holders_ctypes.py's
`custom_nodes/<name>/...` root."""

CACHE = {}


def remember(key, buffer):
    CACHE[key] = buffer
