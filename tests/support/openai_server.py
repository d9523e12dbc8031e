"""A small OpenAI-compatible HTTP server for tests and benchmarks.

It answers `POST /v1/chat/completions` with valid structured output for the
five tasks of `reflexio_admin.llm` (computed by the offline provider from the
JSON document in the last user message), `POST /v1/embeddings` with offline
hashing vectors of a configurable dimension, and `GET /v1/models`.

Faults are scripted as a FIFO of behaviours, one consumed per API request:

    with FakeOpenAIServer() as server:
        server.push(status=429, retry_after=1)
        server.push(status=500, times=2)
        server.push(delay=5.0)
        server.push(malformed=True)
        server.push(refusal="I can't help with that")
        server.push(truncated=True)
        server.push(content='{"facts": []}')   # answer exactly this content
        ...
        assert server.requests == [("/v1/chat/completions", "profile_extraction")]

`default_delay` adds seconds to every answer. An out-of-process server is
scripted over HTTP with `POST /_control` (the same options as JSON, see
`control()`) and read with `GET /_stats`. Run one standalone with:

    python -m tests.support.openai_server --port 8765 [--delay 0.1]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import math
import signal
import struct
import threading
import time
import urllib.request
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reflexio_admin.llm import Rule, Turn, estimate_tokens
from reflexio_admin.offline_llm import OfflineProvider, embed_text

logger = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"
MALFORMED_CONTENT = "Sure! Here is what I found: the user works night shifts."


@dataclass(frozen=True)
class Behaviour:
    """How the server answers one request (the defaults answer normally)."""

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    malformed: bool = False
    refusal: str | None = None
    truncated: bool = False
    content: str | None = None


_NORMAL = Behaviour()


class FakeOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 with an ephemeral port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        embedding_dimension: int = 384,
        default_delay: float = 0.0,
        models: Sequence[str] = ("gpt-4o-mini", "text-embedding-3-small"),
    ) -> None:
        self.host = host
        self.port = port
        self.embedding_dimension = embedding_dimension
        self.default_delay = default_delay
        self.models = list(models)
        self.requests: list[tuple[str, str | None]] = []
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), _Handler, self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"fake-openai-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        # Wake handlers that are sleeping through a scripted delay.
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # Scripting

    def push(
        self,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        malformed: bool = False,
        refusal: str | None = None,
        truncated: bool = False,
        content: str | None = None,
        times: int = 1,
    ) -> None:
        """Queue how the next request(s) are answered, TIMES times."""
        behaviour = Behaviour(
            status=status,
            retry_after=retry_after,
            delay=delay,
            malformed=malformed,
            refusal=refusal,
            truncated=truncated,
            content=content,
        )
        with self._lock:
            self._script.extend([behaviour] * times)

    def reset(self) -> None:
        """Forget the script, the recorded requests and the default delay."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.default_delay = 0.0

    def count(self, path: str | None = None, task: str | None = None) -> int:
        """Count the recorded requests, optionally of one path and/or task."""
        with self._lock:
            return sum(
                1
                for p, t in self.requests
                if (path is None or p == path) and (task is None or t == task)
            )

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": [list(request) for request in self.requests],
                "pending": len(self._script),
                "default_delay": self.default_delay,
                "embedding_dimension": self.embedding_dimension,
            }

    def apply_control(self, options: dict[str, Any]) -> None:
        """Apply the options of a `POST /_control` body (see `control()`)."""
        if options.get("reset"):
            self.reset()
        if "default_delay" in options:
            self.default_delay = float(options["default_delay"])
        if "embedding_dimension" in options:
            self.embedding_dimension = int(options["embedding_dimension"])

        pushes = options.get("push", [])
        if isinstance(pushes, dict):
            pushes = [pushes]
        fields = {name for name in Behaviour.__dataclass_fields__} | {"times"}
        top_level = {key: value for key, value in options.items() if key in fields}
        if top_level:
            pushes = [*pushes, top_level]
        for push in pushes:
            unknown = set(push) - fields
            if unknown:
                raise ValueError(f"unknown behaviour options: {sorted(unknown)}")
            self.push(**push)

    # Used by the request handler

    def _next(self, path: str, task: str | None) -> Behaviour:
        with self._lock:
            self.requests.append((path, task))
            return self._script.popleft() if self._script else _NORMAL

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


def control(url: str, **options: Any) -> dict[str, Any]:
    """Script a server running in another process; return its stats.

    URL is the server's root or base URL. Options: `push` (a behaviour dict
    or a list of them), or the fields of one behaviour at the top level
    (status, retry_after, delay, malformed, refusal, truncated, content,
    times);
    `default_delay`, `embedding_dimension`, and `reset=True`.
    """
    request = urllib.request.Request(
        _root(url) + "/_control",
        data=json.dumps(options).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def stats(url: str) -> dict[str, Any]:
    """Read the stats of a server running in another process."""
    with urllib.request.urlopen(_root(url) + "/_stats", timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def _root(url: str) -> str:
    url = url.rstrip("/")
    return url.removesuffix("/v1")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Do not wait on close for handlers that are still sleeping.
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        fake: FakeOpenAIServer,
    ) -> None:
        self.fake = fake
        super().__init__(address, handler)


class _BadRequest(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body go out as two writes, and with
    # Nagle's algorithm the body waits for the client's delayed ACK (~40 ms
    # on Linux), which would add to every answer's delay.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("fake openai: %s", format % args)

    # Routing

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        fake = self.server.fake
        if path == "/_stats":
            self._send_json(200, fake.stats())
        elif path == MODELS_PATH:
            fake._sleep(fake._next(path, None).delay + fake.default_delay)
            data = [
                {"id": name, "object": "model", "created": 0, "owned_by": "fake"}
                for name in fake.models
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(404, "not found", "invalid_request_error")

    def do_POST(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        try:
            body = self._read_json()
            if path == "/_control":
                self.server.fake.apply_control(body)
                self._send_json(200, self.server.fake.stats())
            elif path in (CHAT_PATH, EMBEDDINGS_PATH):
                self._api(path, body)
            else:
                self._send_error(404, "not found", "invalid_request_error")
        except _BadRequest as exc:
            self._send_error(400, str(exc), "invalid_request_error")
        except (ValueError, TypeError, KeyError) as exc:
            self._send_error(400, f"bad request: {exc}", "invalid_request_error")

    def _api(self, path: str, body: dict[str, Any]) -> None:
        fake = self.server.fake
        arrived = time.monotonic()
        task = _task_of(body) if path == CHAT_PATH else None
        behaviour = fake._next(path, task)
        authorized = self.headers.get("Authorization", "").startswith("Bearer ")
        failing = behaviour.status is not None and behaviour.status >= 400

        # The answer is computed while the delay runs: a delay of 0.1 s
        # answers 0.1 s after the request arrived, however busy this server.
        answer: dict[str, Any] = {}
        try:
            if authorized and not failing:
                if path == CHAT_PATH:
                    answer = _chat_completion(body, task, behaviour)
                else:
                    answer = _embeddings(
                        body, fake.embedding_dimension, malformed=behaviour.malformed
                    )
        finally:
            delay = behaviour.delay + fake.default_delay
            fake._sleep(delay - (time.monotonic() - arrived))

        if not authorized:
            self._send_error(401, "missing API key", "invalid_api_key")
        elif failing:
            self._send_status(behaviour)
        else:
            self._send_json(200, answer)

    # Responses

    def _read_json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise _BadRequest("the body is not JSON") from None
        if not isinstance(body, dict):
            raise _BadRequest("the body is not a JSON object")
        return body

    def _send_status(self, behaviour: Behaviour) -> None:
        status = behaviour.status or 500
        headers = {}
        if behaviour.retry_after is not None:
            headers["retry-after"] = str(math.ceil(behaviour.retry_after))
            headers["retry-after-ms"] = str(int(behaviour.retry_after * 1000))
        if status == 429:
            kind, code = "requests", "rate_limit_exceeded"
        elif status >= 500:
            kind, code = "server_error", "server_error"
        else:
            kind, code = "invalid_request_error", None
        self._send_error(status, f"scripted HTTP {status}", kind, code, headers)

    def _send_error(
        self,
        status: int,
        message: str,
        kind: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        error = {"message": message, "type": kind, "param": None, "code": code}
        self._send_json(status, {"error": error}, headers)

    def _send_json(
        self,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout test); nothing left to answer.
            self.close_connection = True


# Answers


def _task_of(body: dict[str, Any]) -> str | None:
    response_format = body.get("response_format") or {}
    schema = response_format.get("json_schema") or {}
    return schema.get("name")


def _chat_completion(
    body: dict[str, Any], task: str | None, behaviour: Behaviour
) -> dict[str, Any]:
    messages = body.get("messages") or []
    if not messages:
        raise _BadRequest("messages must not be empty")
    prompt = "".join(str(message.get("content") or "") for message in messages)

    finish_reason = "stop"
    refusal = None
    if behaviour.refusal:
        content, refusal = None, behaviour.refusal
    elif behaviour.malformed:
        content = MALFORMED_CONTENT
    elif behaviour.content is not None:
        content = behaviour.content
    else:
        content = json.dumps(_answer(task, messages[-1].get("content") or ""))
        if behaviour.truncated:
            content = content[: max(1, len(content) // 2)]
            finish_reason = "length"

    completion_tokens = estimate_tokens(content or refusal or "")
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-4o-mini"),
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": refusal,
                },
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": estimate_tokens(prompt),
            "completion_tokens": completion_tokens,
            "total_tokens": estimate_tokens(prompt) + completion_tokens,
        },
    }


def _texts(items: Sequence[Any]) -> list[str]:
    return [item["content"] if isinstance(item, dict) else str(item) for item in items]


def _turns(items: Sequence[dict[str, Any]]) -> list[Turn]:
    return [
        Turn(role=str(item["role"]), content=str(item["content"])) for item in items
    ]


def _rules(items: Sequence[dict[str, Any]]) -> list[Rule]:
    return [
        Rule(
            trigger=str(item.get("trigger", "")),
            content=str(item.get("content", "")),
            rationale=str(item.get("rationale", "")),
        )
        for item in items
    ]


def _answer(task: str | None, message: str) -> Any:
    """Answer a task the way the offline provider would."""
    if task is None:
        return {"answer": "This is the fake OpenAI server."}
    try:
        document = json.loads(message)
    except ValueError:
        raise _BadRequest("the last user message is not a JSON document") from None
    provider = OfflineProvider()
    definition = str(document.get("definition", ""))
    context = str(document.get("context", ""))

    if task == "profile_extraction":
        facts = provider.extract_profiles(
            definition=definition,
            context=context,
            turns=_turns(document["turns"]),
            known_facts=_texts(document.get("known_facts", [])),
        ).items
        return {
            "facts": [
                {
                    "content": fact.content,
                    "source_turns": list(fact.source_turns),
                    "time_to_live": fact.time_to_live,
                    "supersedes": list(fact.supersedes),
                }
                for fact in facts
            ]
        }
    if task == "profile_consolidation":
        facts = provider.consolidate_profiles(
            definition=definition, facts=_texts(document["facts"])
        ).items
        return {
            "facts": [
                {
                    "content": fact.content,
                    "time_to_live": fact.time_to_live,
                    "merged_from": list(fact.merged_from),
                }
                for fact in facts
            ]
        }
    if task == "playbook_extraction":
        rules = provider.extract_playbooks(
            definition=definition,
            context=context,
            turns=_turns(document["turns"]),
            known_rules=_texts(document.get("known_rules", [])),
        ).items
        return {"rules": [_rule_json(rule, "source_turns") for rule in rules]}
    if task == "playbook_consolidation":
        rules = provider.consolidate_playbooks(
            definition=definition, rules=_rules(document["rules"])
        ).items
        return {"rules": [_rule_json(rule, "merged_from") for rule in rules]}
    if task == "cluster_consolidation":
        decision, _ = provider.consolidate_cluster(
            rules=_rules(document["rules"]),
            existing=_texts(document.get("existing", [])),
            rejected=_texts(document.get("rejected", [])),
        )
        if decision.rule is not None:
            action = "propose"
        elif decision.covered_by is not None:
            action = "covered"
        else:
            action = "skip"
        rule = decision.rule
        return {
            "action": action,
            "rule": _rule_json(rule, "merged_from") if rule else None,
            "covered_by": decision.covered_by,
            "reason": decision.reason,
        }
    raise _BadRequest(f"unknown task {task!r}")


def _rule_json(rule: Rule, indexes: str) -> dict[str, Any]:
    data = asdict(rule)
    return {
        "trigger": data["trigger"],
        "content": data["content"],
        "rationale": data["rationale"],
        indexes: list(data[indexes]),
    }


def _embeddings(
    body: dict[str, Any], default_dimension: int, *, malformed: bool = False
) -> dict[str, Any]:
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise _BadRequest("input must be a string or a list of strings")
    dimension = int(body.get("dimensions") or default_dimension)
    base64_wanted = body.get("encoding_format") == "base64"

    data = []
    for index, text in enumerate(inputs):
        vector: Any = embed_text(text, dimension)
        if base64_wanted:
            packed = struct.pack(f"<{dimension}f", *vector)
            vector = base64.b64encode(packed).decode()
        if malformed:  # what a broken server might send: no vector at all
            vector = "not a vector"
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(estimate_tokens(text) for text in inputs)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", "text-embedding-3-small"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds added to every answer"
    )
    parser.add_argument(
        "--dimension", type=int, default=384, help="embedding dimension"
    )
    args = parser.parse_args(argv)

    server = FakeOpenAIServer(
        args.host,
        args.port,
        embedding_dimension=args.dimension,
        default_delay=args.delay,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    server.start()
    print(f"Fake OpenAI server listening on {server.base_url}", flush=True)
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
