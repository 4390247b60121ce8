"""Triggers: Pub/Sub push envelopes and plain JSON messages that name work for a partition.

`messages` validates what arrives (pure), `handler` decides what to do with it (dedup, age,
dead letters, retries) and runs the work in-process under the stage locks, `app` is the small
ASGI endpoint `lineflow serve` runs.
"""
