"""The Python SDK eka-webhook-sdk 0.1.4 on a DynamoDB (moto) table, driven by
__test__/interop-dynamodb.test.mjs.

Usage: dynamo_interop.py '<json job>'; prints one JSON result line.
Job: {"cmd": ..., "endpoint": moto URL, "sim": simulator URL, ...}
  ensure                      DynamoDBSchedulePersistence.ensure_table()
  describe                    boto3 DescribeTable -> the Table
  handle   {"payloads": [...]} WebhookSDK.handle_request for each -> statuses
  find_ids {"start", "end"}    persistence.find_appointment_ids_between
  find     {"start", "end"}    WebhookSDK.find_appointments_between -> ids of the details
  reminder {"id"}              WebhookSDK.reminder_sent
  get      {"id"}              boto3 GetItem -> the raw item
  set      {"id", "attr", "n"} boto3 UpdateItem SET attr = n (N)
"""

import json
import sys

import boto3

import eka_webhook_sdk.webhook_consumer as webhook_consumer
from ekacare import EkaCareClient
from eka_webhook_sdk import eka_api
from eka_webhook_sdk.persistence.base import (
    SCHEDULE_TABLE_NAME,
    DynamoDBPersistenceConfig,
    FindAppointmentsBetweenInput,
)
from eka_webhook_sdk.persistence.dynamodb import DynamoDBSchedulePersistence
from eka_webhook_sdk.webhook_sdk import WebhookSDK

REGION = "us-east-1"
ACCESS_KEY_ID = "AKIDMOTOTEST"
SECRET_ACCESS_KEY = "moto-secret-key-never-printed"
CLIENT_ID = "demo-client"
CLIENT_SECRET = "demo-secret"

# What API.md's last section prescribes for an interop run: 0.1.4 lists the prescription
# events as appointment events; and ekacare's client must talk to the simulator.
webhook_consumer.APPOINTMENT_EVENTS = ("appointment.created", "appointment.updated")


def persistence_config(job):
    return DynamoDBPersistenceConfig(
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        endpoint=job["endpoint"],
    )


def sdk(job):
    eka_api._client_cache[(CLIENT_ID, CLIENT_SECRET, None)] = EkaCareClient(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, base_url=job["sim"]
    )
    return WebhookSDK(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        persistence=persistence_config(job),
    )


def boto(job):
    return boto3.client(
        "dynamodb",
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        endpoint_url=job["endpoint"],
    )


def run(job):
    cmd = job["cmd"]
    if cmd == "ensure":
        DynamoDBSchedulePersistence(persistence_config(job)).ensure_table()
        return {"ok": True}
    if cmd == "describe":
        return boto(job).describe_table(TableName=SCHEDULE_TABLE_NAME)["Table"]
    if cmd == "handle":
        s = sdk(job)
        return [s.handle_request(p, {}).status for p in job["payloads"]]
    if cmd == "find_ids":
        ids = DynamoDBSchedulePersistence(persistence_config(job)).find_appointment_ids_between(
            FindAppointmentsBetweenInput(start_time=job["start"], end_time=job["end"])
        )
        return {"appointments": ids.appointments, "followupAppointments": ids.followup_appointments}
    if cmd == "find":
        found = sdk(job).find_appointments_between(start_time=job["start"], end_time=job["end"])
        return {
            "appointments": [a["appointment_id"] for a in found.appointments],
            "followupAppointments": [a["appointment_id"] for a in found.followup_appointments],
        }
    if cmd == "reminder":
        sdk(job).reminder_sent(job["id"])
        return {"ok": True}
    if cmd == "get":
        item = boto(job).get_item(
            TableName=SCHEDULE_TABLE_NAME,
            Key={"appointment_id": {"S": job["id"]}},
            ConsistentRead=True,
        )
        return item.get("Item")
    if cmd == "set":
        boto(job).update_item(
            TableName=SCHEDULE_TABLE_NAME,
            Key={"appointment_id": {"S": job["id"]}},
            UpdateExpression="SET #a = :v",
            ExpressionAttributeNames={"#a": job["attr"]},
            ExpressionAttributeValues={":v": {"N": str(job["n"])}},
        )
        return {"ok": True}
    raise SystemExit(f"unknown cmd {cmd!r}")


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1])), default=str))
