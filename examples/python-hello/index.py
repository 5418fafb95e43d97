# An FC-style Python event handler: runs unchanged on Alibaba Cloud Function Compute and on Nimbus.
import json
import logging

logger = logging.getLogger()


def handler(event, context):
    body = json.loads(event) if event else {}
    name = body.get("name", "world")
    logger.info("saying hello to %s", name)
    return {"hello": name, "requestId": context.request_id}
