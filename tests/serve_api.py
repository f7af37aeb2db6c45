#!/usr/bin/env python3
"""`joule serve` driven as a user's client drives it, end to end, and checked line by line.

    tests/serve_api.py BUILD_DIR

Starts BUILD_DIR/tools/joule serve (the default model) on free ports (--port 0; the port is read
from the "[joule] serving ... at http://127.0.0.1:PORT/v1" line on stderr) and checks:
the official `openai` client (chat and completions, plain and streamed with include_usage,
models.list, usage.energy, the X-Joule-Energy-* headers), greedy determinism and equality with
`joule run --temp 0`, 16 concurrent requests (each answer equal to the same prompt alone; their
energies add up to no more than /metrics' requests account), OpenAI-shaped errors (400, 401, 404,
413, 429 + Retry-After, context_length_exceeded), a client hanging up mid-stream (cancelled,
/metrics back to 0 running), priority classes (the `priority` field, the X-Priority header, an API
key's maximum class, per-class /metrics), /metrics through `promtool check metrics`, --json-log
lines and a SIGTERM drain (a running stream completes, new work gets 503, exit status 0).

The openai package comes from the project's venv (.venv, made by scripts/setup.sh): run with any
python3, the script re-executes itself under .venv/bin/python when `import openai` fails (ctest
calls it with python3). Besides openai, standard library only; every wait is bounded and every
server is killed at the end, also on failure.
"""
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_checks import check, failures  # noqa: E402  (tests/e2e_checks.py)
from joule_server import Server  # noqa: E402  (tests/joule_server.py)
VENV_PYTHON = REPO / ".venv" / "bin" / "python"

try:
    import openai
except ImportError:
    if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parents[1].resolve() \
            and os.environ.get("JOULE_SERVE_API_REEXEC") != "1":
        os.environ["JOULE_SERVE_API_REEXEC"] = "1"
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
    sys.exit(f"serve_api.py: the openai package is missing; run scripts/setup.sh (it makes {VENV_PYTHON})")

ENERGY_KEYS = {"energy_j", "prefill_j", "decode_j", "j_per_token", "avg_power_w", "source", "domains"}
LOG_KEYS = {"id", "priority", "finish_reason", "prompt_tokens", "completion_tokens", "queue_ms", "ttft_ms", "tpot_ms", "e2e_ms",
            "energy"}
METRICS = ["joule_num_requests_running", "joule_num_requests_waiting", "joule_kv_cache_usage_perc",
           "joule_prompt_tokens_total", "joule_generation_tokens_total", "joule_time_to_first_token_seconds",
           "joule_time_per_output_token_seconds", "joule_e2e_request_latency_seconds", "joule_energy_joules_total",
           "joule_power_watts"]
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
               413: "invalid_request_error", 429: "rate_limit_error", 503: "unavailable_error"}
PROMPTS = ["The capital of France is", "Once upon a time", "The quick brown fox", "In 1492, Columbus",
           "Water boils at", "The largest planet in the solar system is", "My favourite food is",
           "To make a cup of tea, first", "The theory of relativity", "A haiku about the sea:",
           "def fibonacci(n):", "The first law of thermodynamics states", "Paris is known for",
           "The three primary colors are", "Photosynthesis is the process", "Dear Sir or Madam,"]


def request(port, method, path, body=None, headers=None, timeout=120):
    """A raw request: (status, headers as a lower-case dict, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        h = {"Content-Type": "application/json"} if body is not None else {}
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def post(port, path, body, **kw):
    return request(port, "POST", path, body, **kw)


def error_shape(status, body, want_status, param=None, code=None):
    """True when body is {"error": {"message", "type", "param", "code"}} as OpenAI's API returns it."""
    try:
        e = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return (status == want_status and set(e) >= {"message", "type", "param", "code"}
            and isinstance(e["message"], str) and e["message"] != ""
            and e["type"] == ERROR_TYPES.get(want_status, e["type"])
            and (param is None or e["param"] == param) and (code is None or e["code"] == code))


def check_error(r, want_status, what, param=None, code=None):
    status, _, body = r
    return check(error_shape(status, body, want_status, param, code), what,
                 f"got {status}: {body[:500]!r}")


def metrics(port):
    status, _, body = request(port, "GET", "/metrics", timeout=30)
    return body.decode() if status == 200 else ""


def metric(text, name, **labels):
    """The sum of the samples of `name` whose labels include `labels` (None when there is none)."""
    total, found = 0.0, False
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
            found = True
    return total if found else None


def extra(obj, key):
    """A field the openai models do not declare (usage.energy): model_extra, else an attribute."""
    x = getattr(obj, "model_extra", None) or {}
    return x[key] if key in x else getattr(obj, key, None)


def energy_ok(e, completion_tokens):
    return (isinstance(e, dict) and set(e) >= ENERGY_KEYS and e["energy_j"] > 0 and e["prefill_j"] >= 0
            and e["decode_j"] >= 0 and abs(e["prefill_j"] + e["decode_j"] - e["energy_j"]) <= 1e-6 * e["energy_j"] + 1e-9
            and (completion_tokens == 0 or abs(e["j_per_token"] * completion_tokens - e["energy_j"]) <= 1e-6 * e["energy_j"])
            and (e["avg_power_w"] is None or e["avg_power_w"] > 0)
            and e["source"] in ("counter", "sampled", "estimated") and isinstance(e["domains"], list) and e["domains"])


def sse_events(port, body, timeout=300, on_event=None):
    """A streamed POST /v1/completions or /v1/chat/completions read to its end: (status, headers, [data...])."""
    path = body.pop("_path", "/v1/completions")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if r.status != 200:
            return r.status, hdrs, [r.read()]
        events = []
        for raw in r:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("data: "):
                events.append(line[6:])
                if on_event:
                    on_event(line[6:])
        return 200, hdrs, events
    finally:
        conn.close()


def stream_summary(events):
    """(text, finish_reason, usage, ended with [DONE]) of a completions SSE stream."""
    text, finish, usage = "", None, None
    for ev in events:
        if ev == "[DONE]":
            continue
        c = json.loads(ev)
        for ch in c.get("choices", []):
            text += ch.get("text") or (ch.get("delta") or {}).get("content") or ""
            finish = ch.get("finish_reason") or finish
        usage = c.get("usage") or usage
    return text, finish, usage, bool(events) and events[-1] == "[DONE]"


# ---------------------------------------------------------------------------------------------
def play_openai_client(client, model_id):
    ids = [m.id for m in client.models.list().data]
    check(ids == [model_id], "openai: models.list() lists the served model", ids)
    msgs = [{"role": "user", "content": "Name one color."}]

    raw = client.chat.completions.with_raw_response.create(model=model_id, messages=msgs, max_tokens=8, temperature=0)
    chat = raw.parse()
    e = extra(chat.usage, "energy")
    check(chat.object == "chat.completion" and chat.choices[0].message.role == "assistant"
          and chat.choices[0].message.content and chat.usage.completion_tokens <= 8
          and chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens,
          "openai: chat.completions.create (non-stream) answers with usage", chat)
    check(energy_ok(e, chat.usage.completion_tokens), "openai: chat usage.energy (energy_j > 0, split, source, domains)", e)
    hdr = {k: raw.headers.get(k) for k in ("X-Joule-Energy-J", "X-Joule-Energy-Prefill-J", "X-Joule-Energy-Decode-J",
                                           "X-Joule-Energy-Source")}
    check(all(hdr.values()) and e and abs(float(hdr["X-Joule-Energy-J"]) - e["energy_j"]) < 1e-3
          and hdr["X-Joule-Energy-Source"] == e["source"],
          "openai: X-Joule-Energy-* headers on a non-stream answer, equal to usage.energy", hdr)

    chat2 = client.chat.completions.create(model=model_id, messages=msgs, max_tokens=8, temperature=0)
    check(chat2.choices[0].message.content == chat.choices[0].message.content,
          "greedy chat: the same messages twice give the same text",
          f"{chat.choices[0].message.content!r} vs {chat2.choices[0].message.content!r}")

    chunks = list(client.chat.completions.create(model=model_id, messages=msgs, max_tokens=8, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    usage = chunks[-1].usage if chunks else None
    check(chunks and chunks[0].choices and chunks[0].choices[0].delta.role == "assistant",
          "openai: chat stream starts with the assistant role", chunks[:1])
    check(text == chat.choices[0].message.content and finish == [chat.choices[0].finish_reason],
          "openai: chat stream = the non-stream answer (text, one finish_reason)",
          f"{text!r} {finish} vs {chat.choices[0].message.content!r}")
    check(usage is not None and not chunks[-1].choices and usage.completion_tokens == chat.usage.completion_tokens
          and energy_ok(extra(usage, "energy"), usage.completion_tokens),
          "openai: chat stream include_usage: a last chunk with usage and usage.energy", chunks[-1] if chunks else None)

    prompt = PROMPTS[0]
    comp = client.completions.create(model=model_id, prompt=prompt, max_tokens=8, temperature=0)
    ce = extra(comp.usage, "energy")
    check(comp.object == "text_completion" and comp.choices[0].text and comp.usage.completion_tokens == 8
          and comp.choices[0].finish_reason == "length", "openai: completions.create (non-stream), 8 tokens, length",
          comp)
    check(energy_ok(ce, comp.usage.completion_tokens), "openai: completions usage.energy", ce)
    chunks = list(client.completions.create(model=model_id, prompt=prompt, max_tokens=8, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    usage = chunks[-1].usage if chunks else None
    check(text == comp.choices[0].text and usage is not None and usage.completion_tokens == 8
          and energy_ok(extra(usage, "energy"), 8),
          "openai: completions stream = the non-stream text, with usage and energy at the end",
          f"{text!r} vs {comp.choices[0].text!r}; usage {usage}")
    return comp.choices[0].text


def play_joule_run(joule, server_text):
    p = subprocess.run([str(joule), "run", "-p", PROMPTS[0], "-n", "8", "--temp", "0", "--json", "--no-energy"],
                       capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if not k.startswith("JOULE_")})
    try:
        text = json.loads(p.stdout)["text"]
    except (ValueError, KeyError):
        text = None
    check(p.returncode == 0 and text == server_text, "greedy: the server's completion = `joule run -p ... --temp 0`",
          f"run: {text!r} (exit {p.returncode}, {p.stderr[-300:]!r})\nserve: {server_text!r}")


def play_concurrency(client, model_id, port):
    def one(prompt):
        return client.completions.create(model=model_id, prompt=prompt, max_tokens=8, temperature=0)

    t0 = time.monotonic()
    alone = [one(p) for p in PROMPTS]
    print(f"     ({len(PROMPTS)} prompts alone: {time.monotonic() - t0:.1f} s)", flush=True)
    before = metric(metrics(port), "joule_energy_joules_total", account="requests")
    t0 = time.monotonic()
    errors = []

    def guarded(prompt):
        try:
            return one(prompt)
        except Exception as ex:  # noqa: BLE001 - reported as a failed check
            errors.append(f"{prompt!r}: {ex!r}")
            return None

    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        together = list(pool.map(guarded, PROMPTS))
    print(f"     ({len(PROMPTS)} prompts together: {time.monotonic() - t0:.1f} s)", flush=True)
    after = metric(metrics(port), "joule_energy_joules_total", account="requests")
    check(not errors and all(together), f"{len(PROMPTS)} concurrent requests all answered 200", "\n".join(errors))
    bad = [(p, r.choices[0].finish_reason, r.usage.completion_tokens) for p, r in zip(PROMPTS, together) if r
           and not ((r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 8)
                    or (r.choices[0].finish_reason == "stop" and r.usage.completion_tokens <= 8))]
    check(not bad, "concurrent: 8 tokens and finish_reason length each (or stop before)", bad)
    diff = [(p, a.choices[0].text, r.choices[0].text) for p, a, r in zip(PROMPTS, alone, together)
            if r and a.choices[0].text != r.choices[0].text]
    check(not diff, "batch invariance: each concurrent greedy answer = the same prompt alone",
          "\n".join(f"{p!r}: alone {a!r}, batched {b!r}" for p, a, b in diff))
    energies = [extra(r.usage, "energy") for r in together if r]
    check(all(energy_ok(e, 8) for e in energies), "concurrent: every answer has usage.energy", energies[:2])
    total = sum(e["energy_j"] for e in energies if e)
    ok = before is not None and after is not None and total <= (after - before) * 1.01 and total > 0
    check(ok, "energy: the burst's usage.energy sum <= the increase of joule_energy_joules_total{account=\"requests\"}",
          f"sum {total:.3f} J; counter {before} -> {after} (+{(after or 0) - (before or 0):.3f} J)")


def play_errors(port, model_id):
    p = lambda body, **kw: post(port, "/v1/completions", body, **kw)  # noqa: E731
    check_error(p(b'{"prompt": "hi", "max_tokens": '), 400, "400 malformed JSON, OpenAI error shape")
    check_error(p({"prompt": "hi", "temperature": "hot"}), 400, "400 wrong type, param 'temperature'",
                param="temperature")
    check_error(p({"prompt": "hi", "temperature": 5}), 400, "400 temperature out of range", param="temperature")
    check_error(p({"prompt": "hi", "n": 2}), 400, "400 n = 2", param="n")
    check_error(post(port, "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "n": 2}), 400,
                "400 n = 2 (chat)", param="n")
    check_error(request(port, "GET", "/v1/nope"), 404, "404 unknown route (GET)")
    check_error(post(port, "/v1/nope", {"prompt": "hi"}), 404, "404 unknown route (POST)")
    check_error(p({"model": "nope", "prompt": "hi", "max_tokens": 1}), 404, "404 unknown model, code model_not_found",
                param="model", code="model_not_found")
    check_error(big_body(port, 10 << 20), 413, "413 for a 10 MB body (limit 4 MiB)")
    check_error(p(b'{"prompt": "caf\xe9 \xff\xfe", "max_tokens": 1}'), 400, "400 non-UTF-8 bytes in the body")
    check_error(p(b"[" * 100000), 400, "400 a JSON nesting bomb (100000 '[')")
    check_error(p(b'{"prompt": "hi", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}"), 400,
                "400 a deep but well-formed nesting")
    check_error(p({"prompt": "hi", "max_tokens": 100000}), 400, "400 max_tokens beyond the context: context_length_exceeded",
                code="context_length_exceeded")

    plain = p({"prompt": PROMPTS[1], "max_tokens": 8, "temperature": 0})
    stops = [f"zq{i}xv" for i in range(3000)]
    r = p({"prompt": PROMPTS[1], "max_tokens": 8, "temperature": 0, "stop": stops})
    ok = r[0] == 200 and plain[0] == 200
    if ok:
        a, b = json.loads(plain[2]), json.loads(r[2])
        ok = b["choices"][0]["text"] == a["choices"][0]["text"] and b["choices"][0]["finish_reason"] == "length"
    check(ok, "3000 distinct stop strings: a correct 200 answer (= the answer without them)",
          f"{r[0]} {r[2][:300]!r} vs {plain[2][:300]!r}")
    r = p({"prompt": "One, two, three, four, five, six, seven, eight", "max_tokens": 16, "temperature": 0, "stop": [","]})
    ok = r[0] == 200 and json.loads(r[2])["choices"][0]["finish_reason"] == "stop" and "," not in json.loads(r[2])["choices"][0]["text"]
    check(ok, "a stop string that occurs ends the answer (finish_reason stop, the stop string left out)", r[2][:300])

    r = p({"prompt": PROMPTS[2], "max_tokens": 4, "temperature": 0})
    check(r[0] == 200 and json.loads(r[2])["usage"]["completion_tokens"] == 4,
          "after all the bad requests the server still answers", r[:1] + (r[2][:300],))
    r = request(port, "GET", "/health")
    check(r[0] == 200, "/health is 200", r)


def big_body(port, size):
    """POSTs a `size`-byte JSON body from a raw socket; the server may answer (413) and close before
    it has all of it, so the answer is read as soon as it comes. Returns (status, headers, body)."""
    payload = b'{"prompt": "' + b"a" * (size - 32) + b'", "max_tokens": 1}'
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n")
        view, sent = memoryview(payload), 0
        answered = bool(select.select([s], [], [], 1.0)[0])
        try:
            while sent < len(payload) and not answered:
                sent += s.send(view[sent:sent + 65536])
                answered = bool(select.select([s], [], [], 0)[0])
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
                head, sep, body = data.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if sep and m and len(body) >= int(m.group(1)):
                    break
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d+)", head)
    return (int(m.group(1)) if m else 0), {}, body if m else data[:300]


def play_disconnect(port):
    """A client that hangs up mid-stream is cancelled; the server frees it and goes on."""
    before = metric(metrics(port), "joule_request_success_total", finished_reason="cancelled") or 0
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    body = json.dumps({"prompt": PROMPTS[3], "max_tokens": 200, "temperature": 0, "stream": True}).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    got, deadline = b"", time.monotonic() + 120
    while got.count(b"data: ") < 2 and time.monotonic() < deadline:
        d = s.recv(4096)
        if not d:
            break
        got += d
    check(got.startswith(b"HTTP/1.1 200") and got.count(b"data: ") >= 2, "disconnect: the stream started",
          got[:400])
    s.close()
    t0 = time.monotonic()
    seen = {}  # condition -> seconds after the hang-up it first held
    text = ""
    while time.monotonic() - t0 < 3.0 and len(seen) < 3:
        text = metrics(port)
        now = time.monotonic() - t0
        if (metric(text, "joule_request_success_total", finished_reason="cancelled") or 0) >= before + 1:
            seen.setdefault("cancelled", now)
        if metric(text, "joule_num_requests_running") == 0:
            seen.setdefault("running", now)
        if metric(text, "joule_kv_cache_usage_perc") == 0:
            seen.setdefault("kv", now)
        time.sleep(0.1)
    gauges = {m: metric(text, m) for m in ("joule_num_requests_running", "joule_num_requests_waiting",
                                           "joule_kv_cache_usage_perc")}
    took = lambda k: f"{seen[k]:.1f} s" if k in seen else "not within 3 s"  # noqa: E731
    check("cancelled" in seen,
          f"disconnect: joule_request_success_total{{finished_reason=\"cancelled\"}} +1 ({took('cancelled')})",
          f"cancelled {before} -> {metric(text, 'joule_request_success_total', finished_reason='cancelled')}")
    check("running" in seen, f"disconnect: joule_num_requests_running back to 0 ({took('running')})",
          f"gauges 3 s after the hang-up: {gauges}")
    check("kv" in seen, f"disconnect: joule_kv_cache_usage_perc back to 0 ({took('kv')})",
          f"gauges 3 s after the hang-up: {gauges}")
    r = post(port, "/v1/completions", {"prompt": PROMPTS[4], "max_tokens": 4, "temperature": 0})
    check(r[0] == 200, "disconnect: the server still serves", r[:1] + (r[2][:300],))


def run_loadgen(joule, base, *args):
    """joule loadgen --json against base: (the process, its JSON or {})."""
    r = subprocess.run([str(joule), "loadgen", "--url", base, "--json", *args], capture_output=True, text=True,
                       timeout=600)
    try:
        return r, json.loads(r.stdout)
    except json.JSONDecodeError:
        return r, {}


def play_loadgen(joule, base):
    """joule loadgen against the server: every request completes, and the energy it sums is there."""
    r, j = run_loadgen(joule, base, "-n", "4", "-c", "2", "--max-tokens", "4", "--goodput", "ttft:600000")
    check(r.returncode == 0 and j.get("completed") == 4 and j.get("failed") == 0 and j.get("output_tokens") == 16,
          "loadgen: 4 streamed requests completed, 16 output tokens counted from usage", r.stdout + r.stderr)
    check((j.get("energy_j") or 0) > 0 and j.get("energy_source") in ("counter", "sampled", "estimated")
          and j.get("goodput") is not None and j["ttft_ms"]["p99"] >= j["ttft_ms"]["median"] > 0,
          "loadgen: energy from the answers, goodput, TTFT percentiles", r.stdout)
    r, j = run_loadgen(joule, base, "-n", "12", "-r", "40", "--max-tokens", "2")
    check(r.returncode == 0 and j.get("completed") == 12 and j.get("failed") == 0,
          "loadgen: 12 Poisson arrivals (open loop) all completed", r.stdout + r.stderr)
    r, j = run_loadgen(joule, base, "-n", "12", "-c", "4", "--max-tokens", "2", "--mix", "urgent:1,normal:1,low:1")
    classes = j.get("by_priority") or {}
    check(r.returncode == 0 and set(classes) == {"urgent", "normal", "low"}
          and sum(c["completed"] for c in classes.values()) == 12 and all(c["completed"] > 0 for c in classes.values())
          and all((c.get("j_per_request") or 0) > 0 for c in classes.values()),
          "loadgen --mix: each class's requests, latencies and J/request", r.stdout + r.stderr)


def play_priority(port):
    body = {"prompt": PROMPTS[0], "max_tokens": 2, "temperature": 0}
    r = post(port, "/v1/completions", dict(body, priority="urgent"))
    check(r[0] == 200 and r[1].get("x-priority") == "urgent", "priority: the field is served as its class (X-Priority)",
          r[:2])
    r = post(port, "/v1/completions", body, headers={"X-Priority": "low"})
    check(r[0] == 200 and r[1].get("x-priority") == "low", "priority: the X-Priority header when the body has none",
          r[:2])
    r = post(port, "/v1/completions", body)
    check(r[0] == 200 and r[1].get("x-priority") == "normal", "priority: normal by default", r[:2])
    check_error(post(port, "/v1/completions", dict(body, priority="high")), 400, "priority: an unknown class is 400",
                param="priority")
    check_error(post(port, "/v1/completions", body, headers={"X-Priority": "asap"}), 400,
                "priority: an unknown X-Priority is 400", param="X-Priority")
    text = metrics(port)
    counts = {c: metric(text, "joule_time_to_first_token_seconds_count", priority=c) for c in ("urgent", "normal", "low")}
    check(all((v or 0) >= 1 for v in counts.values()), "priority: /metrics has each class's latency histogram", counts)
    check(metric(text, "joule_num_requests_rejected_total", priority="low") is not None
          and metric(text, "joule_num_preemptions_total", priority="urgent") is not None,
          "priority: /metrics has rejections and preemptions per class")


def play_metrics(port):
    text = metrics(port)
    try:
        p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "/metrics passes `promtool check metrics`", p.stdout + p.stderr)
    except FileNotFoundError:
        check(False, "/metrics passes `promtool check metrics`", "no promtool: install Debian's prometheus package "
              "(scripts/setup.sh does)")
    missing = [m for m in METRICS if not re.search(r"^" + m + r"(_bucket|_count|_sum)?\{", text, re.M)]
    check(not missing, "/metrics has the vLLM-style metrics and energy", missing)
    check((metric(text, "joule_generation_tokens_total") or 0) > 0 and (metric(text, "joule_prompt_tokens_total") or 0) > 0
          and (metric(text, "joule_e2e_request_latency_seconds_count") or 0) > 0,
          "/metrics counted the tokens and requests served", text[:600])
    return text


def play_json_log(path, metrics_text):
    try:
        lines = [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]
    except (OSError, ValueError) as ex:
        check(False, "--json-log: one JSON object per line", repr(ex))
        return
    ended = metric(metrics_text, "joule_request_success_total") or 0
    check(len(lines) > 0 and len(lines) == ended,
          "--json-log: one line per finished request (as many as joule_request_success_total)",
          f"{len(lines)} lines, {ended} requests ended")
    bad = [l for l in lines if not set(l) >= LOG_KEYS]
    check(not bad, "--json-log: id, finish_reason, tokens, queue/ttft/tpot/e2e ms, energy on every line",
          bad[:2])
    reasons = {l.get("finish_reason") for l in lines}
    check({"length", "cancelled"} <= reasons, "--json-log: finish reasons length and cancelled logged", reasons)


def play_auth(joule):
    srv = Server(joule, "--api-key", "secret", "--api-key", "batch:key:low", "--max-sequences", "2", "--max-waiting", "4",
                 label="api-key server")
    try:
        body = {"prompt": "hi", "max_tokens": 2, "temperature": 0}
        check_error(post(srv.port, "/v1/completions", body), 401, "--api-key: no key is 401")
        check_error(post(srv.port, "/v1/completions", body, headers={"Authorization": "Bearer wrong"}), 401,
                    "--api-key: a wrong key is 401")
        check_error(request(srv.port, "GET", "/v1/models"), 401, "--api-key: /v1/models needs the key too")
        r = post(srv.port, "/v1/completions", body, headers={"Authorization": "Bearer secret"})
        check(r[0] == 200, "--api-key: the right key is 200", r[:1] + (r[2][:300],))
        check(request(srv.port, "GET", "/health")[0] == 200 and request(srv.port, "GET", "/metrics")[0] == 200,
              "--api-key: /health and /metrics need no key")
        try:
            openai.OpenAI(base_url=srv.base, api_key="wrong", max_retries=0).models.list()
            ok = False
        except openai.AuthenticationError:
            ok = True
        check(ok, "--api-key: the openai client with a wrong key raises AuthenticationError")
        ids = [m.id for m in openai.OpenAI(base_url=srv.base, api_key="secret", max_retries=0).models.list().data]
        check(len(ids) == 1, "--api-key: the openai client with the key lists the model", ids)
        r = post(srv.port, "/v1/completions", dict(body, priority="urgent"), headers={"Authorization": "Bearer batch:key"})
        check(r[0] == 200 and r[1].get("x-priority") == "low",
              "--api-key KEY:low: an urgent request with that key is served as low", r[:2])
        r = post(srv.port, "/v1/completions", dict(body, priority="urgent"), headers={"Authorization": "Bearer secret"})
        check(r[0] == 200 and r[1].get("x-priority") == "urgent", "--api-key KEY: no class limit", r[:2])
    finally:
        srv.kill()


def play_governor(joule):
    """An impossible power cap: the governor paces and pauses low work, urgent requests are still
    answered, decisions are logged and exported; conflicting flags are refused."""
    r = subprocess.run([str(joule), "serve", "--governor", "off", "--power-cap-w", "5"], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode != 0 and "--governor off" in r.stderr, "governor: --governor off with a cap is refused",
          r.stderr[-300:])
    srv = Server(joule, "--power-cap-w", "1", "--governor-interval", "0.2", label="capped server")
    try:
        # The CPU estimate at idle is already above 1 W, so within a few governor intervals of the
        # start normal and low admission close and stay closed (a normal request sent then waits
        # in its queue: whether one gets in first depends on the machine's speed, so none is sent).
        # Urgent work is still served. At the floor duty (0.05) every step rests 19 times its own
        # length, urgent ones too: few tokens and a long client timeout for a slow CI machine.
        body = {"prompt": PROMPTS[1], "max_tokens": 8, "temperature": 0, "priority": "urgent"}
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda _: post(srv.port, "/v1/completions", body, timeout=400), range(3)))
        urgent = post(srv.port, "/v1/completions", body, timeout=400)
        check(all(r[0] == 200 for r in results) and urgent[0] == 200,
              "governor: under an impossible cap urgent requests are still answered",
              [r[:2] for r in results + [urgent]])
        # On a fast machine those answers can come before the governor's first decisions: keep
        # urgent work coming until it has paced the steps and closed low and normal admission.
        def governed(text):
            duty = metric(text, "joule_governor_duty")
            return (duty is not None and duty < 1 and (metric(text, "joule_governor_decisions_total") or 0) > 0
                    and metric(text, "joule_governor_admission_open", priority="low") == 0
                    and metric(text, "joule_governor_admission_open", priority="normal") == 0)
        text, deadline = metrics(srv.port), time.monotonic() + 60
        while not governed(text) and time.monotonic() < deadline:
            post(srv.port, "/v1/completions", body, timeout=400)
            text = metrics(srv.port)
        check(governed(text),
              "governor: /metrics shows the pacing, the paused low and normal classes and the decisions",
              [l for l in text.splitlines() if "governor" in l and not l.startswith("#")])
        check(any("[joule] governor" in l and "cap 1 W" in l for l in srv.lines),
              "governor: each decision is logged with its reason", srv.stderr())
    finally:
        srv.kill()

    # A device control (a fake cpufreq tree): lowered under the cap, restored after SIGTERM; the
    # cpufreq governor asked for is set while serving and restored too.
    with tempfile.TemporaryDirectory(prefix="joule-cpufreq-") as root:
        policy = Path(root) / "policy0"
        policy.mkdir()
        for name, value in (("cpuinfo_min_freq", "1000000"), ("cpuinfo_max_freq", "3000000"),
                            ("scaling_max_freq", "3000000"), ("scaling_governor", "schedutil"),
                            ("scaling_available_governors", "performance powersave schedutil")):
            (policy / name).write_text(value + "\n")
        freq, gov = policy / "scaling_max_freq", policy / "scaling_governor"
        srv = Server(joule, "--power-cap-w", "1", "--governor-interval", "0.2", "--cpufreq-governor", "performance",
                     label="cpufreq server", extra_env={"JOULE_CPUFREQ_ROOT": root})
        try:
            check(gov.read_text().strip() == "performance", "governor: --cpufreq-governor is set while serving",
                  gov.read_text())
            lowered, deadline = None, time.monotonic() + 60
            while lowered is None and time.monotonic() < deadline:
                post(srv.port, "/v1/completions",  # urgent: normal admission may be closed already
                     {"prompt": PROMPTS[1], "max_tokens": 8, "temperature": 0, "priority": "urgent"}, timeout=400)
                if int(freq.read_text()) < 3000000:
                    lowered = int(freq.read_text())
            check(lowered is not None, "governor: a writable control (fake cpufreq) is lowered first under the cap",
                  srv.stderr())
            srv.proc.send_signal(signal.SIGTERM)
            rc = srv.proc.wait(60)
            check(rc == 0 and freq.read_text().strip() == "3000000" and gov.read_text().strip() == "schedutil",
                  "governor: SIGTERM restores the controls to the values found",
                  f"rc {rc}, {freq.read_text()!r}, {gov.read_text()!r}")
        finally:
            srv.kill()


def play_full_queue_and_drain(joule):
    srv = Server(joule, "--max-sequences", "1", "--max-waiting", "1", "--drain-timeout", "120", label="small server")
    try:
        def one(i):
            try:
                return sse_events(srv.port, {"prompt": PROMPTS[i], "max_tokens": 32, "temperature": 0, "stream": True})
            except Exception as ex:  # noqa: BLE001
                return 0, {}, [repr(ex).encode()]

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(8)))
        refused = [r for r in results if r[0] == 429]
        served = [r for r in results if r[0] == 200]
        check(refused and all(r[1].get("retry-after") for r in refused)
              and all(error_shape(429, r[2][0], 429) for r in refused),
              f"429 with Retry-After on a full queue ({len(refused)} of 8 refused, {len(served)} served)",
              [(r[0], r[1].get("retry-after"), r[2][:1]) for r in results])
        done = [stream_summary(r[2]) for r in served]
        check(len(served) + len(refused) == 8 and served
              and all(d[1] == "length" and d[3] for d in done),
              "full queue: every accepted stream runs to its end (length, [DONE])",
              [(r[0], r[2][-2:]) for r in results])

        # SIGTERM while a stream runs: /health and new work get 503, the stream ends, exit 0.
        started = threading.Event()
        box = {}

        def streaming():
            def seen(ev):
                if '"text"' in ev:
                    started.set()
            try:
                # "Once upon a time" runs past 64 greedy tokens on every kernel set (some prompts
                # end early at EOS on one set and not another).
                box["r"] = sse_events(srv.port, {"prompt": PROMPTS[1], "max_tokens": 64, "temperature": 0,
                                                 "stream": True, "stream_options": {"include_usage": True}},
                                      on_event=seen)
            except Exception as ex:  # noqa: BLE001
                box["r"] = (0, {}, [repr(ex)])
            started.set()

        t = threading.Thread(target=streaming, daemon=True)
        t.start()
        check(started.wait(120), "drain: a stream is running")
        srv.proc.send_signal(signal.SIGTERM)
        health, deadline = None, time.monotonic() + 10  # a loaded CI machine may answer late
        while time.monotonic() < deadline:
            try:
                health = request(srv.port, "GET", "/health", timeout=10)
            except OSError as ex:
                health = (0, {}, repr(ex).encode())
            if health[0] == 503:
                break
            time.sleep(0.05)
        check(health is not None and error_shape(health[0], health[2], 503), "drain: /health is 503 right after SIGTERM",
              health)
        try:
            r = post(srv.port, "/v1/completions", {"prompt": "hi", "max_tokens": 2}, timeout=30)
            ok = error_shape(r[0], r[2], 503)
        except ConnectionRefusedError as ex:
            r, ok = repr(ex), True
        check(ok, "drain: a new request gets 503 (or a refused connection)", r)
        t.join(120)
        status, _, events = box.get("r", (0, {}, []))
        text, finish, usage, done = stream_summary(events) if status == 200 else ("", None, None, False)
        check(status == 200 and finish == "length" and done and usage and usage["completion_tokens"] == 64,
              "drain: the running stream completes (64 tokens, length, data: [DONE])",
              f"{status} {events[-3:]}")
        try:
            rc = srv.proc.wait(130)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, "drain: the server exits with status 0 within the drain timeout", f"rc {rc}\n{srv.stderr()}")
    finally:
        srv.kill()


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the servers are killed on the way out
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    joule = Path(sys.argv[1]).resolve() / "tools" / "joule"
    if not joule.exists():
        sys.exit(f"serve_api.py: no {joule}; build first")
    print(f"== joule serve: {joule} (openai {openai.__version__}, {sys.executable})", flush=True)
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="joule-serve-api-") as t:
        log_path = Path(t) / "requests.jsonl"
        srv = None
        try:
            srv = Server(joule, "--max-sequences", "8", "--max-waiting", "32", "--json-log", str(log_path),
                         label="main server")
            print(f"   at {srv.base}", flush=True)
            client = openai.OpenAI(base_url=srv.base, api_key="unused", max_retries=0, timeout=300)
            model_id = client.models.list().data[0].id
            server_text = play_openai_client(client, model_id)
            play_joule_run(joule, server_text)
            play_concurrency(client, model_id, srv.port)
            play_errors(srv.port, model_id)
            play_priority(srv.port)
            play_disconnect(srv.port)
            play_loadgen(joule, srv.base)
            text = play_metrics(srv.port)
            play_json_log(log_path, text)
            check(srv.proc.poll() is None, "the main server is still up after everything", srv.stderr())
        except Exception as ex:  # noqa: BLE001 - a crash of the test is a failure, never a hang
            check(False, f"main server checks ran to the end ({ex!r})", srv.stderr() if srv else "")
        finally:
            if srv:
                srv.kill()
        for play in (play_auth, play_governor, play_full_queue_and_drain):
            try:
                play(joule)
            except Exception as ex:  # noqa: BLE001
                check(False, f"{play.__name__} ran to the end ({ex!r})")
    print(f"\n({time.monotonic() - t_start:.0f} s)", flush=True)
    print(f"{len(failures)} failed" if failures else "joule serve answers as the OpenAI API does", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
