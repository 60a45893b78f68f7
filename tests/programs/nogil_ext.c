/*
 * nogil_ext: a CPython extension module whose functions release the GIL around the CUDA call,
 * as C extensions do (`Py_BEGIN_ALLOW_THREADS`; pybind11's gil_scoped_release and Cython's
 * nogil compile to the same). Built at test time against the installed Python's headers and
 * the fake libcudart (test `a_c_extension_that_releases_the_gil_gets_its_callers_lines`), not
 * by build.rs. Driven by nogil_sampler.py.
 *
 *   nogil_ext.alloc(size) -> int    cudaMalloc with the GIL released; raises on failure
 *   nogil_ext.free(ptr)             cudaFree with the GIL released
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fake_cuda_runtime.h"

static PyObject *ext_alloc(PyObject *self, PyObject *args)
{
    (void)self;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "n", &size))
        return NULL;
    void *p = NULL;
    cudaError_t rc;
    Py_BEGIN_ALLOW_THREADS
    rc = cudaMalloc(&p, (size_t)size);
    Py_END_ALLOW_THREADS
    if (rc != cudaSuccess)
        return PyErr_Format(PyExc_MemoryError, "cudaMalloc returned %d", rc);
    return PyLong_FromVoidPtr(p);
}

static PyObject *ext_free(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *o;
    if (!PyArg_ParseTuple(args, "O", &o))
        return NULL;
    void *p = PyLong_AsVoidPtr(o);
    if (p == NULL && PyErr_Occurred())
        return NULL;
    cudaError_t rc;
    Py_BEGIN_ALLOW_THREADS
    rc = cudaFree(p);
    Py_END_ALLOW_THREADS
    if (rc != cudaSuccess)
        return PyErr_Format(PyExc_RuntimeError, "cudaFree returned %d", rc);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"alloc", ext_alloc, METH_VARARGS, "cudaMalloc with the GIL released"},
    {"free", ext_free, METH_VARARGS, "cudaFree with the GIL released"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "nogil_ext", NULL, -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_nogil_ext(void) { return PyModule_Create(&module); }
