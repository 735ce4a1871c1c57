"""Runs the reference Python SDK (eka-webhook-sdk 0.1.4) on cases given as JSON on stdin.

Each case is {"op": "verify" | "sign" | "handle", ...}; the answers are printed as one JSON
array, in order. Used by __test__/interop-python.test.mjs.
"""

import hashlib
import hmac
import json
import sys

from eka_webhook_sdk import WebhookSDK, verify_signature
from eka_webhook_sdk import webhook_consumer

# The reference's code lists the prescription events as appointment events, contradicting its
# README; the contract follows the README.
webhook_consumer.APPOINTMENT_EVENTS = ("appointment.created", "appointment.updated")


def python_canonical(payload):
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def run(case):
    op = case["op"]
    if op == "verify":
        result = verify_signature(json.loads(case["body"]), case.get("header"), case["key"])
        return {"valid": result.valid, "reason": result.reason}
    if op == "sign":
        body = python_canonical(json.loads(case["body"]))
        t = str(case["t"])
        digest = hmac.new(case["key"].encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
        return {"header": f"t={t},v1={digest}", "signed_body": body}
    if op == "handle":
        sdk = WebhookSDK(client_id="interop", client_secret="interop-secret", signing_key=case["key"])
        body = case["body"] if case.get("as_string") else json.loads(case["body"])
        headers = {"eka-webhook-signature": case["header"]} if case.get("header") is not None else {}
        result = sdk.handle_request(body, headers)
        return {"status": result.status, "body": result.body}
    raise ValueError(f"unknown op {op}")


print(json.dumps([run(case) for case in json.load(sys.stdin)]))
