#!/bin/sh
# One-shot: create the CX Pulse topics with the partition count the worker shards its state by.
# Names follow schemas/records.py:topic_names(prefix). Idempotent (--if-not-exists).
set -eu
BOOTSTRAP="${BOOTSTRAP:-kafka:9092}"
PREFIX="${TOPIC_PREFIX:-cx}"
PARTITIONS="${PARTITIONS:-4}"
for topic in touchpoints.v1 survey-responses.v1 survey-invitations.v1 events.raw events.dlq notifications.v1; do
  /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$PREFIX.$topic" --partitions "$PARTITIONS" --replication-factor 1
done
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --list
