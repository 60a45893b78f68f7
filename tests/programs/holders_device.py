"""Device memory from the fake runtime through ctypes, owned by objects whose type has
`__cuda_array_interface__` (as CuPy's and Numba's arrays do): shared by the holders programs."""
import ctypes

cudart = ctypes.CDLL("libcudart.so.12")
cudart.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
cudart.cudaMalloc.restype = ctypes.c_int


class DeviceBuffer:
    """`nbytes` of device memory; prints `alloc NAME ADDRESS SIZE` for the tests to match."""

    def __init__(self, name, nbytes):
        p = ctypes.c_void_p()
        rc = cudart.cudaMalloc(ctypes.byref(p), nbytes)
        if rc != 0:
            raise MemoryError(f"cudaMalloc({nbytes}) failed with {rc}")
        self.ptr = p.value
        self.nbytes = nbytes
        print(f"alloc {name} {self.ptr} {nbytes}", flush=True)

    @property
    def __cuda_array_interface__(self):
        return {"shape": (self.nbytes,), "typestr": "|u1", "data": (self.ptr, False), "version": 3}
