"""A consume-transform-produce worker for the exactly-once test, run as its own process.

It doubles each SensorReading's value. With FM_TEST_PAUSE_AT=N it stops after the
N-th record, in the middle of an open transaction whose earlier outputs are already
on the broker, prints PAUSED, and waits to be killed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable

from factorymesh.api.telemetry.v1 import reading_pb2
from factorymesh.common.kafka import ConsumedEvent, KafkaConfig, Output, TransactionalProcessor
from factorymesh.common.topics import TopicSpec


def _spec(name: str) -> TopicSpec:
    return TopicSpec(
        name=name,
        partitions=3,
        key="equipment",
        value_types=(reading_pb2.SensorReading,),
        description="eos test",
        producers=("tests",),
        consumers=("tests",),
    )


async def main(bootstrap: str, source: str, sink: str, dead: str, group: str, txn_id: str) -> None:
    pause_at = int(os.environ.get("FM_TEST_PAUSE_AT", "0"))
    seen = 0

    async def double(event: ConsumedEvent) -> Iterable[Output]:
        nonlocal seen
        seen += 1
        if seen == pause_at:
            print("PAUSED", flush=True)
            await asyncio.sleep(3600)
        reading = reading_pb2.SensorReading()
        reading.CopyFrom(event.message)
        reading.double_value *= 2
        return [Output(sink, reading, key=event.key)]

    processor = TransactionalProcessor(
        KafkaConfig(bootstrap=bootstrap, client_id="eos-worker"),
        group_id=group,
        transactional_id=txn_id,
        inputs=[_spec(source)],
        handler=double,
        service="eos-worker",
        dead_letter_topic=_spec(dead),
        max_batch=100,
    )
    await processor.start()
    print("STARTED", flush=True)
    await processor.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
