"""The synthetic world: seeded students whose latent traits drive both their history and next-term outcome.

Labels come from the latent traits, never from the features, so a model has to infer them from the
history (no leakage). Because the world is known, each student's true probability of being a high
performer is known too: that is the oracle a model is compared with. Pure functions, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from validation.contracts import DEFAULT_LABEL_RULE, MAJORS, LabelRule

BASE_MAJOR_MIX = [0.12, 0.08, 0.22, 0.16, 0.18, 0.12, 0.12]
# A different intake: more humanities, fewer sciences (the "major_shift" knob moves towards it)
SHIFTED_MAJOR_MIX = [0.05, 0.04, 0.10, 0.10, 0.16, 0.27, 0.28]
MAJOR_DIFFICULTY = dict(zip(MAJORS, [4.0, 5.0, 3.0, 2.0, 1.0, -1.0, -2.0], strict=True))
COURSES = {
    "Math": ["Calculus", "Linear Algebra", "Statistics", "Real Analysis"],
    "Physics": ["Mechanics", "Electromagnetism", "Quantum Physics", "Calculus"],
    "Computer Science": ["Programming", "Algorithms", "Databases", "Statistics"],
    "Biology": ["Cell Biology", "Genetics", "Ecology", "Chemistry"],
    "Economics": ["Microeconomics", "Macroeconomics", "Econometrics", "Statistics"],
    "History": ["World History", "Historiography", "Modern Europe", "Writing"],
    "Literature": ["Poetry", "The Novel", "Literary Theory", "Writing"],
}
CREDIT_CHOICES = [2, 3, 4, 5]
OUTCOME_NOISE_SD = 6.0
BASE_TIME = datetime(2026, 1, 5, 9, 0, 0)
MALFORMATIONS = [
    "missing_student_id", "string_grade", "negative_age", "too_many_courses",
    "grade_out_of_range", "bad_credits", "not_an_object", "duplicate_id",
]


class DriftKnobs(BaseModel):
    """How far a batch departs from the reference world. All zero = no drift."""

    model_config = ConfigDict(extra="forbid")

    grade_inflation: float = Field(0.0, ge=-30, le=30,
                                   description="points added to every past grade (covariate drift)")
    major_shift: float = Field(0.0, ge=0, le=1,
                               description="0..1: move the major mix towards a humanities-heavy intake")
    age_shift: float = Field(0.0, ge=-10, le=20, description="years added to every student's age")
    concept_drift: float = Field(0.0, ge=0, le=1,
                                 description="0..1: the outcome depends on study habits more, on ability less")
    first_generation_concept: float = Field(0.0, ge=0, le=1,
                                            description="0..1: first-generation students' outcome depends on their "
                                                        "ability less, on something no record shows more (concept "
                                                        "drift confined to one group)")
    first_generation_uplift: float = Field(0.0, ge=-20, le=20,
                                           description="points added to first-generation students' next-term "
                                                       "outcome that no record shows (a mentoring programme): the "
                                                       "model misses more of their positives, flags fewer wrongly")
    habits_decoupled: float = Field(0.0, ge=0, le=1,
                                    description="0..1: attendance follows its own diligence instead of the one "
                                                "study hours follow (the two decorrelate; every marginal stays)")
    missing_rate: float = Field(0.0, ge=0, le=1, description="share of students with missing study/demographic fields")
    malformed_rate: float = Field(0.0, ge=0, le=1, description="share of records corrupted on purpose")

    def is_zero(self) -> bool:
        """True when the batch comes from the reference world."""
        return all(value == 0 for value in self.model_dump().values())


GENERATOR_CHUNK = 50_000
"""Students generated (and held in memory) at a time. A batch up to this size is one part drawn from ``seed``'s
stream, as it always was; a larger one is parts of this size, part k drawn from its own stream ``(seed, k)``, so
generating a million students never holds more than one part."""


@dataclass(frozen=True)
class GeneratedBatch:
    """Records in the raw schema, plus the truth about each student that is never a model input."""

    batch_id: str
    labeled: bool
    records: list
    truth: list[dict]


def batch_id_for(seed: int, n_students: int, labeled: bool, knobs: DriftKnobs,
                 label_rule: LabelRule = DEFAULT_LABEL_RULE) -> str:
    """A readable id that is the same for the same request, so re-generating never duplicates a batch (a labeled
    batch under another label rule is another batch)."""
    kind = "L" if labeled else "U"
    drift = "" if knobs.is_zero() else "-d" + _short_hash(knobs.model_dump_json())
    rule = "" if not labeled or label_rule == DEFAULT_LABEL_RULE else "-r" + _short_hash(str(label_rule.as_dict()))
    return f"gen-s{seed}-n{n_students}-{kind}{drift}{rule}"


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:8]


def generate_batch(n_students: int, seed: int, labeled: bool = True, knobs: DriftKnobs | None = None,
                   label_rule: LabelRule = DEFAULT_LABEL_RULE) -> GeneratedBatch:
    """Generate one batch of nested student records; student ids are ``seed * 1_000_000 + 1..n``."""
    knobs = knobs or DriftKnobs()
    records: list = []
    truth: list[dict] = []
    for part_records, part_truth in generate_parts(n_students, seed, labeled, knobs, label_rule):
        records += part_records
        truth += part_truth
    return GeneratedBatch(batch_id_for(seed, n_students, labeled, knobs, label_rule), labeled, records, truth)


def generate_parts(n_students: int, seed: int, labeled: bool, knobs: DriftKnobs,
                   label_rule: LabelRule = DEFAULT_LABEL_RULE,
                   chunk: int = GENERATOR_CHUNK) -> Iterator[tuple[list, list[dict]]]:
    """The batch ``generate_batch`` makes, as ``(records, truth)`` parts of at most ``chunk`` students, in order."""
    if n_students < 1 or n_students >= 1_000_000:
        raise ValueError(f"n_students must be between 1 and 999999, got {n_students}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if n_students <= chunk:
        yield _generate_part(np.random.default_rng(seed), n_students, 0, seed, labeled, knobs, label_rule)
        return
    for part, start in enumerate(range(0, n_students, chunk)):
        yield _generate_part(np.random.default_rng([seed, part]), min(chunk, n_students - start), start, seed,
                             labeled, knobs, label_rule)


def _generate_part(rng: np.random.Generator, n: int, start: int, seed: int, labeled: bool, knobs: DriftKnobs,
                   label_rule: LabelRule) -> tuple[list, list[dict]]:
    """``n`` students numbered from ``start`` (ids ``seed * 1_000_000 + start + 1..``), drawn from ``rng``."""
    generated_at = (BASE_TIME + timedelta(hours=seed % 8000)).isoformat()  # stays within the base year
    ref_year = BASE_TIME.year

    # Latent traits (correlated): ability drives grades, diligence drives habits; both drive the outcome.
    ability = rng.standard_normal(n)
    diligence = 0.3 * ability + math.sqrt(1 - 0.09) * rng.standard_normal(n)
    mix = (1 - knobs.major_shift) * np.array(BASE_MAJOR_MIX) + knobs.major_shift * np.array(SHIFTED_MAJOR_MIX)
    major_idx = rng.choice(len(MAJORS), size=n, p=mix / mix.sum())
    age = np.clip(np.round(18 + rng.gamma(2.0, 2.2, n) + knobs.age_shift), 16, 80).astype(int)
    full_time = rng.random(n) < np.clip(0.9 - 0.03 * (age - 20), 0.2, 0.95)
    enrollment_year = ref_year - rng.integers(0, 5, n)
    hours = np.clip(10 + 4 * diligence + np.where(full_time, 3, -2) + rng.normal(0, 3, n), 0, 60)
    # attendance's diligence: the same as study hours' unless the habits decouple (still N(0, 1): marginals stay)
    own = 0.3 * ability + math.sqrt(1 - 0.09) * rng.standard_normal(n) if knobs.habits_decoupled else 0.0
    turnout = math.sqrt(1 - knobs.habits_decoupled) * diligence + math.sqrt(knobs.habits_decoupled) * own
    attendance = 1 / (1 + np.exp(-(1.6 + 0.9 * turnout + rng.normal(0, 0.4, n))))
    tutoring = rng.random(n) < 1 / (1 + np.exp(1.0 + 0.6 * ability))
    first_gen = rng.random(n) < 0.3
    part_time_job = rng.random(n) < np.where(full_time, 0.25, 0.7)
    n_courses = np.clip(rng.poisson(2.5, n) + 1, 1, 6)

    # Next-term outcome: from the latent traits (plus concept drift), never from the recorded grades.
    c = knobs.concept_drift
    mu = (
        62.0 + (10.0 - 6.0 * c) * ability + (5.0 + 7.0 * c) * diligence
        - 1.5 * first_gen - (2.0 + 4.0 * c) * part_time_job + 2.0 * tutoring
    )
    if knobs.first_generation_concept:  # the same spread of outcomes; for first-generation students less of it shows
        g = knobs.first_generation_concept
        hidden = (1 - math.sqrt(1 - g)) * ability - math.sqrt(g) * rng.standard_normal(n)
        mu = mu - np.where(first_gen, (10.0 - 6.0 * c) * hidden, 0.0)
    if knobs.first_generation_uplift:
        mu = mu + np.where(first_gen, knobs.first_generation_uplift, 0.0)
    final_score = mu + rng.normal(0, OUTCOME_NOISE_SD, n)
    from scipy.special import ndtr  # here, not at import: the command line's --help stays quick

    p_above = 1.0 - ndtr((label_rule.threshold - mu) / OUTCOME_NOISE_SD)  # P(score above the rule's threshold)
    p_high = p_above if label_rule.direction.startswith(">") else 1.0 - p_above  # the positive class's chance

    # student by student, the draws in the same order as ever (a seed gives the same batch): from Python numbers,
    # not numpy scalars, a course's grades rounded (half to even, as numpy) and clipped in Python
    records: list = []
    truth: list[dict] = []
    columns = zip(major_idx.tolist(), n_courses.tolist(), ability.tolist(), diligence.tolist(), age.tolist(),
                  full_time.tolist(), enrollment_year.tolist(), hours.tolist(), attendance.tolist(),
                  tutoring.tolist(), first_gen.tolist(), part_time_job.tolist(), final_score.tolist(), p_high.tolist(),
                  mu.tolist(), strict=True)
    for i, (major_at, n_taken, able, diligent, age_i, full_time_i, year_i, hours_i, attendance_i, tutoring_i,
            first_gen_i, job_i, score_i, p_high_i, mu_i) in enumerate(columns):
        student_id = seed * 1_000_000 + start + i + 1
        major = MAJORS[major_at]
        catalog = COURSES[major]
        picked = rng.choice(len(catalog) + 2, size=min(n_taken, len(catalog) + 2), replace=False)
        base = 68 + 9 * able + 3 * diligent - MAJOR_DIFFICULTY[major] + knobs.grade_inflation
        courses = []
        for j in picked.tolist():
            name = catalog[j] if j < len(catalog) else ("Writing" if j == len(catalog) else "Ethics")
            n_grades = int(rng.integers(2, 5))
            grades = [min(100, max(0, round(base + noise))) for noise in rng.normal(0, 7, n_grades).tolist()]
            credits = CREDIT_CHOICES[int(rng.integers(0, len(CREDIT_CHOICES)))]  # rng.choice's draw, without its cost
            courses.append({"course": name, "credits": credits, "grades": grades})
        record = {
            "student_id": student_id,
            "age": age_i,
            "major": major,
            "fullTime": full_time_i,
            "enrollment_year": year_i,
            "generated_at": generated_at,
            "study": {
                "hours_per_week": round(hours_i, 1),
                "attendance_rate": round(attendance_i, 3),
                "tutoring": tutoring_i,
            },
            "demographics": {"first_generation": first_gen_i, "part_time_job": job_i},
            "courses": courses,
        }
        if labeled:
            record["final_score"] = round(min(100.0, max(0.0, score_i)), 2)
            record["high_performer"] = label_rule.applies(record["final_score"])
        records.append(record)
        truth.append({"student_id": student_id, "p_high_performer": p_high_i, "expected_score": mu_i})

    _blank_fields(records, rng, knobs.missing_rate)
    _malform(records, rng, knobs.malformed_rate)
    return records, truth


def _blank_fields(records: list, rng: np.random.Generator, rate: float) -> None:
    """Blank one optional field (study or demographics) in a share of the records."""
    if rate <= 0:
        return
    optional = [("study", "hours_per_week"), ("study", "attendance_rate"), ("demographics", "first_generation")]
    for i in np.flatnonzero(rng.random(len(records)) < rate):
        group, field = optional[int(rng.integers(len(optional)))]
        records[i][group][field] = None


def _malform(records: list, rng: np.random.Generator, rate: float) -> None:
    """Corrupt a share of the records, cycling through the known kinds of damage."""
    if rate <= 0:
        return
    for k, i in enumerate(np.flatnonzero(rng.random(len(records)) < rate)):
        kind = MALFORMATIONS[k % len(MALFORMATIONS)]
        record = records[i]
        if kind == "missing_student_id":
            record.pop("student_id")
        elif kind == "string_grade":
            record["courses"][0]["grades"][0] = str(record["courses"][0]["grades"][0])
        elif kind == "negative_age":
            record["age"] = -abs(record["age"])
        elif kind == "too_many_courses":  # (no courses at all is a valid record: a new student)
            record["courses"] = [record["courses"][0]] * 31
        elif kind == "grade_out_of_range":
            record["courses"][0]["grades"][0] = 140
        elif kind == "bad_credits":
            record["courses"][0]["credits"] = 0
        elif kind == "not_an_object":
            records[i] = [record.get("student_id"), "corrupted row"]
        elif kind == "duplicate_id" and i > 0 and isinstance(records[i - 1], dict) and "student_id" in records[i - 1]:
            record["student_id"] = records[i - 1]["student_id"]
