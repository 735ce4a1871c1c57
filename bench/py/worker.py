"""Benchmark worker running the reference Python SDK (eka-webhook-sdk 0.1.4) in-process.

Reads one JSON command per stdin line and answers one JSON line on stdout, so bench/lib/python.mjs
can alternate timed batches of Python with timed batches of Node in the same run (while one side
runs, the other waits). Commands:

  {"op": "handle_setup", "body": <text>, "header": <sig>, "key": <signing key>}
  {"op": "handle_run", "n": N, "as": "dict" | "str"}   -> {"seconds": s}
      N calls of sdk.handle_request(body, headers): "dict" hands the parsed payload (the
      Python SDK's usual input), "str" the raw JSON text (it json.loads it).
  {"op": "enrich_setup", "api": <simulator url>, "body": <text>, "header": <sig>, "key": <key>}
  {"op": "enrich_run", "n": N, "threads": T}          -> {"seconds": s, "latencies": [...], "statuses": {...}}
      N enriched appointment events, T at a time on a thread pool (1 = sequential).
  {"op": "listen", "key": <key>}                     -> {"port": p}   (sdk.listen(0), as in Python)
  {"op": "exit"}
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from ekacare import EkaCareClient
from eka_webhook_sdk import WebhookSDK, eka_api, webhook_consumer

# The reference's code lists the prescription events as appointment events (contradicting its
# README); the contract, and so the comparison, follows the README.
webhook_consumer.APPOINTMENT_EVENTS = ("appointment.created", "appointment.updated")

CLIENT_ID = "demo-client"
CLIENT_SECRET = "demo-secret"

state = {}


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def handle_setup(cmd):
    state["sdk"] = WebhookSDK(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, signing_key=cmd["key"])
    state["text"] = cmd["body"]
    state["dict"] = json.loads(cmd["body"])
    state["headers"] = {"eka-webhook-signature": cmd["header"]}
    for form in ("dict", "text"):
        result = state["sdk"].handle_request(state[form], state["headers"])
        if result.status != 200:
            raise RuntimeError(f"python handle_request answered {result.status}: {result.body}")
    return {"ok": True}


def handle_run(cmd):
    sdk = state["sdk"]
    body = state["dict"] if cmd.get("as", "dict") == "dict" else state["text"]
    headers = state["headers"]
    n = cmd["n"]
    start = time.perf_counter()
    for _ in range(n):
        sdk.handle_request(body, headers)
    return {"seconds": time.perf_counter() - start}


def enrich_setup(cmd):
    # Point the ekacare client the reference builds at the simulator (eka_api caches one client
    # per credentials: pre-seed that cache).
    eka_api._client_cache[(CLIENT_ID, CLIENT_SECRET, None)] = EkaCareClient(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, base_url=cmd["api"]
    )
    state["esdk"] = WebhookSDK(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, signing_key=cmd["key"])
    state["ebody"] = json.loads(cmd["body"])
    state["eheaders"] = {"eka-webhook-signature": cmd["header"]}
    result = state["esdk"].handle_request(state["ebody"], state["eheaders"])
    if result.status != 200 or "clinicDetails" not in result.body:
        raise RuntimeError(f"python enriched handle_request answered {result.status}: {result.body}")
    return {"ok": True}


def enrich_one(_):
    start = time.perf_counter()
    result = state["esdk"].handle_request(state["ebody"], state["eheaders"])
    return time.perf_counter() - start, result.status


def enrich_run(cmd):
    n, threads = cmd["n"], cmd.get("threads", 1)
    start = time.perf_counter()
    if threads == 1:
        outcomes = [enrich_one(i) for i in range(n)]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            outcomes = list(pool.map(enrich_one, range(n)))
    seconds = time.perf_counter() - start
    statuses = {}
    for _, status in outcomes:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"seconds": seconds, "latencies": [o[0] for o in outcomes], "statuses": statuses}


def listen(cmd):
    sdk = WebhookSDK(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, signing_key=cmd["key"])
    server = sdk.listen(0)
    # The load generator drops its connections at the end of each burst: the reference server
    # would print a BrokenPipeError traceback for every one of them.
    server.handle_error = lambda request, client_address: None
    state.setdefault("servers", []).append(server)
    return {"port": server.server_address[1]}


OPS = {
    "handle_setup": handle_setup,
    "handle_run": handle_run,
    "enrich_setup": enrich_setup,
    "enrich_run": enrich_run,
    "listen": listen,
}

for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["op"] == "exit":
        break
    try:
        reply(OPS[cmd["op"]](cmd))
    except Exception as err:  # reported to Node, which fails the bench loudly
        reply({"error": f"{type(err).__name__}: {err}"})
