"""FC's contract objects for the Python runtime (bootstrap.py): the `context` a handler gets, and the
WSGI call an HTTP function is. Named so that no function's own module can shadow it."""

import io
import os
import sys
import time


class _Fields:
    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % kv for kv in self.__dict__.items()))


class Credentials(_Fields):
    pass


class FunctionMeta(_Fields):
    pass


class ServiceMeta(_Fields):
    pass


class Tracing(_Fields):
    pass


class FCContext(_Fields):
    pass


def _jaeger_span_context(traceparent):
    """FC's span context (`trace:span:parent:flags`): a new span, a child of the one the call arrived in."""
    parts = (traceparent or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
        return "%s:%s:%s:%s" % (parts[1], os.urandom(8).hex(), parts[2], parts[3])
    return ""


def build_context(fn, ctx):
    credentials = ctx.get("credentials") or {}
    service = fn["service"]
    deadline = ctx.get("deadline", 0)
    context = FCContext(
        request_id=ctx["requestId"],
        credentials=Credentials(
            access_key_id=credentials.get("accessKeyId", ""),
            access_key_secret=credentials.get("accessKeySecret", ""),
            security_token=credentials.get("securityToken", ""),
        ),
        function=FunctionMeta(
            name=fn["name"],
            handler=fn["handler"],
            memory=fn["memory"],
            timeout=fn["timeout"],
            initializer=fn.get("initializer", ""),
            initialization_timeout=fn.get("initializationTimeout", 0),
        ),
        service=ServiceMeta(
            name=service["name"],
            log_project=service.get("logProject", ""),
            log_store=service.get("logStore", ""),
            qualifier=ctx.get("qualifier", "LATEST"),
            version_id=ctx.get("versionId", ""),
        ),
        region=fn.get("region", ""),
        account_id=fn.get("accountId", ""),
        tracing=Tracing(
            span_context=_jaeger_span_context(ctx.get("traceparent")),
            span_baggages=dict(ctx.get("baggage") or {}),
            jaeger_endpoint=ctx.get("jaegerEndpoint") or "",
            traceparent=ctx.get("traceparent", ""),
        ),
    )
    context.tracing.parseOpenTracingBaggages = lambda: dict(context.tracing.span_baggages)
    context.get_remaining_time_in_millis = lambda: max(0, int(deadline - time.time() * 1000))
    return context



def run_wsgi(app, http, body, context):
    """FC's Python HTTP contract: a WSGI application, `handler(environ, start_response)`."""
    url = http.get("url", "")
    query = url.split("?", 1)[1] if "?" in url else ""
    environ = {
        "REQUEST_METHOD": http["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": http["path"],
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": http.get("clientIP", ""),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "fc.context": context,
        "fc.request_uri": url,
    }
    for name, value in (http.get("headers") or {}).items():
        joined = ", ".join(value) if isinstance(value, list) else value
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = joined
        elif key == "CONTENT_LENGTH":
            continue
        else:
            environ["HTTP_" + key] = joined
    response = {}

    def start_response(status, headers, exc_info=None):
        if exc_info and response:
            raise exc_info[1].with_traceback(exc_info[2])
        response["status"] = int(str(status).split(" ", 1)[0])
        collected = {}
        for name, value in headers:
            key = name.lower()
            if key in collected:
                previous = collected[key]
                collected[key] = (previous if isinstance(previous, list) else [previous]) + [value]
            else:
                collected[key] = value
        response["headers"] = collected
        return lambda data: chunks.append(bytes(data))

    chunks = []
    iterable = app(environ, start_response)
    try:
        for chunk in iterable:
            if chunk:
                chunks.append(bytes(chunk) if not isinstance(chunk, str) else chunk.encode("utf-8"))
    finally:
        close = getattr(iterable, "close", None)
        if close:
            close()
    if "status" not in response:
        raise RuntimeError("the WSGI application did not call start_response")
    return b"".join(chunks), {"status": response["status"], "headers": response["headers"]}
