"""A command line over a flow's pydantic parameter model, shared by every flow script.

Each field of the model (nested models flattened) becomes an option; ``--json`` prints the summary as one
JSON line at the end. An expected failure (a ``UserError``) ends the run with exit code 1 and, as the last line
on stderr, ``error: <what to do>``; its traceback is left out of the console (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from infra.errors import StorageError, UserError

# Imported where they are used, not here: the options are parsed (and --help answered) before pymongo, Prefect and
# the stages load (benchmarks/bench_first_hour.py measures the CPU that costs).

logger = logging.getLogger(__name__)

# Offline defaults: no telemetry calls from Prefect's server or Great Expectations
OFFLINE_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "GX_ANALYTICS_ENABLED": "false"}
STARTUP_TIMEOUT_S = 180  # Prefect's temporary server gets 20 s by default: a laptop with a browser open misses it


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def add_model_options(parser: argparse.ArgumentParser, model: type[BaseModel], path: tuple[str, ...] = ()) -> None:
    """One option per field; a nested model's fields become options of their own (``--grade-inflation``)."""
    for name, field in model.model_fields.items():
        annotation = _unwrap_optional(field.annotation)
        dest = "__".join((*path, name))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            add_model_options(parser, annotation, (*path, name))
            continue
        default = field.get_default(call_default_factory=True)
        help_text = f"{field.description or name} (default: {default})"
        if annotation is bool:
            parser.add_argument(_option(name), dest=dest, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=help_text)
        elif typing.get_origin(annotation) is list:
            parser.add_argument(_option(name), dest=dest, nargs="+", default=argparse.SUPPRESS,
                                metavar=name.upper(), help=help_text)
        elif typing.get_origin(annotation) is Literal:
            parser.add_argument(_option(name), dest=dest, choices=typing.get_args(annotation),
                                default=argparse.SUPPRESS, help=help_text)
        else:
            kind = annotation if annotation in (int, float) else str
            parser.add_argument(_option(name), dest=dest, type=kind, default=argparse.SUPPRESS,
                                metavar=name.upper(), help=help_text)


def params_from_args(model: type[BaseModel], namespace: argparse.Namespace) -> BaseModel:
    """Rebuild the (nested) parameter model from the options that were given; the model validates."""
    data: dict[str, Any] = {}
    for dest, value in vars(namespace).items():
        if dest in ("json", "debug", "check_mapping"):
            continue
        *parents, leaf = dest.split("__")
        target = data
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return model.model_validate(data)


class HideUserErrorTracebacks(logging.Filter):
    """On the console, an expected failure is one line, not a traceback (the Prefect UI keeps the full log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the traceback of a UserError, or of a store that went away or failed (the run ends in one error
        line that says so); keep the record."""
        from infra.retry import TRANSIENT_ERRORS

        if record.exc_info and (isinstance(record.exc_info[1], (UserError, *TRANSIENT_ERRORS))
                                or store_failure(record.exc_info[1]) is not None):
            record.exc_info, record.exc_text = None, None
        return True


@contextmanager
def quiet_user_errors(enabled: bool) -> Iterator[None]:
    """Attach the filter to the root logger's console handlers (Prefect's among them) for the run."""
    handlers = [handler for handler in logging.getLogger().handlers if isinstance(handler, logging.StreamHandler)]
    log_filter = HideUserErrorTracebacks()
    for handler in handlers if enabled else []:
        handler.addFilter(log_filter)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(log_filter)


def temporary_prefect_servers() -> list:
    """The temporary Prefect servers this process runs (one is started for a run without PREFECT_API_URL)."""
    try:
        from prefect.server.api.server import SubprocessASGIServer
    except ImportError:
        return []
    return list(getattr(SubprocessASGIServer, "_instances", {}).values())


def missing_files(params: BaseModel) -> str | None:
    """A ``--source`` or ``--mapping`` that names no file, in words (None: every named file is there)."""
    from pathlib import Path

    for option in ("source", "mapping"):
        value = getattr(params, option, None)
        if value and not Path(value).expanduser().is_file():
            return f"{option} file not found: {value} (--{option})"
    return None


def generous_startup():
    """Give Prefect's temporary server ``STARTUP_TIMEOUT_S`` to start (unless the user set the timeout): on a busy
    machine (measured: 3 of 5 runs at load 9-17 on 2 cores) the default 20 s is missed and the run dies."""
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings

    given = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS")
    return temporary_settings(updates={} if given else {PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:
                                                        STARTUP_TIMEOUT_S})


class StoreStoppedAnsweringError(StorageError):
    """The store went away during a run and stayed away past the retries."""


class StoreFailedError(StorageError):
    """The store answered but could not write (its storage failed: a full disk, most often)."""


def store_failure(exc: BaseException | None) -> str | None:
    """What a store-side failure means for the user (a full disk, a panicked storage engine), or None when ``exc``
    is not one: the server's own error code 1 (InternalError), or its message naming the disk."""
    from pymongo.errors import OperationFailure

    if not isinstance(exc, OperationFailure):
        return None
    text = str(exc)
    name = (exc.details or {}).get("codeName") or f"code {exc.code}"
    if exc.code not in (1, 14031) and "No space left" not in text and "WT_PANIC" not in text:
        return None
    from infra.settings import get_settings

    settings = get_settings()
    if settings.mongo_uri.get_secret_value().strip():
        return (f"the store could not write ({name}): on a server of your own, "
                "check its disk and its log; what was acknowledged before stays")
    from infra.local_server import disk_words

    folder = settings.local_mongo_path
    return (f"the local MongoDB server could not write ({name}): its disk is "
            f"probably full ({folder} has {disk_words(folder)}); free space on that disk and run again: the next "
            "run restarts the server, which recovers every acknowledged write from its journal")


def starting_line(flow_fn: Callable) -> str:
    """What the run is about to do, said before the slow parts start (a temporary Prefect server takes 5-20 s)."""
    from urllib.parse import urlsplit

    from infra.errors import StorageError
    from infra.storage import store_name

    api = os.environ.get("PREFECT_API_URL", "").strip()
    parts = urlsplit(api)
    if parts.username or parts.password:  # never print credentials in a URL
        api = parts._replace(netloc=f"***@{parts.hostname}{f':{parts.port}' if parts.port else ''}").geturl()
    prefect = f"the Prefect server at {api}" if api else "a temporary Prefect server (5-20 s to start; set " \
                                                         "PREFECT_API_URL to use a running one)"
    name = getattr(flow_fn, "name", getattr(flow_fn, "__name__", "flow"))
    try:
        store = store_name()
    except StorageError:  # a MONGO_URI that cannot be read: the run's own check says what is wrong with it
        store = "the MongoDB of MONGO_URI"
    return f"starting   {name} on {store}, through {prefect}"


def build_parser(model: type[BaseModel], description: str) -> argparse.ArgumentParser:
    """The command line of a flow: an option per parameter of ``model``, and ``--json`` / ``--debug``."""
    parser = argparse.ArgumentParser(description=description, usage="%(prog)s [options]  (--help lists them)")
    add_model_options(parser, model)
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary as the last line")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an expected failure too")
    if "mapping" in model.model_fields:
        parser.add_argument("--check-mapping", action="store_true",
                            help="read the first rows of --source through --mapping, say what a run would keep, "
                                 "quarantine and find, and stop (seconds; nothing stored, no Prefect)")
    return parser


def parse_or_exit(model: type[BaseModel], description: str,
                  argv: list[str] | None = None) -> tuple[BaseModel, argparse.Namespace]:
    """The run's parameters from the command line; ``--help`` and a bad option end the process here, before
    Prefect, pymongo and the stages are imported (a flow script calls this first, then loads its flow)."""
    parser = build_parser(model, description)
    namespace = parser.parse_args(argv)
    try:
        params = params_from_args(model, namespace)
    except ValidationError as exc:
        problems = "; ".join(f"{_option(_field(e['loc']))}: {e['msg']}" + _item(e) for e in exc.errors())
        parser.error(problems)
        raise  # parser.error exits; this line is never reached
    missing = missing_files(params)
    if missing:  # said now, before a Prefect server starts and before anything is stored
        print(f"error: {missing}", file=sys.stderr, flush=True)
        raise SystemExit(1)
    if getattr(namespace, "check_mapping", False):
        raise SystemExit(check_mapping_or_exit(params))
    return params, namespace


def _field(loc: tuple) -> str:
    """The option a validation error is about (its innermost named field, not a list position)."""
    return next((str(part) for part in reversed(loc) if isinstance(part, str)), str(loc[-1]))


def _item(error: dict) -> str:
    """For a list option's element, which value was wrong (``--segment-metrics ... got 'bogus'``)."""
    return f" (got {error['input']!r})" if isinstance(error["loc"][-1], int) and "input" in error else ""


def check_mapping_or_exit(params: BaseModel) -> int:
    """``--check-mapping``: the mapping checked against the source's first rows (tasks/data/check.py), its lines
    printed; 0 when a run would go through."""
    if not (getattr(params, "source", None) and getattr(params, "mapping", None)):
        print("error: --check-mapping needs --source FILE and --mapping MAPPING", file=sys.stderr, flush=True)
        return 1
    from infra.settings import get_settings
    from tasks.data.check import check_mapping
    from tasks.data.sources import SourceLimits

    settings = get_settings()
    try:
        checked = check_mapping(params.source, params.mapping, params.kind, params.given_rule(),
                                max_rejected_share=params.max_rejected_share,
                                limits=SourceLimits(settings.source_max_rows, settings.source_max_columns,
                                                    settings.source_max_bytes))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    print("\n".join(checked.lines), flush=True)
    return 0 if checked.ready else 1


def run_cli(
    flow_fn: Callable[[Any], dict],
    model: type[BaseModel],
    render: Callable[[dict], str],
    description: str,
    argv: list[str] | None = None,
) -> int:
    """Parse options, run the flow, print a readable summary (and the JSON line with ``--json``)."""
    from pymongo.errors import OperationFailure

    from infra.retry import TRANSIENT_ERRORS
    from infra.storage import store_name

    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    try:
        params, namespace = parse_or_exit(model, description, argv)
    except SystemExit as exc:
        if exc.code == 1:  # a missing file, said by parse_or_exit: the exit code run_cli returns
            return 1
        raise
    print(starting_line(flow_fn), flush=True)  # within 2 s: before Prefect's server and the store start
    servers_before = temporary_prefect_servers()
    try:
        with quiet_user_errors(not namespace.debug):
            try:
                with generous_startup():
                    summary = flow_fn(params)
            except TRANSIENT_ERRORS as exc:  # still down after the tasks' retries: one line, not tracebacks
                raise StoreStoppedAnsweringError(
                    f"{store_name()} stopped answering during the run and had not come back after the tasks' "
                    f"retries ({type(exc).__name__}); check that it runs, then run again: what was stored "
                    "before stays, and a re-run finds it") from exc
            except OperationFailure as exc:
                failure = store_failure(exc)
                if failure is None:
                    raise
                raise StoreFailedError(failure) from exc
    except UserError as exc:
        if namespace.debug:
            traceback.print_exc()
        own = [server for server in temporary_prefect_servers() if not any(server is b for b in servers_before)]
        if own:  # the run's own server would say it stops after the error line: send the logs, then stop it
            from prefect.logging.handlers import APILogHandler

            APILogHandler().flush()
            for server in own:
                server.stop()
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    print(render(summary))
    if namespace.json:
        print(json.dumps(summary, default=str, sort_keys=True))
    return 0
