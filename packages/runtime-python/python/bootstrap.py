"""Nimbus's Python runtime: Function Compute's Python 3 contract inside an instance.

It speaks length-prefixed msgpack frames with the invoker on fd 3 (the same frames as the Node.js
runtime), imports the handler from /code (or a layer's /opt/python), runs the initializer once, and
runs invocations, each in a thread of its own so that instanceConcurrency > 1 works, attributing
whatever each prints (print, sys.stdout/stderr, the logging module) to the request it runs for.
"""

import contextvars
import importlib
import io
import json
import logging
import os
import queue
import struct
import sys
import threading
import time
import traceback

# Debian's python3-msgpack, taken privately: a function may vendor its own msgpack, which must be the
# one it imports (its name is freed again at once). An interpreter that does not see Debian's
# packages (a venv, a Python built elsewhere) takes the invoker's copy of it next to this file, whose
# compiled part loads where the interpreter's version matches and whose pure-Python part works anywhere.
try:
    import msgpack as _msgpack
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "_vendor"))
    try:
        import msgpack as _msgpack
    finally:
        del sys.path[0]

from _nimbus_fc import build_context, run_wsgi

for _name in [n for n in sys.modules if n == "msgpack" or n.startswith("msgpack.")]:
    del sys.modules[_name]

CONTROL_FD = 3
MAX_FRAME_BYTES = 40 * 1024 * 1024
MAX_RESULT_BYTES = 32 * 1024 * 1024

_control = os.fdopen(CONTROL_FD, "rb", buffering=0, closefd=False)
_send_lock = threading.Lock()


_forked = []


def _after_fork_in_child():
    # A process the function forked is not the instance: it must not speak on the control channel
    # (its frames would answer calls it is not running), and its output is the instance's own.
    _forked.append(True)
    try:
        os.close(CONTROL_FD)
    except OSError:
        pass


os.register_at_fork(after_in_child=_after_fork_in_child)


def send(message):
    if _forked:
        return
    data = _msgpack.packb(message, use_bin_type=True)
    frame = struct.pack(">I", len(data)) + data
    with _send_lock:
        view = memoryview(frame)
        while view:
            view = view[os.write(CONTROL_FD, view) :]


def frames():
    """Yields every frame the invoker sends, until it closes the channel."""
    buffered = b""
    while True:
        chunk = _control.read(65536)
        if not chunk:
            return
        buffered += chunk
        while len(buffered) >= 4:
            (length,) = struct.unpack(">I", buffered[:4])
            if length > MAX_FRAME_BYTES:
                raise ValueError("frame of %d bytes exceeds the limit" % length)
            if len(buffered) < 4 + length:
                break
            body, buffered = buffered[4 : 4 + length], buffered[4 + length :]
            yield _msgpack.unpackb(body, raw=False)


# ---- output: every write belongs to the invocation whose thread made it (id 0: none) ----

_current = contextvars.ContextVar("nimbus_invocation", default=None)


class _Invocation:
    def __init__(self, frame_id, request_id):
        self.id = frame_id
        self.request_id = request_id


# Output leaves in frames of at most this much; a single write over the per-invocation output limit
# (FunctionInfo.maxOutputBytes, set at load) is replaced by a note rather than copied whole.
CHUNK_BYTES = 64 * 1024
_limits = {"max_write": 10 * 1024 * 1024}


def _log(stream, data):
    if _forked:
        view = memoryview(data)
        while view:
            view = view[os.write(stream, view) :]
        return
    invocation = _current.get()
    frame_id = invocation.id if invocation else 0
    for at in range(0, len(data), CHUNK_BYTES):
        send({"t": "log", "id": frame_id, "stream": stream, "data": data[at : at + CHUNK_BYTES]})


def _too_big(size, what):
    if size <= _limits["max_write"]:
        return False
    note = "[nimbus] a single write of %d %s was dropped: it exceeds the output limit of %d MB per invocation\n"
    _log(2, (note % (size, what, round(_limits["max_write"] / 1024 / 1024))).encode())
    return True


class _BinaryOutput(io.RawIOBase):
    """sys.stdout.buffer / sys.stderr.buffer: bytes to `log` frames of the current invocation."""

    def __init__(self, stream):
        self._stream = stream

    def writable(self):
        return True

    def write(self, data):
        size = memoryview(data).nbytes
        if size and not _too_big(size, "bytes"):
            _log(self._stream, bytes(data))
        return size


class _Output(io.TextIOBase):
    """sys.stdout / sys.stderr: text to `log` frames of the current invocation."""

    def __init__(self, stream, fallback):
        self._stream = stream
        self._fallback = fallback
        self.buffer = _BinaryOutput(stream)

    def writable(self):
        return True

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        if text and not _too_big(len(text), "characters"):
            _log(self._stream, text.encode("utf-8", "replace"))
        return len(text)

    def flush(self):
        pass

    def fileno(self):
        # Child processes inherit the real descriptor: their output is the instance's own.
        return self._fallback.fileno()

    @property
    def encoding(self):
        return "utf-8"

    def isatty(self):
        return False


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        invocation = _current.get()
        record.fc_request_id = invocation.request_id if invocation else ""
        return True


class _FcFormatter(logging.Formatter):
    """FC's Python log line: `<UTC time with ms>Z <request id> [<LEVEL>] <message>`."""

    def formatTime(self, record, datefmt=None):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + ".%03dZ" % record.msecs


def _setup_output():
    sys.stdout = _Output(1, sys.__stdout__)
    sys.stderr = _Output(2, sys.__stderr__)
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(_FcFormatter("%(asctime)s %(fc_request_id)s [%(levelname)s] %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)


# ---- errors as FC's Python runtime reports them ----


def function_error(exc):
    frames = traceback.extract_tb(exc.__traceback__)
    # The runtime's own frames are not the function's stack.
    frames = [f for f in frames if f.filename != __file__]
    body = {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": [['File "%s"' % f.filename, "line %d" % f.lineno, "in %s" % f.name, f.line or ""] for f in frames],
    }
    message = body["errorMessage"]
    return {"errorType": "UnhandledInvocationError", "errorMessage": message, "body": json.dumps(body).encode("utf-8")}


def serialize_result(value):
    """FC's conversion of an event handler's return value."""
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value).encode("utf-8")


# ---- loading ----

_state = {"fn": None, "handler": None, "initializer": None, "pre_stop": None}


class HandlerNotFound(Exception):
    pass


def resolve(handler_name):
    """FC's `module.function` (the module may be dotted: `pkg.mod.handler`)."""
    module_name, dot, function_name = handler_name.rpartition(".")
    if not dot or not module_name or not function_name:
        raise ValueError("Invalid handler '%s'" % handler_name)
    module = importlib.import_module(module_name)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise HandlerNotFound("Handler '%s' is missing on module '%s'" % (function_name, module_name))
    return function


def load(fn):
    env = fn.get("processEnv")
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    _state["fn"] = fn
    if fn.get("maxOutputBytes"):
        _limits["max_write"] = fn["maxOutputBytes"]
    runtime = fn.get("runtime") or ""
    wanted = runtime[len("python") :] if runtime.startswith("python3.") else ""
    actual = "%d.%d" % sys.version_info[:2]
    if wanted and wanted != actual:
        # Outside any invocation: the function's own log, and the first call's Tail.
        sys.stderr.write("[nimbus] %s runs on Python %s (%s): this node has no Python %s\n" % (runtime, sys.version.split()[0], sys.executable, wanted))
    code = os.environ.get("FC_FUNC_CODE_PATH", "/code/").rstrip("/") or "/code"
    # As on FC: the code directory, then layers' /opt/python, import without any setup.
    for path in reversed([code, "/opt/python"]):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        os.chdir(code)
        if fn.get("initializer"):
            _state["initializer"] = resolve(fn["initializer"])
        _state["handler"] = resolve(fn["handler"])
        if fn.get("preStop"):
            _state["pre_stop"] = resolve(fn["preStop"])
        send({"t": "loaded"})
    except BaseException as exc:  # an import may raise anything, SystemExit included
        send({"t": "loaded", "error": function_error(exc)})


# ---- invocations ----


# Calls run on worker threads that stay for the next call (starting a thread costs ~10× handing work
# to one that waits); a new one starts only when none is idle, so instanceConcurrency calls run at once.
_tasks = queue.SimpleQueue()
_idle_lock = threading.Lock()
_idle = [0]


def _worker():
    while True:
        context, target = _tasks.get()
        context.run(target)
        with _idle_lock:
            _idle[0] += 1


def _in_thread(target):
    with _idle_lock:
        start = _idle[0] == 0
        if not start:
            _idle[0] -= 1
    _tasks.put((contextvars.copy_context(), target))
    if start:
        threading.Thread(target=_worker, daemon=True).start()


def run_hook(frame_id, ctx, hook, label, reply):
    """Runs a lifecycle hook (`hook(context)`) in a thread, between FC's Start/End lines, and answers `reply`."""

    def run():
        _current.set(_Invocation(frame_id, ctx["requestId"]))
        print("FC %s Start RequestId: %s" % (label, ctx["requestId"]))
        error = None
        try:
            if _state[hook]:
                _state[hook](build_context(_state["fn"], ctx))
        except BaseException as exc:
            error = function_error(exc)
        print("FC %s End RequestId: %s" % (label, ctx["requestId"]))
        send({"t": reply, "id": frame_id, "error": error} if error else {"t": reply, "id": frame_id})

    _in_thread(run)


def invoke(frame):
    frame_id = frame["id"]
    ctx = frame["ctx"]

    def run():
        _current.set(_Invocation(frame_id, ctx["requestId"]))
        try:
            handler = _state["handler"]
            if handler is None:
                raise RuntimeError("the runtime was not loaded")
            context = build_context(_state["fn"], ctx)
            if frame["kind"] == "http":
                body, http = run_wsgi(handler, frame["http"], frame["body"], context)
                result = {"t": "result", "id": frame_id, "body": body, "http": http}
            else:
                result = {"t": "result", "id": frame_id, "body": serialize_result(handler(frame["body"], context))}
            if len(result["body"]) > MAX_RESULT_BYTES:
                raise ValueError("the response of %d bytes exceeds the limit of %d bytes" % (len(result["body"]), MAX_RESULT_BYTES))
            send(result)
        except BaseException as exc:
            send({"t": "error", "id": frame_id, "error": function_error(exc)})

    _in_thread(run)


def main():
    _setup_output()
    send({"t": "hello", "pid": os.getpid()})
    for frame in frames():
        kind = frame.get("t")
        if kind == "load":
            load(frame["fn"])
        elif kind == "initialize":
            run_hook(frame["id"], frame["ctx"], "initializer", "Initialize", "initialized")
        elif kind == "invoke":
            invoke(frame)
        elif kind == "preStop":
            # FC's pre-stop hook, before the instance is stopped on purpose.
            run_hook(frame["id"], frame["ctx"], "pre_stop", "PreStop", "preStopped")
        elif kind == "ping":
            send({"t": "pong", "id": frame["id"]})


if __name__ == "__main__":
    try:
        main()
    except BaseException as exc:
        try:
            send({"t": "fatal", "message": "%s: %s" % (type(exc).__name__, exc)})
        finally:
            os._exit(1)
