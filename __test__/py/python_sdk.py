"""Drives the reference Python SDK (eka-webhook-sdk 0.1.4) for the interop tests.

Reads one JSON document from stdin:
    {"sim_url": "...", "client_id": "...", "client_secret": "...",
     "mysql": {"host", "port", "user", "password", "database"},
     "ops": [{"op": "webhook", "body": {...}}, {"op": "find", "start": 0, "end": 1},
             {"op": "reminder_sent", "id": "..."}, {"op": "ensure"}]}
and prints a JSON list with one result per op:
    webhook -> {"status": 200, "body": {...}}
    find    -> {"appointments": [ids], "followup_appointments": [ids]}
    others  -> null

Run by .venv/bin/python (scripts/setup-venv.sh makes it).
"""

from __future__ import annotations

import json
import sys

import ekacare
from eka_webhook_sdk import MySQLConnectionConfig, MySQLPersistenceConfig, WebhookSDK, eka_api, webhook_consumer


def main() -> None:
    spec = json.load(sys.stdin)

    # The SDK's README (and API.md) define appointment events as the two appointment.* events;
    # 0.1.4's code also lists the prescription events there.
    webhook_consumer.APPOINTMENT_EVENTS = ["appointment.created", "appointment.updated"]

    # Point the ekacare client the SDK caches per credentials at the simulator.
    key = (spec["client_id"], spec["client_secret"], None)
    eka_api._client_cache[key] = ekacare.EkaCareClient(
        client_id=spec["client_id"], client_secret=spec["client_secret"], base_url=spec["sim_url"]
    )

    m = spec["mysql"]
    sdk = WebhookSDK(
        client_id=spec["client_id"],
        client_secret=spec["client_secret"],
        persistence=MySQLPersistenceConfig(
            connection=MySQLConnectionConfig(
                host=m["host"], port=m["port"], user=m["user"], password=m["password"], database=m["database"]
            )
        ),
    )

    results = []
    for op in spec["ops"]:
        kind = op["op"]
        if kind == "webhook":
            result = sdk.handle_request(op["body"], {})
            results.append({"status": result.status, "body": result.body})
        elif kind == "find":
            found = sdk.find_appointments_between(start_time=op["start"], end_time=op["end"])
            results.append(
                {
                    "appointments": [a["appointment_id"] for a in found.appointments],
                    "followup_appointments": [a["appointment_id"] for a in found.followup_appointments],
                }
            )
        elif kind == "reminder_sent":
            sdk.reminder_sent(op["id"])
            results.append(None)
        elif kind == "ensure":
            # What the first webhook or query does: create or migrate the table (an empty
            # window, so no row is read; it raises when the table cannot be initialised).
            sdk.find_appointments_between(start_time=0, end_time=0)
            results.append(None)
        else:
            raise SystemExit(f"unknown op {kind!r}")

    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
