/*
 * pylayout: the offsets gpuleak's hook reads Python frames by (hook/src/pyread.rs), as this
 * CPython's own headers define them. Compiled by the test `the_layout_table_matches_the_headers`
 * against the installed Python's headers (internal ones included), not by build.rs: prints one
 * `<field> <offset>` line per field of pyread.rs's `Layout`, named as there.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>

#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_code.h"
#include "internal/pycore_frame.h"
#if PY_VERSION_HEX >= 0x030D0000
#include "internal/pycore_runtime.h"
#endif
#else
#include <frameobject.h>
#endif

#define FIELD(name, value) printf("%s %zu\n", name, (size_t)(value))

int main(void)
{
    printf("version %d.%d\n", PY_MAJOR_VERSION, PY_MINOR_VERSION);
#if PY_VERSION_HEX < 0x030B0000
    /* 3.9, 3.10: frame objects; the name is co_name, the table co_lnotab / co_linetable. */
    FIELD("current_frame", offsetof(PyThreadState, frame));
    FIELD("frame_code", offsetof(PyFrameObject, f_code));
    FIELD("frame_previous", offsetof(PyFrameObject, f_back));
    FIELD("frame_instr", offsetof(PyFrameObject, f_lasti));
    FIELD("code_qualname", offsetof(PyCodeObject, co_name));
#if PY_VERSION_HEX >= 0x030A0000
    FIELD("code_linetable", offsetof(PyCodeObject, co_linetable));
#else
    FIELD("code_linetable", offsetof(PyCodeObject, co_lnotab));
#endif
#else
#if PY_VERSION_HEX < 0x030D0000
    FIELD("tstate_cframe", offsetof(PyThreadState, cframe));
    FIELD("current_frame", offsetof(_PyCFrame, current_frame));
    FIELD("frame_code", offsetof(_PyInterpreterFrame, f_code));
    FIELD("frame_instr", offsetof(_PyInterpreterFrame, prev_instr));
#else
    FIELD("current_frame", offsetof(PyThreadState, current_frame));
    FIELD("frame_code", offsetof(_PyInterpreterFrame, f_executable));
    FIELD("frame_instr", offsetof(_PyInterpreterFrame, instr_ptr));
#endif
    FIELD("code_firsttraceable", offsetof(PyCodeObject, _co_firsttraceable));
    FIELD("frame_previous", offsetof(_PyInterpreterFrame, previous));
    FIELD("frame_owner", offsetof(_PyInterpreterFrame, owner));
    FIELD("owner_generator", FRAME_OWNED_BY_GENERATOR);
#if PY_VERSION_HEX >= 0x030E0000
    /* The lowest owner of the interpreter's own frames: 3.14 numbers those it owns below
     * those on the C stack, and skips both. */
    FIELD("owner_cstack", FRAME_OWNED_BY_INTERPRETER);
#elif PY_VERSION_HEX >= 0x030C0000
    FIELD("owner_cstack", FRAME_OWNED_BY_CSTACK);
#endif
    FIELD("code_qualname", offsetof(PyCodeObject, co_qualname));
    FIELD("code_linetable", offsetof(PyCodeObject, co_linetable));
    FIELD("code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
#endif
    FIELD("code_firstlineno", offsetof(PyCodeObject, co_firstlineno));
    FIELD("code_filename", offsetof(PyCodeObject, co_filename));
    FIELD("str_state", offsetof(PyASCIIObject, state));
    FIELD("str_ascii_data", sizeof(PyASCIIObject));
    FIELD("str_utf8", offsetof(PyCompactUnicodeObject, utf8));
    FIELD("str_utf8_length", offsetof(PyCompactUnicodeObject, utf8_length));
#if PY_VERSION_HEX >= 0x030D0000
    /* Where _Py_DebugOffsets keeps each offset (pyread.rs's DebugPositions of this version). */
#define DEBUG(name, member) FIELD("debug_" name, offsetof(_Py_DebugOffsets, member))
    DEBUG("free_threaded", free_threaded);
    DEBUG("current_frame", thread_state.current_frame);
    DEBUG("frame_previous", interpreter_frame.previous);
    DEBUG("frame_code", interpreter_frame.executable);
    DEBUG("frame_instr", interpreter_frame.instr_ptr);
    DEBUG("frame_owner", interpreter_frame.owner);
    DEBUG("code_filename", code_object.filename);
    DEBUG("code_qualname", code_object.qualname);
    DEBUG("code_linetable", code_object.linetable);
    DEBUG("code_firstlineno", code_object.firstlineno);
    DEBUG("code_adaptive", code_object.co_code_adaptive);
    DEBUG("ob_type", pyobject.ob_type);
    DEBUG("str_state", unicode_object.state);
    DEBUG("str_ascii_size", unicode_object.asciiobject_size);
#endif
    /* The constants pyread.rs assumes for every version. */
    FIELD("ob_type", offsetof(PyObject, ob_type));
    FIELD("ob_size", offsetof(PyVarObject, ob_size));
    FIELD("bytes_data", offsetof(PyBytesObject, ob_sval));
    return 0;
}
