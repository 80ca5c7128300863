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
import base64
import collections
import copy
import ctypes
import functools
import io
import json
import logging
import os
import socket
import sys
import threading
import time

from moto.core.config import default_user_config
from moto.core.responses import EmptyResult
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.responses import DynamoResult
from moto.dynamodbstreams.models import DynamoDBStreamsBackend
from moto.sqs.models import Queue
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.models import (
    StepFunctionsParserBackend,
    stepfunctions_parser_backends,
)
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint
from moto.stepfunctions.parser.api import GetExecutionHistoryOutput
from moto.stepfunctions.parser.backend.execution import (
    BaseExecutionWorkerCommunication,
    Execution as ParserExecution,
)
from moto.stepfunctions.responses import StepFunctionResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

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


def _transact_write_items(self, transact_items):
    """moto's TransactWriteItems, rolling back only the items it touched.

    moto deep-copies every table a transaction names before applying it (to restore them on
    cancellation): O(table) per transaction, so creates slowed down as the table grew. This
    keeps a copy of each touched item (and the stream's length) instead. It runs under the one
    DynamoDB lock, like every other call, so nobody sees the half-applied state. The checks and
    the error shapes are moto's.
    """
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    saved = {}  # (table name, hash, range) -> (table, item before or None)
    streams = {}  # table name -> (shard, records before)

    def remember(table_name, table, key):
        hash_value, range_value = self.get_keys_value(table, key)
        at = (table_name, hash_value, range_value)
        if at not in saved:
            before = table.get_item(hash_value, range_value)
            saved[at] = (table, copy.deepcopy(before) if before is not None else None)
        if table_name not in streams and table.stream_shard is not None:
            streams[table_name] = (table.stream_shard, len(table.stream_shard.items))

    def rollback():
        for (_, hash_value, range_value), (table, before) in saved.items():
            if range_value is not None:
                if before is None:
                    table.items[hash_value].pop(range_value, None)
                    if not table.items[hash_value]:
                        table.items.pop(hash_value, None)
                else:
                    table.items[hash_value][range_value] = before
            elif before is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before
        for shard, length in streams.values():
            del shard.items[length:]

    target_items = set()
    errors = []
    for item in transact_items:
        original_item = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            table = self.get_table(table_name)
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            unique = (str(table_name), str(dict(sorted(key.items()))))
            if unique in target_items:
                raise MultipleTransactionsException()
            target_items.add(unique)
            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(condition_expression, names, values)
                if not condition_op.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            if op_type != "ConditionCheck":
                remember(table_name, table, key)
            if op_type == "Put":
                self.put_item(table_name, op["Item"], condition_expression=condition_expression,
                              expression_attribute_names=names,
                              expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, condition_expression=condition_expression,
                                 expression_attribute_names=names,
                                 expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 condition_expression=condition_expression,
                                 expression_attribute_names=names,
                                 expression_attribute_values=values)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 (moto's behaviour: reported per item)
            errors.append((type(e).__name__, str(e), original_item))
    if any(code is not None for code, _, _ in errors):
        rollback()
        raise TransactionCanceledException(errors)


if os.environ.get("KUPE_EMULATOR_MOTO_TRANSACT") != "1":
    DynamoDBBackend.transact_write_items = _transact_write_items


# moto parses the definition again (ANTLR, in Python) for every execution: half its CPU under
# load. The parse tree of a definition never changes, so it is kept, and with it the program
# built from it (see _SHARE_PROGRAMS below for why executions can share that).
_PARSE = AmazonStateLanguageParser.parse
_TREES = collections.OrderedDict()
_TREES_LOCK = threading.Lock()
_TREES_MAX = 32


# Two more costs of moto's executor, paid per task state, 26% of the emulator's CPU under the
# PATCH bench (py-spy): it builds a new boto3 client (loading the service model from disk) for
# every service call a task makes, and a new JSONPath parser (ply builds its LALR tables) for
# every path it reads. Clients are thread-safe and built the same way for a (region, service)
# (the credentials argument is not used), and a parsed path is an immutable tree: both are kept.
# KUPE_EMULATOR_MOTO_EXECUTOR_CACHES=0 keeps moto's behaviour.
def _install_executor_caches():
    import importlib

    from jsonpath_ng.ext import parse as jsonpath_parse
    from moto.stepfunctions.parser.asl.utils import boto_client as boto_client_module
    from moto.stepfunctions.parser.asl.utils import json_path as json_path_module

    build = boto_client_module.boto_client_for
    clients = {}
    clients_lock = threading.Lock()

    def boto_client_for(region, service, state_credentials=None):
        key = (region, service)
        with clients_lock:
            client = clients.get(key)
            if client is None:
                client = clients[key] = build(region=region, service=service)
        return client

    service = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    for name in ("dynamodb", "sqs", "events", "sfn"):
        module = importlib.import_module(f"{service}state_task_service_{name}")
        module.boto_client_for = boto_client_for
    json_path_module.parse = functools.lru_cache(maxsize=4096)(jsonpath_parse)


if os.environ.get("KUPE_EMULATOR_MOTO_EXECUTOR_CACHES") != "0":
    _install_executor_caches()


# moto tokenizes and parses an UpdateExpression for every UpdateItem and transaction item (20%
# of the emulator's CPU under the PATCH bench). Our expressions are a few dozen constants, and
# the parsed tree is mutated afterwards (the validator puts the values in), so each parse is
# kept pickled and every use gets a fresh tree from it, which is several times cheaper than
# parsing. KUPE_EMULATOR_MOTO_EXECUTOR_CACHES=0 turns this off too.
def _install_update_expression_cache():
    import pickle

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    parse = UpdateExpressionParser.make.__func__
    parsed = {}

    def make(cls, expression_str):
        blob = parsed.get(expression_str)
        if blob is not None:
            return pickle.loads(blob)
        tree = parse(cls, expression_str)
        if len(parsed) < 4096:
            parsed[expression_str] = pickle.dumps(tree)
            return pickle.loads(parsed[expression_str])
        return tree

    UpdateExpressionParser.make = classmethod(make)


if os.environ.get("KUPE_EMULATOR_MOTO_EXECUTOR_CACHES") != "0":
    _install_update_expression_cache()


# The emulator's memory grew for as long as it ran (about 12 MiB a minute under `make soak`, more
# once it got faster): moto's `BaseModel.__new__` appends every model object it ever creates to
# its class's `instances_tracked` list, for its dashboard's `/moto-api/data.json` and S3's reset.
# Every DynamoDB Item (each write, each stream image, each rollback copy), stream record, SQS
# message and per-execution state machine clone stayed reachable from there after moto itself
# had let go of it (`/_kupe/referrers` found it). We use neither consumer, so nothing is tracked.
# KUPE_EMULATOR_TRACK_INSTANCES=1 keeps moto's behaviour.
def _untracked_new(cls, *args, **kwargs):
    return object.__new__(cls)


if os.environ.get("KUPE_EMULATOR_TRACK_INSTANCES") != "1":
    from moto.core.common_models import BaseModel as _MotoBaseModel

    _MotoBaseModel.__new__ = _untracked_new


# moto serializes every response through its generic, shape-driven serializer, which looks each
# member of each item up under a dozen name aliases: under `make bench-emulator`'s GET run that
# was 64% of the emulator's CPU (py-spy). The data-plane operations' results are already in wire
# form (DynamoResult turns moto's DynamoTypes into `{"S": ...}` dicts), so for them the body is
# that result as JSON, minus the top-level members the output shape lacks and those the serializer
# would leave out (None), with binary values in base64 as the serializer writes them. Equivalence was
# checked over the whole test suite with KUPE_EMULATOR_SERIALIZER_CHECK=<file>, which serializes
# both ways, answers with moto's, and appends every difference to the file (see README/bench).
# KUPE_EMULATOR_MOTO_SERIALIZER=1 keeps moto's serializer alone.
_FAST_DYNAMO_OPS = frozenset((
    "GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem",
    "BatchWriteItem", "TransactGetItems", "TransactWriteItems",
))
_moto_execute_result = DynamoResult.execute_result
_SERIALIZER_CHECK = os.environ.get("KUPE_EMULATOR_SERIALIZER_CHECK")
_SERIALIZER_CHECK_LOCK = threading.Lock()


def _wire(value):
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple, set)):
        return [_wire(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def _fast_execute_result(self, context):
    op = context.operation_model.name
    if op not in _FAST_DYNAMO_OPS:
        return _moto_execute_result(self, context)
    members = context.operation_model.output_shape.members
    result = {k: v for k, v in self.result.items() if k in members}
    body = json.dumps(_wire(result), separators=(",", ":"))
    fast = (200, {"Content-Type": "application/x-amz-json-1.0"}, body)
    if _SERIALIZER_CHECK:
        moto = _moto_execute_result(self, context)
        if (moto[0], moto[1], json.loads(moto[2] or "null")) != (fast[0], fast[1], json.loads(body)):
            with _SERIALIZER_CHECK_LOCK, open(_SERIALIZER_CHECK, "a") as f:
                f.write(json.dumps({"op": op, "moto": [moto[0], dict(moto[1]), moto[2]],
                                    "fast": [fast[0], fast[1], body]}) + "\n")
        return moto
    return fast


if os.environ.get("KUPE_EMULATOR_MOTO_SERIALIZER") != "1":
    DynamoResult.execute_result = _fast_execute_result


# moto finds the backend for a request's host by trying every service's URL patterns in turn
# (hundreds of regexes, about a tenth of the emulator's CPU under `make soak`). The answer depends
# only on the host, so found answers are remembered (misses are not: moto may learn a host later).
_backend_for_host = DomainDispatcherApplication.get_backend_for_host
_HOST_BACKENDS = {}


def _cached_backend_for_host(self, host):
    found = _HOST_BACKENDS.get(host)
    if found is None:
        found = _backend_for_host(self, host)
        if found and len(_HOST_BACKENDS) < 1024:
            _HOST_BACKENDS[host] = found
    return found


DomainDispatcherApplication.get_backend_for_host = _cached_backend_for_host


def _parse_cached(definition):
    with _TREES_LOCK:
        tree = _TREES.get(definition)
        if tree is not None:
            _TREES.move_to_end(definition)
    if tree is not None:
        if _SHARE_PROGRAMS:
            return tree
        return Preprocessor().visit(tree[1]), tree[1]
    program, parsed = _PARSE(definition)
    if _SHARE_PROGRAMS:
        _fix_heap_keys(program)
    with _TREES_LOCK:
        _TREES[definition] = (program, parsed)
        while len(_TREES) > _TREES_MAX:
            _TREES.popitem(last=False)
    return program, parsed


# Building the program from the cached tree still took 38% of the emulator's CPU under the
# PATCH bench (py-spy), once per execution. Executions can share one program: its components
# keep every per-execution value (retry attempts, backoff, the stack) in the execution's
# environment (`env.heap`, keyed by the component's `heap_key`), and no component assigns to
# itself while evaluating (checked over moto's component classes with an AST scan; the Map and
# Parallel states, which we do not use, were not checked). The one exception is `heap_key`
# itself, drawn lazily on first use: two executions racing there could store a retry count
# under two keys, so every key is drawn here, before the program is shared.
# KUPE_EMULATOR_SHARE_PROGRAMS=0 builds one program per execution, as moto does.
_SHARE_PROGRAMS = os.environ.get("KUPE_EMULATOR_SHARE_PROGRAMS", "1") != "0"


def _fix_heap_keys(program):
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen = set()
    pending = [program]
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, EvalComponent):
            obj.heap_key  # noqa: B018 (draws the key now)
            pending.extend(vars(obj).values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            pending.extend(obj)
        elif isinstance(obj, dict):
            pending.extend(obj.values())


# On unless KUPE_EMULATOR_PARSE_CACHE=0. (It was off for a while: executions started close
# together lost task-token answers with it on. The cause was not the cache but the early-answer
# race fixed above; the cache only made the executor fast enough to hit it more often.)
if os.environ.get("KUPE_EMULATOR_PARSE_CACHE", "1") != "0":
    AmazonStateLanguageParser.parse = staticmethod(_parse_cached)


# moto's executor sends a task's message (SQS SendMessage over HTTP) and only then sets up the
# task's heartbeat listener. A worker that receives the message and heartbeats in between is told
# `InvalidToken` (there is no listener yet), and an answer sent in between is stored but never
# wakes the listener set up after it: either way the step waits out its whole heartbeat timeout.
# On AWS the token is live from the moment the message is sent. Here a heartbeat that comes early
# is remembered, and a listener set up late starts already notified when a heartbeat or the
# answer came before it. (KUPE_EMULATOR_MOTO_CALLBACKS=1 keeps moto's behaviour, to show that
# `lifecycle::a_step_answered_before_the_executor_listens_is_not_lost` catches it.)
_CALLBACK_LOCK = threading.Lock()
_setup_heartbeat = CallbackEndpoint.setup_heartbeat_endpoint
_notify = CallbackEndpoint.notify
_notify_heartbeat = CallbackEndpoint.notify_heartbeat


def _setup_heartbeat_endpoint(self, heartbeat_seconds):
    with _CALLBACK_LOCK:
        endpoint = _setup_heartbeat(self, heartbeat_seconds)
        if self.__dict__.pop("_kupe_early_heartbeat", False) or self._outcome is not None:
            endpoint.notify()
        return endpoint


def _notify_outcome(self, outcome):
    with _CALLBACK_LOCK:
        _notify(self, outcome)


def _notify_heartbeat_early(self):
    with _CALLBACK_LOCK:
        if self._heartbeat_endpoint is None:
            self._kupe_early_heartbeat = True
            return True
        return _notify_heartbeat(self)


if os.environ.get("KUPE_EMULATOR_MOTO_CALLBACKS") != "1":
    CallbackEndpoint.setup_heartbeat_endpoint = _setup_heartbeat_endpoint
    CallbackEndpoint.notify = _notify_outcome
    CallbackEndpoint.notify_heartbeat = _notify_heartbeat_early


# KUPE_EMULATOR_UNSERIALIZED=1 runs plain moto: only to show that the race tests catch it.
if os.environ.get("KUPE_EMULATOR_UNSERIALIZED") != "1":
    for _name in _SERIALIZED:
        setattr(DynamoDBBackend, _name, _serialize(getattr(DynamoDBBackend, _name)))


# moto's SQS receive is not atomic either: two pollers receiving at once can both take one
# message and leave it in flight for the whole visibility timeout (150 s locally), so a workflow
# step waited on an answer nobody was going to give. Every SQS message operation runs under one
# lock; a long poll is done as short polls under the lock with waits outside it.
_SQS_LOCK = threading.RLock()
from moto.sqs.models import SQSBackend  # noqa: E402

for _name in ("send_message", "send_message_batch", "delete_message", "delete_message_batch",
              "change_message_visibility", "change_message_visibility_batch", "purge_queue"):
    if hasattr(SQSBackend, _name):
        _orig = getattr(SQSBackend, _name)

        def _locked(self, *args, _orig=_orig, **kwargs):
            with _SQS_LOCK:
                return _orig(self, *args, **kwargs)
        setattr(SQSBackend, _name, functools.wraps(_orig)(_locked))

_sqs_receive = SQSBackend.receive_message


@functools.wraps(_sqs_receive)
def _receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout,
                     message_attribute_names=None):
    deadline = time.monotonic() + (wait_seconds_timeout or 0)
    while True:
        with _SQS_LOCK:
            got = _sqs_receive(self, queue_name, count, 0, visibility_timeout,
                               message_attribute_names)
        if got or time.monotonic() >= deadline:
            return got
        time.sleep(0.05)


SQSBackend.receive_message = _receive_message


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


# ... and once ABORTED it stays so: the stopped worker wakes from its wait and unwinds through
# the state's error handling, which can leave moto's program in an error state, and moto then
# rewrote the execution as FAILED (the reconciler, reading it after that, said ExecutionFailed
# for an execution an operator stopped).
_terminated = BaseExecutionWorkerCommunication.terminated


def _terminated_keep_abort(self):
    if self.execution.exec_status == ExecutionStatus.ABORTED:
        return
    _terminated(self)


BaseExecutionWorkerCommunication.terminated = _terminated_keep_abort


# --- What grows with use, trimmed -------------------------------------------------------------
#
# * Stream records: kept until every live iterator of the shard has read past them (a shard no
#   one reads keeps everything, so a reader that starts late with TRIM_HORIZON misses nothing).
#   Iterators: moto keeps every one it ever issued (one per GetRecords); a used one is dropped a
#   minute after use (a retry of the same call still works), an unused one after 15 minutes
#   (AWS's expiry).
# * Executions: a finished execution keeps its whole evaluation environment (the history); past
#   the newest FINISHED_KEPT finished ones per state machine that is dropped (GetExecutionHistory
#   answers an empty history for them); past the newest FINISHED_RECORDS_KEPT finished ones the
#   records go as well (AWS keeps them 90 days; a local stack that kept every one grew by about
#   55 KiB per execution, 17 MiB a minute under `make soak`).
# * SQS: moto remembers every deleted receipt handle (so a repeated delete succeeds); the newest
#   DELETED_KEPT per queue are kept.
# * Items are data, never trimmed; TTL deletion is not emulated (moto does not expire items).

FINISHED_KEPT = 100
FINISHED_RECORDS_KEPT = 1000
DELETED_KEPT = 10_000
_ITERATOR_USED_TTL = 60
_ITERATOR_TTL = 15 * 60
_iterator_times = {}  # arn -> (created or used at, used)


def _each(backends):
    for regions in list(backends.values()):
        for backend in list(regions.values()):
            yield backend


# Stream reads take the DynamoDB lock: the janitor trims a shard's records under it, and a read
# that indexed the records while they were being trimmed skipped some (a DELETE then never
# reached the dispatcher).
def _get_shard_iterator(original):
    def get_shard_iterator(self, *args, **kwargs):
        with _DB_LOCK:
            it = original(self, *args, **kwargs)
            _iterator_times[it.arn] = (time.monotonic(), False)
            return it
    return get_shard_iterator


def _get_records(original):
    def get_records(self, iterator_arn, limit):
        with _DB_LOCK:
            out = original(self, iterator_arn, limit)
            now = time.monotonic()
            _iterator_times[iterator_arn] = (now, True)
            _iterator_times[out["NextShardIterator"]] = (now, False)
            return out
    return get_records


DynamoDBStreamsBackend.get_shard_iterator = _get_shard_iterator(
    DynamoDBStreamsBackend.get_shard_iterator)
DynamoDBStreamsBackend.get_records = _get_records(DynamoDBStreamsBackend.get_records)


def _trim_streams():
    with _DB_LOCK:
        _trim_streams_locked()


def _trim_streams_locked():
    from moto.dynamodbstreams.models import dynamodbstreams_backends
    now = time.monotonic()
    low = {}  # id(shard) -> lowest sequence number a live iterator will read
    for backend in _each(dynamodbstreams_backends):
        for arn, it in list(backend.shard_iterators.items()):
            at, used = _iterator_times.get(arn, (now, False))
            if now - at > (_ITERATOR_USED_TTL if used else _ITERATOR_TTL):
                backend.shard_iterators.pop(arn, None)
                _iterator_times.pop(arn, None)
                continue
            key = id(it.stream_shard)
            low[key] = min(low.get(key, it.sequence_number), it.sequence_number)
    for backend in _each(dynamodb_backends):
        for table in list(backend.tables.values()):
            shard = table.stream_shard
            if shard is None or id(shard) not in low:
                continue
            read = min(low[id(shard)] - shard.starting_sequence_number, len(shard.items))
            if read > 0:
                del shard.items[:read]
                shard.starting_sequence_number += read


def _trim_executions():
    for backend in _each(stepfunctions_parser_backends):
        for sm in list(getattr(backend, "state_machines", [])):
            finished = [e for e in list(sm.executions)
                        if e.exec_status not in (None, ExecutionStatus.RUNNING)
                        and getattr(e, "exec_worker", None) is not None]
            for e in finished[:-FINISHED_KEPT] if len(finished) > FINISHED_KEPT else []:
                e.exec_worker = None
            # Past the newest FINISHED_RECORDS_KEPT finished executions, the records go too
            # (each holds its own clone of the state machine: ~55 KiB). The list is replaced,
            # never edited in place, so a scan in progress (SendTask* looks for the running
            # execution that owns a token) still sees every execution; starts append under the
            # same lock, so none is lost to the swap.
            with _EXEC_LOCK:
                executions = list(sm.executions)
                done = [e for e in executions
                        if e.exec_status not in (None, ExecutionStatus.RUNNING)]
                if len(done) > FINISHED_RECORDS_KEPT:
                    drop = {id(e) for e in done[:-FINISHED_RECORDS_KEPT]}
                    sm.executions = [e for e in executions if id(e) not in drop]


_EXEC_LOCK = threading.Lock()
_start_execution = StepFunctionsParserBackend.start_execution


@functools.wraps(_start_execution)
def _start_execution_locked(self, *args, **kwargs):
    with _EXEC_LOCK:
        return _start_execution(self, *args, **kwargs)


StepFunctionsParserBackend.start_execution = _start_execution_locked


_to_history_output = ParserExecution.to_history_output


def _history(self):
    if self.exec_worker is None:
        return GetExecutionHistoryOutput(events=[])
    return _to_history_output(self)


ParserExecution.to_history_output = _history

_queue_delete = Queue.delete_message


def _delete_message(self, receipt_handle):
    _queue_delete(self, receipt_handle)
    order = self.__dict__.setdefault("_kupe_deleted_order", collections.deque())
    for handle in self.deleted_messages.difference(self.__dict__.setdefault(
            "_kupe_deleted_seen", set())):
        order.append(handle)
        self._kupe_deleted_seen.add(handle)
    while len(order) > DELETED_KEPT:
        old = order.popleft()
        self._kupe_deleted_seen.discard(old)
        self.deleted_messages.discard(old)


Queue.delete_message = _delete_message


def _trim_threads():
    # moto appends every execution's and every task wait's thread to a module-level list and
    # never removes them; finished ones are dropped (the list is only for clean-up at exit).
    from moto.stepfunctions.parser.utils import TMP_THREADS
    TMP_THREADS[:] = [t for t in list(TMP_THREADS) if t.is_alive()]


def _load_malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to hand back
        return None


_malloc_trim = _load_malloc_trim()


def _trim_heap():
    # What the other trims free goes back to glibc's free lists, not to the OS: without this the
    # process's RSS keeps the high-water mark of every burst (in `make soak`, 191 -> 365 MiB
    # while the bounded structures stayed bounded). malloc_trim(0) returns free pages of every
    # arena; it takes a few milliseconds every janitor pass.
    if _malloc_trim is not None:
        _malloc_trim(0)


def _janitor(every):
    while True:
        time.sleep(every)
        for trim in (_trim_streams, _trim_executions, _trim_threads, _trim_heap):
            try:
                trim()
            except Exception as e:  # noqa: BLE001 (a failed trim must not stop the server)
                print(f"janitor: {trim.__name__}: {e!r}", file=sys.stderr, flush=True)


def stats():
    """The process RSS and the sizes the janitor bounds."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends
    rss_kib = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    items = records = 0
    for backend in _each(dynamodb_backends):
        for table in list(backend.tables.values()):
            items += len(table)
            if table.stream_shard is not None:
                records += len(table.stream_shard.items)
    iterators = sum(len(b.shard_iterators) for b in _each(dynamodbstreams_backends))
    executions = histories = 0
    for backend in _each(stepfunctions_parser_backends):
        for sm in list(getattr(backend, "state_machines", [])):
            executions += len(sm.executions)
            histories += sum(1 for e in sm.executions if getattr(e, "exec_worker", None))
    return {"rssKiB": rss_kib, "items": items, "streamRecords": records,
            "shardIterators": iterators, "executions": executions,
            "executionHistories": histories}


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
        # Read the whole body first, whatever the app does with it: the connection is kept for
        # the next request, which must not start inside this one's unread body.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            body = environ["wsgi.input"].read(length)
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = environ["wsgi.input"].read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        if environ.get("PATH_INFO") == "/_kupe/stats":
            payload = json.dumps(stats()).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(payload)))])
            return [payload]
        if environ.get("PATH_INFO") == "/_kupe/objects":
            # Live objects the garbage collector tracks, by type (a leak hunt: compare two calls).
            import gc
            counts = collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}"
                                         for o in gc.get_objects())
            payload = json.dumps(counts.most_common(60)).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(payload)))])
            return [payload]
        if environ.get("PATH_INFO") == "/_kupe/referrers":
            # Who holds objects of a type (`?type=module.Qualname`): for a few samples, the chains
            # of referrers up to 4 levels, by type name (the leak hunt's second step).
            import gc
            import urllib.parse
            wanted = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("type", [""])[0]
            objs = [o for o in gc.get_objects()
                    if f"{type(o).__module__}.{type(o).__qualname__}" == wanted]
            samples = objs[:: max(1, len(objs) // 5)][:5]
            del objs
            chains = []

            def describe(o):
                name = f"{type(o).__module__}.{type(o).__qualname__}"
                if isinstance(o, dict):
                    name += f"(len={len(o)} keys={list(o)[:4]!r})"
                elif isinstance(o, list):
                    name += f"(len={len(o)})"
                return name

            for sample in samples:
                level = [sample]
                chain = []
                for _ in range(4):
                    refs = [r for r in gc.get_referrers(*level)
                            if r is not samples and r is not level and r is not chain
                            and not type(r).__name__ == "frame"]
                    chain.append([describe(r) for r in refs[:6]])
                    level = refs[:3]
                    if not level:
                        break
                chains.append(chain)
            del samples, level
            payload = json.dumps(chains, indent=1).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(payload)))])
            return [payload]
        if environ.get("PATH_INFO") == "/_kupe/faults":
            if environ["REQUEST_METHOD"] == "DELETE":
                faults.clear()
            else:
                faults.arm(json.loads(body))
            start_response("204 No Content", [])
            return [b""]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target:
            return app(environ, start_response)
        fault = faults.take(target, body.decode("utf-8", "replace"))
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
        if action == "late_reply":
            # Let the request land, then hold its reply back for `ms`: the caller (moto's own
            # Step Functions executor, for SendMessage) is stalled while others see the result.
            reply = {}
            out = list(app(environ, lambda status, headers, exc_info=None:
                           reply.update(status=status, headers=headers)))
            time.sleep(int(fault.get("ms", 1000)) / 1000)
            start_response(reply["status"], reply["headers"])
            return out
        if action in ("throttle", "error"):
            # `throttle`: 400 ProvisionedThroughputExceededException; `error`: the fault's own
            # `type` (a DynamoDB error name) and `status`.
            name = fault.get("type", "ProvisionedThroughputExceededException")
            status = int(fault.get("status", 400))
            body = json.dumps({
                "__type": f"com.amazonaws.dynamodb.v20120810#{name}",
                "message": f"injected {name}",
            })
            reason = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}
            start_response(f"{status} {reason.get(status, 'Error')}",
                           [("Content-Type", "application/x-amz-json-1.0")])
            return [body.encode()]
        raise ValueError(f"unknown fault action {action}")
    return application


class _Body:
    """The request's body only (`Content-Length` bytes) of the connection's stream: past it,
    reads return nothing, so werkzeug's after-response drain cannot eat the next request."""

    def __init__(self, rfile, length):
        self._rfile = rfile
        self._left = length

    def read(self, n=-1):
        if self._left <= 0:
            return b""
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._rfile.read(n)
        self._left -= len(data)
        return data

    def readline(self, limit=-1):
        if self._left <= 0:
            return b""
        limit = self._left if limit is None or limit < 0 else min(limit, self._left)
        data = self._rfile.readline(limit)
        self._left -= len(data)
        return data


class KeepAliveHandler(WSGIRequestHandler):
    """Keeps connections (werkzeug closes each one after its response: it drains whatever
    follows the body, which would be the next request). Requests with a `Content-Length` keep
    their connection; the body is fenced by `_Body`. Chunked requests still close it. An idle
    connection closes after a minute, so idle clients cannot pin threads forever."""

    protocol_version = "HTTP/1.1"
    timeout = 60

    def setup(self):
        super().setup()
        # werkzeug writes a response's headers and body in separate sends: on a kept connection
        # Nagle held the body back until the client's delayed ACK of the headers (~40 ms a
        # request, with the CPU idle). A closed connection flushed at once, which hid it.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run_wsgi(self):
        self._keep = "chunked" not in self.headers.get("Transfer-Encoding", "").lower()
        if not self._keep:
            return super().run_wsgi()
        stream = self.rfile
        self.rfile = _Body(stream, int(self.headers.get("Content-Length") or 0))
        try:
            return super().run_wsgi()
        finally:
            self.rfile = stream

    def send_header(self, keyword, value):
        keep = getattr(self, "_keep", False)
        if keep and keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)


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
    # One log line per request (werkzeug's default) costs CPU and fills the test logs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The janitor (KUPE_EMULATOR_TRIM=0 turns it off) and keep-alive (KUPE_EMULATOR_KEEPALIVE=0)
    # are on. Both were off for a while: trimming raced stream reads (they now share the lock),
    # and with keep-alive task-token answers were lost now and then (the early-answer race fixed
    # above, hit more often by faster clients).
    if os.environ.get("KUPE_EMULATOR_TRIM", "1") != "0":
        threading.Thread(target=_janitor, args=(10,), daemon=True).start()
    app = wrap(DomainDispatcherApplication(create_backend_app), Faults())
    keep_alive = os.environ.get("KUPE_EMULATOR_KEEPALIVE", "1") != "0"
    server = make_server(args.host, args.port, app, threaded=True,
                         request_handler=KeepAliveHandler if keep_alive else WSGIRequestHandler)
    # moto's Step Functions executor calls the other services over HTTP at localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(server.server_port)
    print(f"READY {server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
