"""moto server, made safe for our concurrency tests, with fault injection.

Why not plain `moto_server`:
  * moto's conditional writes are not atomic: two concurrent conditional UpdateItems on one item
    can both pass their condition. Every DynamoDB backend call is serialized here behind one
    lock, which covers requests arriving over HTTP *and* the calls moto's Step Functions executor
    makes in-process (a lock around WSGI requests alone would miss those).
  * Tests need to drop a reply after the write committed (the "lost reply" the SDK retries):
    POST /_kupe/faults arms such faults.

Usage: python serve.py [--port N]   (0 = any free port). Prints `READY <port>` once listening.
"""

import argparse
import functools
import io
import json
import os
import sys
import threading
import time

from moto.core.config import default_user_config
from moto.core.responses import EmptyResult
from moto.dynamodb.models import DynamoDBBackend
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.backend.execution import Execution as ParserExecution
from moto.stepfunctions.responses import StepFunctionResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

_DB_LOCK = threading.RLock()
_SERIALIZED = (
    "put_item", "update_item", "delete_item", "get_item", "batch_get_item", "batch_write_item",
    "query", "scan", "transact_write_items", "transact_get_items",
)


def _serialize(fn):
    @functools.wraps(fn)
    def locked(*args, **kwargs):
        with _DB_LOCK:
            return fn(*args, **kwargs)
    return locked


# KUPE_EMULATOR_UNSERIALIZED=1 runs plain moto: only to show that the race tests catch it.
if os.environ.get("KUPE_EMULATOR_UNSERIALIZED") != "1":
    for _name in _SERIALIZED:
        setattr(DynamoDBBackend, _name, _serialize(getattr(DynamoDBBackend, _name)))


# Execute state machines for real (DynamoDB, SQS and EventBridge integrations, task tokens,
# Wait/Choice/Retry/Catch), as `POST /moto-api/config` would.
default_user_config["stepfunctions"]["execute_state_machine"] = True


# moto's SendTaskFailure handler drops `cause`; AWS passes it to the Catch as `Cause`.
def _send_task_failure(self):
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


StepFunctionResponse.send_task_failure = _send_task_failure


# moto's StopExecution only flags the worker, which notices when its current wait ends (a task
# token wait can last until its heartbeat timeout); AWS reports ABORTED at once.
_stop_execution = ParserExecution.stop


def _stop_now(self, stop_date, error, cause):
    _stop_execution(self, stop_date, error, cause)
    if self.exec_status == ExecutionStatus.RUNNING:
        self.exec_status = ExecutionStatus.ABORTED
        self.stop_date = stop_date


ParserExecution.stop = _stop_now


class Faults:
    """Armed faults: each matches an X-Amz-Target suffix and a body substring, `count` times."""

    def __init__(self):
        self._lock = threading.Lock()
        self._armed = []

    def arm(self, fault):
        with self._lock:
            self._armed.append(dict(fault))

    def clear(self):
        with self._lock:
            self._armed.clear()

    def take(self, target, body):
        with self._lock:
            for fault in self._armed:
                if target.endswith("." + fault["target"]) and fault.get("match", "") in body:
                    fault["count"] = fault.get("count", 1) - 1
                    if fault["count"] <= 0:
                        self._armed.remove(fault)
                    return fault
        return None


def wrap(app, faults):
    def application(environ, start_response):
        if environ.get("PATH_INFO") == "/_kupe/faults":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            payload = environ["wsgi.input"].read(length) if length else b""
            if environ["REQUEST_METHOD"] == "DELETE":
                faults.clear()
            else:
                faults.arm(json.loads(payload))
            start_response("204 No Content", [])
            return [b""]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target:
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        fault = faults.take(target, body.decode("utf-8", "replace"))
        environ["wsgi.input"] = io.BytesIO(body)
        if fault is None:
            return app(environ, start_response)
        action = fault["action"]
        if action == "commit_then_500":
            # Let the request land, then lose the reply: the SDK sees a 500 and retries.
            list(app(environ, lambda *a, **k: None))
        if action in ("commit_then_500", "fail_500"):
            body = json.dumps({"__type": "InternalServerError", "message": "injected fault"})
            start_response("500 Internal Server Error", [("Content-Type", "application/x-amz-json-1.0")])
            return [body.encode()]
        if action == "throttle":
            body = json.dumps({
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "injected throttle",
            })
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
            return [body.encode()]
        raise ValueError(f"unknown fault action {action}")
    return application


def _exit_with_parent(pid):
    while True:
        try:
            os.kill(pid, 0)
        except OSError:
            os._exit(0)
        time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=0,
                        help="exit when this process is gone (test harnesses pass their own pid)")
    args = parser.parse_args()
    if args.parent_pid:
        threading.Thread(target=_exit_with_parent, args=(args.parent_pid,), daemon=True).start()
    app = wrap(DomainDispatcherApplication(create_backend_app), Faults())
    server = make_server(args.host, args.port, app, threaded=True)
    # moto's Step Functions executor calls the other services over HTTP at localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(server.server_port)
    print(f"READY {server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
