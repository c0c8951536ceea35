"""Tests of the dataset adapters in bench.datasets, on look-alike fixtures and the real Open-i files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from bench.config import DatasetOptions
from bench.datasets import DATASETS, csv_table, load_corpus
from bench.datasets.sections import (
    CHEXPERT_LABELS,
    chexpert_to_label,
    compose_text,
    normalize_whitespace,
    parse_binary_label,
    select_model_text,
    split_sections,
)
from bench.records import Corpus
from bench.registry import UnknownNameError
from tests.fixtures import (
    CSV_LABEL_COLUMNS,
    MIMIC_EMPTY_REPORT,
    MIMIC_FULL_IMPRESSION,
    MIMIC_FULL_REPORT,
    MIMIC_LAST_PARAGRAPH,
    MIMIC_LONG_IMPRESSION,
    MIMIC_LONG_REPORT,
    MIMIC_NO_IMPRESSION,
    MIMIC_NO_SECTIONS,
    MIMIC_NORMAL_REPORT,
    MIMIC_WITHOUT_FILE,
    TEXT_MARKER,
    drop_column,
    read_csv,
    rewrite_cell,
    write_csv,
    write_csv_fixture,
    write_ct_rate_fixture,
    write_mimic_fixture,
    write_openi_fixture,
)

SHARED_OPENI = Path(__file__).resolve().parents[2] / "shared" / "data" / "openi"
SMALL_SYNTHETIC = 400


def _report(corpus: Corpus, report_id: str):
    return next(report for report in corpus.reports if report.report_id == report_id)


def _value(corpus: Corpus, report_id: str, label: str, matrix: str = "labels") -> float:
    report = _report(corpus, report_id)
    return float(getattr(report, matrix)[corpus.label_names.index(label)])


def _positives(corpus: Corpus) -> dict[str, int]:
    return dict(zip(corpus.label_names, corpus.label_matrix().sum(axis=0).astype(int).tolist()))


def _synthetic(**changes) -> Corpus:
    options = {"synthetic_reports": SMALL_SYNTHETIC, **changes}
    return load_corpus("synthetic", None, DatasetOptions(**options))


@pytest.fixture(scope="module")
def mimic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mimic_fixture(tmp_path_factory.mktemp("mimic"))


@pytest.fixture(scope="module")
def mimic_mask(mimic_dir: Path) -> Corpus:
    return load_corpus("mimic-cxr", mimic_dir, DatasetOptions(uncertain_policy="mask"))


@pytest.fixture(scope="module")
def ct_rate(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return load_corpus("ct-rate", write_ct_rate_fixture(tmp_path_factory.mktemp("ct_rate")), DatasetOptions())


@pytest.fixture(scope="module")
def openi(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return load_corpus("openi", write_openi_fixture(tmp_path_factory.mktemp("openi")), DatasetOptions())


@pytest.fixture(scope="module")
def synthetic() -> Corpus:
    return _synthetic()


def _csv_options(**changes) -> DatasetOptions:
    options = {
        "text_column": "report_text",
        "label_columns": CSV_LABEL_COLUMNS,
        "id_column": "report_key",
        "patient_column": "patient_key",
        **changes,
    }
    return DatasetOptions(**options)


# ---------------------------------------------------------------------------------------------
# sections.py
# ---------------------------------------------------------------------------------------------


def test_split_sections_reads_headers():
    report = " FINAL REPORT\n INDICATION:  cough\n \n FINDINGS:\n \n Lungs clear.\n LUNGS: fine.\n IMPRESSION: Normal."
    sections = split_sections(report)
    assert sections["INDICATION"] == "cough"
    assert sections["FINDINGS"] == "Lungs clear. LUNGS: fine."
    assert sections["IMPRESSION"] == "Normal."
    assert sections[""] == "FINAL REPORT"


def test_split_sections_joins_repeated_header():
    sections = split_sections("FINDINGS: one.\nIMPRESSION: two.\nFINDINGS: three.")
    assert sections["FINDINGS"] == "one. three."


def test_compose_text_impression_first():
    assert compose_text(" lungs\n clear ", "heart normal") == "IMPRESSION: lungs clear FINDINGS: heart normal"
    assert compose_text("", "heart normal") == "FINDINGS: heart normal"
    assert compose_text("  ", "") == ""


def test_model_text_round_trips_sections():
    text = compose_text("No effusion.", "Heart normal.")
    assert select_model_text(text).text == text
    assert select_model_text(text).source == "impression_and_findings"


def test_normalize_whitespace_collapses_runs():
    assert normalize_whitespace("  a\n\t b \r\n c ") == "a b c"


@pytest.mark.parametrize(
    ("value", "policy", "expected"),
    [
        ("1.0", "mask", (1.0, 1.0)),
        ("0.0", "mask", (0.0, 1.0)),
        ("-1.0", "mask", (0.0, 0.0)),
        ("-1.0", "ones", (1.0, 1.0)),
        ("-1.0", "zeros", (0.0, 1.0)),
        ("", "mask", (0.0, 1.0)),
        (None, "ones", (0.0, 1.0)),
        (float("nan"), "zeros", (0.0, 1.0)),
        (-1.0, "ones", (1.0, 1.0)),
        ("1", "zeros", (1.0, 1.0)),
    ],
)
def test_chexpert_value_policy_table(value, policy, expected):
    assert chexpert_to_label(value, column="Edema", policy=policy) == expected


@pytest.mark.parametrize("value", ["2.0", "yes", "nan", "-2", True])
def test_chexpert_value_rejects_unknown(value):
    with pytest.raises(ValueError) as raised:
        chexpert_to_label(value, column="Edema", policy="mask")
    message = str(raised.value)
    assert "'Edema'" in message
    assert repr(value) in message
    assert "-1.0" in message


def test_binary_label_accepts_float_spelling():
    assert parse_binary_label("1.0", column="a") == 1.0
    assert parse_binary_label("0", column="a") == 0.0
    assert parse_binary_label(1, column="a") == 1.0


@pytest.mark.parametrize("value", ["", "2", "0.5", "-1"])
def test_binary_label_rejects_other_values(value):
    with pytest.raises(ValueError, match="'a'"):
        parse_binary_label(value, column="a")


def test_unknown_dataset_lists_names():
    with pytest.raises(UnknownNameError) as raised:
        DATASETS.get("mimic")
    message = str(raised.value)
    for name in ("synthetic", "openi", "mimic-cxr", "ct-rate", "csv"):
        assert name in message
    assert "Did you mean" in message


# ---------------------------------------------------------------------------------------------
# synthetic
# ---------------------------------------------------------------------------------------------


def test_synthetic_same_seed_same_fingerprint(synthetic: Corpus):
    assert _synthetic().fingerprint() == synthetic.fingerprint()


def test_synthetic_different_seed_differs(synthetic: Corpus):
    assert _synthetic(synthetic_seed=1).fingerprint() != synthetic.fingerprint()


def test_synthetic_report_count_and_ids(synthetic: Corpus):
    assert len(synthetic) == SMALL_SYNTHETIC
    assert synthetic.reports[0].report_id == "syn-r000001"
    assert synthetic.reports[0].patient_id == "syn-p00001"
    assert synthetic.label_names == CHEXPERT_LABELS


def test_synthetic_no_finding_rule(synthetic: Corpus):
    labels = _synthetic(uncertain_policy="ones").label_matrix()
    names = list(synthetic.label_names)
    pathology = [i for i, name in enumerate(names) if name not in ("No Finding", "Support Devices")]
    expected = (labels[:, pathology].sum(axis=1) == 0).astype(np.float32)
    assert np.array_equal(labels[:, names.index("No Finding")], expected)


def test_synthetic_no_finding_masked_when_hedged(synthetic: Corpus):
    names = list(synthetic.label_names)
    pathology = [i for i, name in enumerate(names) if name not in ("No Finding", "Support Devices")]
    labels, mask = synthetic.label_matrix(), synthetic.mask_matrix()
    only_hedged = (labels[:, pathology].sum(axis=1) == 0) & (mask[:, pathology].min(axis=1) == 0)
    assert only_hedged.any()
    assert np.all(mask[only_hedged, names.index("No Finding")] == 0)
    normal = (labels[:, pathology].sum(axis=1) == 0) & (mask[:, pathology].min(axis=1) == 1)
    assert np.all(labels[normal, names.index("No Finding")] == 1)


def test_synthetic_prevalence_is_skewed(synthetic: Corpus):
    prevalence = synthetic.label_matrix().mean(axis=0)
    assert prevalence.max() >= 0.25
    assert prevalence.max() >= 5 * prevalence.min()


def test_synthetic_several_reports_per_patient(synthetic: Corpus):
    counts: dict[str, int] = {}
    for report in synthetic.reports:
        counts[report.patient_id] = counts.get(report.patient_id, 0) + 1
    assert max(counts.values()) == 4
    assert min(counts.values()) >= 1
    assert sum(count > 1 for count in counts.values()) > len(counts) / 2


def test_synthetic_uncertain_policies_differ(synthetic: Corpus):
    # No Finding is left out: it is derived from the other labels after the policy.
    masked = synthetic.mask_matrix()[:, 1:] == 0
    ones = _synthetic(uncertain_policy="ones")
    zeros = _synthetic(uncertain_policy="zeros")
    assert masked.any()
    assert np.all(ones.label_matrix()[:, 1:][masked] == 1)
    assert np.all(zeros.label_matrix()[:, 1:][masked] == 0)
    assert np.all(ones.mask_matrix() == 1)
    assert ones.texts() == synthetic.texts()


def test_synthetic_uncertain_text_is_hedged(synthetic: Corpus):
    hedges = ("possible", "cannot be excluded", "cannot exclude", "questionable", "may ", "not excluded", "borderline")
    masked_rows = np.flatnonzero((synthetic.mask_matrix() == 0).any(axis=1))
    assert len(masked_rows) > 0
    for row in masked_rows:
        text = synthetic.reports[row].text.lower()
        assert any(hedge in text for hedge in hedges)


def test_synthetic_text_layout_and_length(synthetic: Corpus):
    words = np.array([len(text.split()) for text in synthetic.texts()])
    assert all(text.startswith("IMPRESSION: ") for text in synthetic.texts())
    assert all(" FINDINGS: " in text for text in synthetic.texts())
    assert not any("INDICATION" in text for text in synthetic.texts())
    assert 30 <= np.median(words) <= 70
    assert words.max() <= 130


def test_synthetic_negations_present(synthetic: Corpus):
    texts = " ".join(synthetic.texts())
    assert "No pleural effusion" in texts or "no pleural effusion" in texts
    assert "No pneumothorax" in texts or "no pneumothorax" in texts


def test_synthetic_templates_tagged(synthetic: Corpus):
    assert {report.template for report in synthetic.reports} == {"tmpl-A", "tmpl-B", "tmpl-C", "tmpl-D"}


def test_synthetic_label_noise_flips_labels(synthetic: Corpus):
    noisy = _synthetic(label_noise=0.1)
    changed = (noisy.label_matrix() != synthetic.label_matrix()).mean()
    assert noisy.texts() == synthetic.texts()
    assert noisy.notes["labels_flipped"] > 0
    assert 0.05 < changed < 0.15


def test_max_reports_samples_stable_order(synthetic: Corpus):
    sampled = _synthetic(max_reports=50)
    order = [int(report.report_id[5:]) for report in sampled.reports]
    assert len(sampled) == 50
    assert order == sorted(order)
    assert sampled.notes["reports_before_sampling"] == SMALL_SYNTHETIC
    assert _synthetic(max_reports=50).fingerprint() == sampled.fingerprint()


# ---------------------------------------------------------------------------------------------
# mimic-cxr
# ---------------------------------------------------------------------------------------------


def test_mimic_uncertain_mask_policy(mimic_mask: Corpus):
    assert _value(mimic_mask, MIMIC_FULL_REPORT, "Atelectasis") == 0.0
    assert _value(mimic_mask, MIMIC_FULL_REPORT, "Atelectasis", "mask") == 0.0
    assert mimic_mask.notes["uncertain_policy"] == "mask"


def test_mimic_uncertain_ones_policy(mimic_dir: Path):
    corpus = load_corpus("mimic-cxr", mimic_dir, DatasetOptions(uncertain_policy="ones"))
    assert _value(corpus, MIMIC_FULL_REPORT, "Atelectasis") == 1.0
    assert _value(corpus, MIMIC_FULL_REPORT, "Atelectasis", "mask") == 1.0


def test_mimic_uncertain_zeros_policy(mimic_dir: Path):
    corpus = load_corpus("mimic-cxr", mimic_dir, DatasetOptions(uncertain_policy="zeros"))
    assert _value(corpus, MIMIC_FULL_REPORT, "Atelectasis") == 0.0
    assert _value(corpus, MIMIC_FULL_REPORT, "Atelectasis", "mask") == 1.0


def test_mimic_positive_and_negative_cells(mimic_mask: Corpus):
    assert _value(mimic_mask, MIMIC_FULL_REPORT, "Pleural Effusion") == 1.0
    assert _value(mimic_mask, MIMIC_FULL_REPORT, "Pneumothorax") == 0.0
    assert _value(mimic_mask, MIMIC_FULL_REPORT, "Pneumothorax", "mask") == 1.0
    assert _value(mimic_mask, MIMIC_NORMAL_REPORT, "No Finding") == 1.0


def test_mimic_blank_is_not_mentioned(mimic_mask: Corpus):
    assert _value(mimic_mask, MIMIC_FULL_REPORT, "Fracture") == 0.0
    assert _value(mimic_mask, MIMIC_FULL_REPORT, "Fracture", "mask") == 1.0
    assert _value(mimic_mask, MIMIC_NORMAL_REPORT, "Edema", "mask") == 1.0


def test_mimic_ids_and_label_order(mimic_mask: Corpus):
    report = _report(mimic_mask, MIMIC_FULL_REPORT)
    assert report.patient_id == "p10000032"
    assert mimic_mask.label_names == CHEXPERT_LABELS


def test_mimic_section_choice(mimic_mask: Corpus):
    full = _report(mimic_mask, MIMIC_FULL_REPORT).text
    findings_only = _report(mimic_mask, MIMIC_NO_IMPRESSION).text
    last_paragraph = _report(mimic_mask, MIMIC_NO_SECTIONS).text
    normal = _report(mimic_mask, MIMIC_NORMAL_REPORT).text
    assert full.startswith(f"IMPRESSION: {MIMIC_FULL_IMPRESSION} FINDINGS: ")
    assert findings_only.startswith("FINDINGS: The heart is enlarged")
    assert "IMPRESSION" not in findings_only
    assert last_paragraph == MIMIC_LAST_PARAGRAPH
    assert normal.startswith("IMPRESSION: No acute cardiopulmonary process")
    assert "INDICATION" not in full
    assert mimic_mask.notes["text_source"] == {
        "empty": 1,
        "findings": 1,
        "impression": 1,
        "impression_and_findings": 2,
        "last_paragraph": 1,
    }


def test_mimic_long_report_impression_first(mimic_mask: Corpus):
    text = _report(mimic_mask, MIMIC_LONG_REPORT).text
    findings = text.split(" FINDINGS: ", 1)[1]
    assert len(findings.split()) > 300
    assert text.startswith(f"IMPRESSION: {MIMIC_LONG_IMPRESSION}")


def test_mimic_missing_report_counted(mimic_mask: Corpus):
    ids = {report.report_id for report in mimic_mask.reports}
    assert MIMIC_WITHOUT_FILE not in ids
    assert MIMIC_EMPTY_REPORT not in ids
    assert mimic_mask.notes["skipped_missing_report"] == 1
    assert mimic_mask.notes["dropped_empty"] == 1
    assert len(mimic_mask) == 5


def test_mimic_split_counts_recorded(mimic_mask: Corpus):
    assert mimic_mask.notes["official_split_reports"] == {"test": 1, "train": 2, "validate": 2}


def test_mimic_negbio_plain_csv_fallback(tmp_path: Path, mimic_mask: Corpus):
    root = write_mimic_fixture(tmp_path, label_file="mimic-cxr-2.0.0-negbio.csv", split_file=False)
    corpus = load_corpus("mimic-cxr", root, DatasetOptions())
    assert corpus.notes["label_file"] == "mimic-cxr-2.0.0-negbio.csv"
    assert "official_split_reports" not in corpus.notes
    assert corpus.fingerprint() == mimic_mask.fingerprint()


def test_mimic_stdlib_reader_matches_pandas(monkeypatch: pytest.MonkeyPatch, mimic_dir: Path, mimic_mask: Corpus):
    monkeypatch.setattr(csv_table, "pandas", None)
    corpus = load_corpus("mimic-cxr", mimic_dir, DatasetOptions(uncertain_policy="mask"))
    assert corpus.fingerprint() == mimic_mask.fingerprint()
    assert corpus.notes == mimic_mask.notes


def test_mimic_missing_label_file(tmp_path: Path):
    (tmp_path / "files").mkdir()
    with pytest.raises(FileNotFoundError) as raised:
        load_corpus("mimic-cxr", tmp_path, DatasetOptions())
    assert str(tmp_path) in str(raised.value)
    assert "--data-dir" in str(raised.value)


def test_mimic_missing_data_dir():
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_corpus("mimic-cxr", None, DatasetOptions())


def test_mimic_bad_label_value(tmp_path: Path):
    root = write_mimic_fixture(tmp_path)
    rewrite_cell(root / "mimic-cxr-2.0.0-chexpert.csv.gz", "Edema", 0, "2.0")
    with pytest.raises(ValueError) as raised:
        load_corpus("mimic-cxr", root, DatasetOptions())
    message = str(raised.value)
    assert "'2.0'" in message
    assert "'Edema'" in message
    assert TEXT_MARKER not in message
    assert "10000032" not in message


def test_mimic_missing_column_lists_found(tmp_path: Path):
    root = write_mimic_fixture(tmp_path)
    drop_column(root / "mimic-cxr-2.0.0-chexpert.csv.gz", "Pneumothorax")
    with pytest.raises(ValueError) as raised:
        load_corpus("mimic-cxr", root, DatasetOptions())
    message = str(raised.value)
    assert "missing columns ['Pneumothorax']" in message
    assert "'Pleural Effusion'" in message


def test_mimic_bad_split_value(tmp_path: Path):
    root = write_mimic_fixture(tmp_path)
    rewrite_cell(root / "mimic-cxr-2.0.0-split.csv.gz", "split", 0, "holdout")
    with pytest.raises(ValueError, match="'holdout'"):
        load_corpus("mimic-cxr", root, DatasetOptions())


def test_mimic_errors_hide_ids(tmp_path: Path):
    root = write_mimic_fixture(tmp_path)
    rewrite_cell(root / "mimic-cxr-2.0.0-chexpert.csv.gz", "subject_id", 1, "X10000032")
    with pytest.raises(ValueError) as raised:
        load_corpus("mimic-cxr", root, DatasetOptions())
    assert "10000032" not in str(raised.value)
    assert "data row 2" in str(raised.value)


# ---------------------------------------------------------------------------------------------
# ct-rate
# ---------------------------------------------------------------------------------------------


def test_ct_rate_not_given_is_empty(ct_rate: Corpus):
    findings_only = _report(ct_rate, "train_2_a_1").text
    impression_only = _report(ct_rate, "valid_7_a_1").text
    assert findings_only.startswith("FINDINGS: Bilateral pleural fluid")
    assert "Not given" not in findings_only
    assert impression_only.startswith("IMPRESSION: Hiatal hernia")
    assert "FINDINGS" not in impression_only
    assert ct_rate.notes["dropped_empty"] == 1


def test_ct_rate_patient_key_from_volume(ct_rate: Corpus):
    assert _report(ct_rate, "valid_53_a_1").patient_id == "valid_53"
    assert _report(ct_rate, "train_1_b_1").patient_id == "train_1"
    assert _report(ct_rate, "train_1_a_1").patient_id == "train_1"


def test_ct_rate_keeps_one_reconstruction(ct_rate: Corpus):
    ids = [report.report_id for report in ct_rate.reports]
    assert ids == ["train_1_a_1", "train_1_b_1", "train_2_a_1", "valid_53_a_1", "valid_7_a_1"]
    assert ct_rate.notes["dropped_duplicate_reconstructions"] == 2
    assert ct_rate.notes["duplicate_label_mismatches"] == 0


def test_ct_rate_text_and_labels(ct_rate: Corpus):
    text = _report(ct_rate, "valid_53_a_1").text
    assert text.startswith("IMPRESSION: Bilateral ground-glass")
    assert " FINDINGS: Ground-glass change" in text
    assert _value(ct_rate, "valid_53_a_1", "Cardiomegaly") == 1.0
    assert _value(ct_rate, "valid_53_a_1", "Emphysema") == 0.0
    assert len(ct_rate.label_names) == 18


def test_ct_rate_one_split_suffices(tmp_path: Path):
    corpus = load_corpus("ct-rate", write_ct_rate_fixture(tmp_path, splits=("validation",)), DatasetOptions())
    assert [report.report_id for report in corpus.reports] == ["valid_53_a_1", "valid_7_a_1"]
    assert corpus.notes["splits"] == ["validation"]


def test_ct_rate_missing_both_splits(tmp_path: Path):
    with pytest.raises(FileNotFoundError) as raised:
        load_corpus("ct-rate", tmp_path, DatasetOptions())
    assert "train_reports.csv" in str(raised.value)
    assert str(tmp_path) in str(raised.value)


def test_ct_rate_missing_partner_file(tmp_path: Path):
    root = write_ct_rate_fixture(tmp_path, splits=("train",))
    (root / "train_predicted_labels.csv").unlink()
    with pytest.raises(FileNotFoundError, match="train_predicted_labels.csv"):
        load_corpus("ct-rate", root, DatasetOptions())


def test_ct_rate_bad_label_value(tmp_path: Path):
    root = write_ct_rate_fixture(tmp_path)
    rewrite_cell(root / "valid_predicted_labels.csv", "Emphysema", 0, "0.7")
    with pytest.raises(ValueError) as raised:
        load_corpus("ct-rate", root, DatasetOptions())
    message = str(raised.value)
    assert "'0.7'" in message
    assert "'Emphysema'" in message
    assert TEXT_MARKER not in message
    assert "valid_53" not in message


def test_ct_rate_bad_volume_name_hidden(tmp_path: Path):
    root = write_ct_rate_fixture(tmp_path)
    rewrite_cell(root / "train_reports.csv", "VolumeName", 0, "scan_of_patient_zzsecret.nii.gz")
    with pytest.raises(ValueError) as raised:
        load_corpus("ct-rate", root, DatasetOptions())
    assert "zzsecret" not in str(raised.value)
    assert "data row 1" in str(raised.value)


# ---------------------------------------------------------------------------------------------
# openi
# ---------------------------------------------------------------------------------------------


def test_openi_normal_maps_to_no_finding(openi: Corpus):
    assert openi.label_names[-1] == "No Finding"
    assert "normal" not in openi.label_names
    assert _value(openi, "CXR1", "No Finding") == 1.0
    assert _value(openi, "CXR2", "No Finding") == 0.0
    assert _value(openi, "CXR2", "Cardiomegaly") == 1.0


def test_openi_zero_positive_labels_recorded(openi: Corpus):
    without = openi.notes["labels_without_positives"]
    assert "Hernia" in without
    assert "Cardiomegaly" not in without
    assert "Hernia" in openi.label_names


def test_openi_empty_report_dropped(openi: Corpus):
    assert openi.notes["dropped_empty"] == 1
    assert "CXR4" not in {report.report_id for report in openi.reports}
    assert len(openi) == 5


def test_openi_text_and_patient_key(openi: Corpus):
    assert _report(openi, "CXR3").text.startswith("IMPRESSION: Left effusion")
    assert _report(openi, "CXR6").text.startswith("FINDINGS: Patchy right basal")
    assert _report(openi, "CXR2").text.startswith("IMPRESSION: Enlarged heart")
    assert _report(openi, "CXR2").patient_id == "2"


def test_openi_missing_file_names_path(tmp_path: Path):
    root = write_openi_fixture(tmp_path)
    (root / "openi_gld_std14.csv").unlink()
    with pytest.raises(FileNotFoundError) as raised:
        load_corpus("openi", root, DatasetOptions())
    assert str(root / "openi_gld_std14.csv") in str(raised.value)
    assert "--data-dir" in str(raised.value)


def test_openi_missing_column_lists_found(tmp_path: Path):
    root = write_openi_fixture(tmp_path)
    header, rows = read_csv(root / "openi_gld_std14.csv")
    header[header.index("Hernia")] = "Hernai"
    write_csv(root / "openi_gld_std14.csv", header, rows)
    with pytest.raises(ValueError) as raised:
        load_corpus("openi", root, DatasetOptions())
    message = str(raised.value)
    assert "missing columns ['Hernia']" in message
    assert "'Hernai'" in message


def test_openi_bad_label_value(tmp_path: Path):
    root = write_openi_fixture(tmp_path)
    rewrite_cell(root / "openi_gld_std14.csv", "Mass", 2, "-1")
    with pytest.raises(ValueError) as raised:
        load_corpus("openi", root, DatasetOptions())
    message = str(raised.value)
    assert "'-1'" in message
    assert "'Mass'" in message
    assert TEXT_MARKER not in message
    assert "CXR3" not in message


@pytest.mark.needs_shared_data
@pytest.mark.skipif(not SHARED_OPENI.is_dir(), reason=f"the real Open-i files are not at {SHARED_OPENI}")
def test_openi_real_files_label_counts():
    corpus = load_corpus("openi", SHARED_OPENI, DatasetOptions())
    positives = _positives(corpus)
    assert corpus.notes["rows_read"] == 3851
    assert len(corpus) + corpus.notes["dropped_empty"] == 3851
    assert positives["Cardiomegaly"] == 345
    assert positives["Atelectasis"] == 315
    # The 25 reports without findings and impression are all labelled normal, so 1,379 - 25 remain.
    assert corpus.notes["dropped_empty"] == 25
    assert positives["No Finding"] == 1379 - 25
    assert corpus.notes["labels_without_positives"] == ["Hernia"]
    assert corpus.label_names[0] == "Atelectasis"


# ---------------------------------------------------------------------------------------------
# csv
# ---------------------------------------------------------------------------------------------


def test_csv_reads_labels_and_ids(tmp_path: Path):
    corpus = load_corpus("csv", write_csv_fixture(tmp_path / "reports.csv"), _csv_options())
    first = _report(corpus, "r001")
    assert corpus.label_names == CSV_LABEL_COLUMNS
    assert len(corpus) == 11
    assert corpus.notes["dropped_empty"] == 1
    assert first.patient_id == "pt001"
    assert first.text == f"Interstitial oedema pattern {TEXT_MARKER} 1. Second line."
    assert first.labels.tolist() == [0.0, 1.0, 0.0]
    assert _report(corpus, "r003").labels.tolist() == [0.0, 0.0, 0.0]


def test_csv_jsonl_matches_csv(tmp_path: Path):
    from_csv = load_corpus("csv", write_csv_fixture(tmp_path / "reports.csv"), _csv_options())
    from_jsonl = load_corpus("csv", write_csv_fixture(tmp_path / "other" / "reports.jsonl"), _csv_options())
    assert from_jsonl.fingerprint() == from_csv.fingerprint()


def test_csv_folder_with_one_file(tmp_path: Path):
    write_csv_fixture(tmp_path / "reports.csv")
    corpus = load_corpus("csv", tmp_path, _csv_options())
    assert len(corpus) == 11


def test_csv_folder_with_two_files(tmp_path: Path):
    write_csv_fixture(tmp_path / "a.csv")
    write_csv_fixture(tmp_path / "b.jsonl")
    with pytest.raises(ValueError, match="exactly one"):
        load_corpus("csv", tmp_path, _csv_options())


def test_csv_default_ids_are_row_numbers(tmp_path: Path):
    options = _csv_options(id_column=None, patient_column=None)
    corpus = load_corpus("csv", write_csv_fixture(tmp_path / "reports.csv"), options)
    assert corpus.reports[0].report_id == "row1"
    assert corpus.reports[0].patient_id == "row1"


def test_csv_requires_label_columns(tmp_path: Path):
    with pytest.raises(ValueError, match="--label-columns A,B,C"):
        load_corpus("csv", write_csv_fixture(tmp_path / "reports.csv"), _csv_options(label_columns=()))


def test_csv_missing_column_lists_found(tmp_path: Path):
    path = write_csv_fixture(tmp_path / "reports.csv")
    with pytest.raises(ValueError) as raised:
        load_corpus("csv", path, _csv_options(label_columns=("effusion", "oedema")))
    message = str(raised.value)
    assert "missing columns ['oedema']" in message
    assert "'edema'" in message


def test_csv_bad_label_value(tmp_path: Path):
    path = write_csv_fixture(tmp_path / "reports.csv")
    rewrite_cell(path, "pneumonia", 4, "yes")
    with pytest.raises(ValueError) as raised:
        load_corpus("csv", path, _csv_options())
    message = str(raised.value)
    assert "'yes'" in message
    assert "'pneumonia'" in message
    assert TEXT_MARKER not in message


def test_csv_all_empty_raises(tmp_path: Path):
    path = write_csv_fixture(tmp_path / "reports.csv")
    header, rows = read_csv(path)
    write_csv(path, header, [[*row[:2], " ", *row[3:]] for row in rows])
    with pytest.raises(ValueError) as raised:
        load_corpus("csv", path, _csv_options())
    assert str(path) in str(raised.value)
    assert "--text-column" in str(raised.value)


def test_csv_repeated_id_raises(tmp_path: Path):
    path = write_csv_fixture(tmp_path / "reports.csv")
    rewrite_cell(path, "report_key", 1, "r001")
    with pytest.raises(ValueError) as raised:
        load_corpus("csv", path, _csv_options())
    assert "data row 2" in str(raised.value)
    assert "r001" not in str(raised.value)


def test_csv_blank_patient_raises(tmp_path: Path):
    path = write_csv_fixture(tmp_path / "reports.csv")
    rewrite_cell(path, "patient_key", 0, " ")
    with pytest.raises(ValueError, match="blank patient id"):
        load_corpus("csv", path, _csv_options())


def test_csv_missing_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_corpus("csv", tmp_path / "absent.csv", _csv_options())


# ---------------------------------------------------------------------------------------------
# all adapters
# ---------------------------------------------------------------------------------------------


def test_notes_and_logs_hold_no_text(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, logger="bench")
    corpora = [
        load_corpus("mimic-cxr", write_mimic_fixture(tmp_path / "mimic"), DatasetOptions()),
        load_corpus("ct-rate", write_ct_rate_fixture(tmp_path / "ct"), DatasetOptions()),
        load_corpus("openi", write_openi_fixture(tmp_path / "openi"), DatasetOptions()),
        load_corpus("csv", write_csv_fixture(tmp_path / "table.csv"), _csv_options()),
    ]
    for corpus in corpora:
        notes = repr(corpus.notes)
        assert TEXT_MARKER not in notes
        # Ids shorter than four characters (Open-i uids such as "2") would match counts by chance.
        ids = {identifier for report in corpus.reports for identifier in (report.report_id, report.patient_id)}
        for identifier in (identifier for identifier in ids if len(identifier) >= 4):
            assert identifier not in notes
            assert identifier not in caplog.text
        assert all(TEXT_MARKER in text for text in corpus.texts())
    assert TEXT_MARKER not in caplog.text
