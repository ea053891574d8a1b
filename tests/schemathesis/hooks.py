"""Schemathesis hooks for the Todo API's conformance run (make test).

Two things here exist only because of the local emulator, `cargo lambda
watch` 1.9.2; every check stays on.

1. One input class is kept out of generation: the emulator turns an
   `application/json` request body into the Lambda event with a UTF-8 decode,
   and answers 500 itself, before any function runs, when the bytes are not
   UTF-8. (API Gateway hands such a body to the function base64-encoded.) The
   function's answer to such bytes, a 422, is tested in process and end to end
   with a body the emulator can carry (tests/tests/tasks.rs, e2e.rs).

2. Every 5xx and every network error is recorded, the 5xx split into the
   emulator's own fault and anything else, so that
   tests/schemathesis/attribute.py can tell a pass that failed only because
   of the emulator from one that found a real defect. The emulator
   acknowledges a function's POST .../response before it reads the body;
   when the runtime client then closes that connection (which hyper's pool
   does now and then), the body is lost and the emulator answers the waiting
   client its own 500: a `text/plain` problem body, byte for byte
   EMULATOR_FAULT below, that no function of ours can produce (all of ours
   are `application/json` error bodies of the contract). When the connection
   stays open instead, the body never arrives and the client waits until
   schemathesis' read timeout. See README.md ("Conformance").
"""

import os

import schemathesis

#: The body `cargo lambda watch` answers with when its own handler fails
#: (cargo-lambda-watch `ServerError::into_response`).
EMULATOR_FAULT = b'{"type":"https://httpstatuses.com/500","status":500,"title":"Internal Server Error"}'


def _carried_by_the_emulator(body) -> bool:
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


@schemathesis.hook
def filter_case(ctx, case):
    return _carried_by_the_emulator(case.body)


def is_emulator_fault(status: int, content_type: str, body: bytes) -> bool:
    return status == 500 and content_type.startswith("text/plain") and body == EMULATOR_FAULT


def _record(variable: str, line: str) -> None:
    path = os.environ.get(variable)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(line + "\n")


@schemathesis.hook
def after_call(ctx, case, response):
    if response.status_code < 500:
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    line = f"{response.request.method} {response.request.url} -> {response.status_code} {content_type}"
    if is_emulator_fault(response.status_code, content_type, response.content):
        _record("CONFORMANCE_EMULATOR_FAULTS", line)
    else:
        _record("CONFORMANCE_SERVER_ERRORS", line)


@schemathesis.hook
def after_network_error(ctx, case, request):
    _record("CONFORMANCE_NETWORK_ERRORS", f"{request.method} {request.url}")
