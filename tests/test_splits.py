"""Tests for the patient-disjoint splits and the complementary reference-model halves."""

from __future__ import annotations

import numpy as np
import pytest

from bench.config import SplitOptions
from bench.records import Report
from bench.splits import PARTITION_ORDER, reference_halves, split_corpus
from tests.conftest import make_toy_corpus


def _patients(corpus) -> set[str]:
    return {r.patient_id for r in corpus.reports}


def _texts(corpus) -> set[str]:
    return {r.text for r in corpus.reports}


def _assignment(splits) -> dict[str, tuple[str, ...]]:
    return {name: tuple(r.report_id for r in getattr(splits, name).reports) for name in PARTITION_ORDER}


def test_splits_share_no_patient():
    splits = split_corpus(make_toy_corpus(400), SplitOptions(seed=0))
    patients = {name: _patients(getattr(splits, name)) for name in PARTITION_ORDER}

    for index, first in enumerate(PARTITION_ORDER):
        for second in PARTITION_ORDER[index + 1 :]:
            shared = patients[first] & patients[second]
            assert not shared, f"{first} and {second} share {len(shared)} patients"


def test_splits_cover_every_report():
    corpus = make_toy_corpus(400)
    splits = split_corpus(corpus, SplitOptions(seed=0))

    assigned = [r.report_id for name in PARTITION_ORDER for r in getattr(splits, name).reports]

    assert len(assigned) == len(corpus)
    assert set(assigned) == {r.report_id for r in corpus.reports}


def test_members_non_members_disjoint():
    splits = split_corpus(make_toy_corpus(400), SplitOptions(seed=0))

    assert not _patients(splits.members) & _patients(splits.non_members)
    assert not _texts(splits.members) & _texts(splits.non_members)


def test_cross_split_duplicate_removed_from_test():
    corpus = make_toy_corpus(400)
    options = SplitOptions(seed=0)
    before = split_corpus(corpus, options)
    member_text = before.members.reports[0].text
    test_patient = before.test.reports[0].patient_id
    labels = np.zeros(len(corpus.label_names), dtype=np.float32)
    copy = Report("duplicate", test_patient, member_text, labels, np.ones_like(labels))

    # The copy joins a patient that already exists, so the seeded patient draw is unchanged.
    after = split_corpus(corpus.subset(corpus.reports + [copy]), options)

    assert before.notes["cross_split_duplicates_removed"] == 0
    assert after.notes["cross_split_duplicates_removed"] == 1
    assert "duplicate" not in {r.report_id for r in after.test.reports}
    assert member_text not in _texts(after.test)
    assert member_text in _texts(after.members)
    assert _assignment(after) == _assignment(before)


def test_split_same_seed_repeats():
    corpus = make_toy_corpus(400)

    first = split_corpus(corpus, SplitOptions(seed=3))
    second = split_corpus(corpus, SplitOptions(seed=3))

    assert _assignment(first) == _assignment(second)


def test_split_other_seed_differs():
    corpus = make_toy_corpus(400)

    first = split_corpus(corpus, SplitOptions(seed=3))
    second = split_corpus(corpus, SplitOptions(seed=4))

    assert _assignment(first)["members"] != _assignment(second)["members"]
    assert _assignment(first)["test"] != _assignment(second)["test"]


def test_split_too_few_patients_raises():
    corpus = make_toy_corpus(38)  # two reports per patient, so 19 patients

    with pytest.raises(ValueError) as raised:
        split_corpus(corpus, SplitOptions(seed=0))

    assert "19 patients" in str(raised.value)
    assert "at least 20" in str(raised.value)


def test_membership_is_fair_coin():
    corpus = make_toy_corpus(4000)  # 2,000 patients

    for seed in range(3):
        splits = split_corpus(corpus, SplitOptions(seed=seed))
        member_share = len(splits.members) / len(splits.audit_pool)
        assert 0.45 <= member_share <= 0.55, f"seed {seed}: member share {member_share:.3f}"


@pytest.fixture
def audit_pool():
    return split_corpus(make_toy_corpus(400), SplitOptions(seed=0)).audit_pool


def test_reference_halves_in_half_models(audit_pool):
    masks = reference_halves(audit_pool, 6, seed=0)

    in_counts = np.sum(masks, axis=0)

    assert len(masks) == 6
    assert all(mask.shape == (len(audit_pool),) for mask in masks)
    assert (in_counts == 3).all()


def test_reference_pairs_are_complementary(audit_pool):
    masks = reference_halves(audit_pool, 6, seed=0)

    for j in range(3):
        assert (masks[2 * j] == ~masks[2 * j + 1]).all(), f"models {2 * j} and {2 * j + 1}"


def test_reference_halves_keep_patients_whole(audit_pool):
    masks = reference_halves(audit_pool, 6, seed=0)
    patient_of = np.array([r.patient_id for r in audit_pool.reports])

    for index, mask in enumerate(masks):
        inside = set(patient_of[mask])
        outside = set(patient_of[~mask])
        assert not inside & outside, f"model {index} splits a patient across IN and OUT"


def test_reference_pairs_draw_new_halves(audit_pool):
    masks = reference_halves(audit_pool, 4, seed=0)

    assert not (masks[0] == masks[2]).all()


@pytest.mark.parametrize("num_models", [1, 3])
def test_reference_halves_odd_count_raises(audit_pool, num_models):
    with pytest.raises(ValueError, match=f"num_models={num_models}"):
        reference_halves(audit_pool, num_models, seed=0)
