#!/usr/bin/env python3
"""The e2e test's own Kafka client (confluent-kafka, not vigil's rdkafka): waits for a
broker, writes a file's lines to a topic, reads a topic to its end.

usage: kafka_io.py wait BROKER
       kafka_io.py create BROKER TOPIC...     (one partition each)
       kafka_io.py produce BROKER TOPIC FILE  (one message per line)
       kafka_io.py read BROKER TOPIC          (every message, one per line, to stdout)
       kafka_io.py committed BROKER GROUP TOPIC (the group's committed offset of partition 0,
                                                or -1)
"""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def wait(broker):
    admin = AdminClient({"bootstrap.servers": broker})
    deadline = time.monotonic() + 30
    while True:
        try:
            admin.list_topics(timeout=2)
            return
        except KafkaException:
            if time.monotonic() > deadline:
                sys.exit(f"kafka_io: no answer from {broker} in 30 s")


def create(broker, topics):
    admin = AdminClient({"bootstrap.servers": broker})
    for topic, f in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).items():
        f.result(timeout=30)


def produce(broker, topic, path):
    # One record per batch: Tansu 0.6.0 answers a fetch from an offset inside a batch of
    # several records with records from a later batch (and reports a high watermark below
    # the log's end), so a consumer resuming mid-batch would skip records it never saw.
    # Real Kafka returns the batch that holds the offset. With one record per batch every
    # offset starts a batch, and the test measures vigil, not that bug.
    p = Producer({"bootstrap.servers": broker, "linger.ms": 5, "batch.num.messages": 1})
    errors = []
    n = 0
    for line in open(path, "rb"):
        line = line.rstrip(b"\n")
        while True:
            try:
                p.produce(topic, line, on_delivery=lambda e, m: e and errors.append(e))
                break
            except BufferError:
                p.poll(0.1)
        n += 1
    if p.flush(60) or errors:
        sys.exit(f"kafka_io: {p.flush(0)} undelivered, errors {errors[:3]}")
    print(f"kafka_io: {n} messages to {topic}", file=sys.stderr)


def read(broker, topic):
    c = Consumer({
        "bootstrap.servers": broker,
        "group.id": "kafka-io-reader",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    done = set()
    out = sys.stdout.buffer
    deadline = time.monotonic() + 60
    while len(done) < len(parts):
        if time.monotonic() > deadline:
            sys.exit(f"kafka_io: {topic} not read to its end in 60 s")
        m = c.poll(1)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                done.add(m.partition())
                continue
            sys.exit(f"kafka_io: {m.error()}")
        out.write(m.value() + b"\n")
    c.close()


def committed(broker, group, topic):
    c = Consumer({"bootstrap.servers": broker, "group.id": group, "enable.auto.commit": False})
    (tp,) = c.committed([TopicPartition(topic, 0)], timeout=10)
    print(tp.offset if tp.offset >= 0 else -1)
    c.close()


if __name__ == "__main__":
    cmd, broker, *rest = sys.argv[1:]
    {"wait": lambda: wait(broker), "create": lambda: create(broker, rest),
     "produce": lambda: produce(broker, *rest), "read": lambda: read(broker, *rest),
     "committed": lambda: committed(broker, *rest)}[cmd]()
