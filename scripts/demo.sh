#!/usr/bin/env bash
# The main job on the embedded default: run the bundled example skills through the engine
# (a batch with a progress bar, a results table and a metrics summary).
source "$(dirname "$0")/_env.sh"
skillexec batch examples/batch.jsonl --skills-dir examples/skills --data-dir .skillexec/demo "$@"
