#!/usr/bin/env bash
# The main job on the embedded default: run the bundled example skills through the engine
# (a batch with a progress bar, a results table and a metrics summary).
source "$(dirname "$0")/_env.sh"
# Three calls are wrong on purpose (an unknown skill, a bad parameter, a failing input):
# --keep-going, so that the demo exits 0 when those are the only failures.
skillexec batch examples/batch.jsonl --skills-dir examples/skills --data-dir .skillexec/demo \
  --keep-going "$@"
