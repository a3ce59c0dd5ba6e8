"""The prediction service: FastAPI over the registry. Predictions for raw records (features from the batch
pipeline's own aggregation over ``$documents``), every answer logged to the prediction log, A/B tests, feedback.
Start it with ``make api`` (``python -m api``)."""
