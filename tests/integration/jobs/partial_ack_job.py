"""A job process that acks the first messages of a partition and then hangs.

Usage: partial_ack_job.py ADDRESS TOPIC GROUP ACK_COUNT EXPECTED

It reads EXPECTED messages, acks those with offset < ACK_COUNT, prints
"acked" on stdout and then blocks until it is killed. Tests SIGKILL it to
check that nothing it left unacked is committed.
"""

from __future__ import annotations

import sys
import threading
import time

from kafka_sidecar_client import SidecarClient
from kafka_sidecar_client._proto import pb


def main() -> int:
    address, topic, group, ack_count, expected = sys.argv[1:6]
    client = SidecarClient(address)
    stream = client.consume(
        pb.Subscribe(topics=[topic], group_id=group, max_in_flight=int(expected))
    )
    messages = []
    deadline = time.monotonic() + 60
    while len(messages) < int(expected):
        if time.monotonic() > deadline:
            print(f"timed out with {len(messages)} messages", file=sys.stderr)
            return 3
        try:
            response = stream.read(timeout=1.0)
        except TimeoutError:
            continue
        if response is None:
            print(f"stream ended: {stream.code} {stream.details}", file=sys.stderr)
            return 4
        if response.WhichOneof("response") == "messages":
            messages.extend(response.messages.messages)
    stream.send_acks(
        [
            pb.Ack(delivery_id=message.delivery_id, status=pb.Ack.STATUS_SUCCESS)
            for message in messages
            if message.offset < int(ack_count)
        ]
    )
    print("acked", flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
