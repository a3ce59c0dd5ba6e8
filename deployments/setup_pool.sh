#!/usr/bin/env bash
# Create (or update) the process work pool the deployments run on. Concurrency 1 by default: the embedded
# store allows one writer process. With MONGO_URI pointing at a real MongoDB, pass a higher limit: ./setup_pool.sh 4
set -euo pipefail
limit="${1:-1}"
prefect work-pool create student-pipeline-pool --type process --overwrite
prefect work-pool set-concurrency-limit student-pipeline-pool "$limit"
