"""No stored value may break a page (issue 31, finding 6): a batch in which a field is missing for every student
gives drift findings with no statistic (NaN); every page that shows them answers 200 and says "not measurable" with
the reason."""

from __future__ import annotations

from tasks.data.ingest import BatchInput
from tasks.data.synthetic import generate_batch
from tasks.data.tasks import aggregate_features, ingest_batch


def test_a_field_missing_for_a_whole_batch_shows_as_not_measurable_on_every_page(service):
    from tasks.monitoring.params import DriftParams
    from tasks.monitoring.tasks import check_drift
    from tasks.scoring.tasks import score_batch

    records = generate_batch(600, seed=740, labeled=False).records
    for record in records:
        record.pop("study", None)  # the school's export had no study columns this term
    ingest_batch.fn(BatchInput("file-no-study", False, records, {"type": "file"}), 1000)
    aggregate_features.fn("file-no-study")
    score_batch.fn("file-no-study", "high_performer")
    drift = check_drift.fn("file-no-study", "high_performer", DriftParams(), announce=False)
    for path in ("/dashboard", "/dashboard/drift", f"/dashboard/drift/{drift.report_id}", "/dashboard/quality"):
        page = service.anonymous.get(path)
        assert page.status_code == 200, (path, page.text[-500:])
    detail = service.anonymous.get(f"/dashboard/drift/{drift.report_id}").text
    assert "not measurable" in detail and "no values in the current batch" in detail
