#!/usr/bin/env bash
# kill -9 of the broker under acks=all load (plain producer): no acknowledged message is lost.
IDEMPOTENT=0
. "$(dirname "$0")/crash_common.sh"
