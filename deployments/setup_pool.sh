#!/usr/bin/env bash
# Create (or update) the process work pool the deployments run on, with a concurrency limit (default 4 runs at
# once; the store takes concurrent runs, size it to the workers' cores): ./setup_pool.sh [LIMIT]
set -euo pipefail
limit="${1:-4}"
prefect work-pool create student-pipeline-pool --type process --overwrite
prefect work-pool set-concurrency-limit student-pipeline-pool "$limit"
