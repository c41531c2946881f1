#!/usr/bin/env bash
# kill -9 of the broker under acks=all load with an idempotent producer: no acknowledged
# message is lost and no retried batch is written twice (the broker must rebuild its producer
# state from the log on recovery).
IDEMPOTENT=1
. "$(dirname "$0")/crash_common.sh"
