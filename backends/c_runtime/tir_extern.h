/*
 * tir_extern.h -- library functions called from generated host code (dialects/extern.py), included after
 * tir_runtime.h by a module that has a lib.py_call or a lib.extern_c with `library`.
 *
 *   int tir_py_call(ctx, where, fn, nin, ins, in_types, nout, outs, out_types, allocate)
 *       calls the Python function registered as `fn` (tensorir.as_op) through
 *       tensorir.dialects.extern.dispatch, on numpy arrays that view the input buffers (read-only, any
 *       strides).  allocate = 0: outs are preallocated buffers the results are copied into; allocate = 1:
 *       outs are filled with fresh C-contiguous tir_alloc blocks holding copies of the results (shapes from
 *       the results; the caller frees them with tir_free).  Takes the GIL when tir_main runs without it
 *       (ctx->tstate, as tir_result) and gives it back.  0, or -1 with the error set: the Python
 *       exception's type and message after `where` (ValueError at the caller).
 *   void* tir_extern_symbol(ctx, where, path, name)
 *       dlopen(path) and dlsym(name) (a lib.extern_c with `library`): the symbol, or NULL with the error set.
 */
#ifndef TIR_EXTERN_H
#define TIR_EXTERN_H

#include <dlfcn.h>
#include <string.h>

/* The Python exception as a failure of ctx: "<where> <Type>: <message>" (a ValueError of our own checks is
 * shown without its type). Needs the GIL. */
static int tir__python_fail(tir_ctx* ctx, const char* where) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject* text = value ? PyObject_Str(value) : NULL;
    const char* s = text ? PyUnicode_AsUTF8(text) : NULL;
    const char* kind = type ? ((PyTypeObject*)type)->tp_name : "error";
    if (strcmp(kind, "PyCallError") == 0)
        tir_fail(ctx, "%s %s", where, s ? s : "");
    else
        tir_fail(ctx, "%s %s: %s", where, kind, s ? s : "");
    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return -1;
}

/* A numpy array viewing buffer b of numpy type `typenum` (strides in elements -> bytes). */
static PyObject* tir__buf_array(const tir_buf* b, int typenum, int writeable) {
    npy_intp dims[TIR_MAX_DIMS], strides[TIR_MAX_DIMS];
    PyArray_Descr* descr = PyArray_DescrFromType(typenum);
    if (!descr) return NULL;
    npy_intp item = (npy_intp)PyDataType_ELSIZE(descr);
    for (int d = 0; d < b->ndim; ++d) {
        dims[d] = (npy_intp)b->shape[d];
        strides[d] = (npy_intp)b->strides[d] * item;
    }
    /* steals descr */
    return PyArray_NewFromDescr(&PyArray_Type, descr, b->ndim, dims, strides, b->data,
                                NPY_ARRAY_ALIGNED | (writeable ? NPY_ARRAY_WRITEABLE : 0), NULL);
}

static PyObject* tir__buf_tuple(const tir_buf* bufs, const int* types, int n, int writeable) {
    PyObject* t = PyTuple_New(n);
    for (int i = 0; t && i < n; ++i) {
        PyObject* a = tir__buf_array(&bufs[i], types[i], writeable);
        if (!a) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, a);
    }
    return t;
}

/* outs[k] = a tir_alloc copy of the C-contiguous array results[k]. */
static int tir__adopt_results(tir_ctx* ctx, PyObject* results, int nout, tir_buf* outs) {
    for (int k = 0; k < nout; ++k) {
        PyArrayObject* a = (PyArrayObject*)PyTuple_GET_ITEM(results, k);
        size_t bytes = (size_t)PyArray_NBYTES(a);
        char* p = (char*)tir_alloc(ctx, bytes ? bytes : 1);
        if (!p) return -1;
        memcpy(p, PyArray_DATA(a), bytes);
        outs[k].data = p;
        outs[k].ndim = PyArray_NDIM(a);
        int64_t s = 1;
        for (int d = PyArray_NDIM(a) - 1; d >= 0; --d) {
            outs[k].shape[d] = (int64_t)PyArray_DIMS(a)[d];
            outs[k].strides[d] = s;
            s *= outs[k].shape[d];
        }
    }
    return 0;
}

__attribute__((unused))
static int tir_py_call(tir_ctx* ctx, const char* where, const char* fn, int nin, const tir_buf* ins,
                       const int* in_types, int nout, tir_buf* outs, const int* out_types, int allocate) {
    static PyObject* dispatch = NULL; /* tensorir.dialects.extern.dispatch, looked up once */
    int rc = -1;
    if (ctx->tstate) PyEval_RestoreThread(ctx->tstate);
    PyObject *args = NULL, *res = NULL, *result = NULL;
    if (!dispatch) {
        PyObject* mod = PyImport_ImportModule("tensorir.dialects.extern");
        dispatch = mod ? PyObject_GetAttrString(mod, "dispatch") : NULL;
        Py_XDECREF(mod);
        if (!dispatch) goto fail;
    }
    args = tir__buf_tuple(ins, in_types, nin, 0);
    if (!args) goto fail;
    if (allocate) {
        res = Py_None;
        Py_INCREF(res);
    } else if (!(res = tir__buf_tuple(outs, out_types, nout, 1))) {
        goto fail;
    }
    result = PyObject_CallFunction(dispatch, "sOO", fn, args, res);
    if (!result) goto fail;
    rc = allocate ? tir__adopt_results(ctx, result, nout, outs) : 0;
    goto done;
fail:
    tir__python_fail(ctx, where);
done:
    Py_XDECREF(args);
    Py_XDECREF(res);
    Py_XDECREF(result);
    if (ctx->tstate) ctx->tstate = PyEval_SaveThread();
    return rc;
}

__attribute__((unused))
static void* tir_extern_symbol(tir_ctx* ctx, const char* where, const char* path, const char* name) {
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        tir_fail(ctx, "%s cannot open %s: %s", where, path, dlerror());
        return NULL;
    }
    void* sym = dlsym(lib, name);
    if (!sym) tir_fail(ctx, "%s %s has no function %s", where, path, name);
    return sym;
}

#endif /* TIR_EXTERN_H */
