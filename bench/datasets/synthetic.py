"""The ``synthetic`` adapter: a seeded generator of short chest X-ray reports over the CheXpert labels.

It is the default dataset, so the suite runs end to end without licensed data. Each report has
INDICATION, COMPARISON, FINDINGS and IMPRESSION sections in one of four writing styles, and its
model text goes through the same section selection as MIMIC-CXR. A finding is stated as
present, hedged (uncertain, -1.0 in CheXpert terms), negated, or not mentioned. Labels follow
from these states under ``options.uncertain_policy``, exactly as a CheXpert label file would.

Equal options give the same corpus byte for byte. The text depends only on the seed and the
number of reports, so the uncertain policy and the label noise change labels but never text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from bench.config import DatasetOptions
from bench.datasets import DATASETS
from bench.datasets.sections import CHEXPERT_LABELS, build_corpus, chexpert_to_label, select_model_text
from bench.records import Corpus, Report

logger = logging.getLogger(__name__)

NO_FINDING = "No Finding"
SUPPORT_DEVICES = "Support Devices"

# Mention states and the CheXpert cell each one would get from a labeler. RESOLVED is a
# follow-up's negative mention of a finding that was positive in the previous report ("has resolved").
POSITIVE, UNCERTAIN, NEGATIVE, RESOLVED, ABSENT = "positive", "uncertain", "negative", "resolved", "absent"
CHEXPERT_CELL = {POSITIVE: "1.0", UNCERTAIN: "-1.0", NEGATIVE: "0.0", RESOLVED: "0.0", ABSENT: ""}
PRESENT_STATES = (POSITIVE, UNCERTAIN)
NEGATED_STATES = (NEGATIVE, RESOLVED)


@dataclass(frozen=True)
class Finding:
    """Sampling rates and sentence templates of one CheXpert observation.

    Attributes:
        prevalence: Probability that a report mentions the finding as present or hedged, before
            chronic findings persist and co-occurrences apply.
        uncertain_share: Share of those mentions that are hedged rather than positive.
        negation_rate: Probability that an absent finding is mentioned as negated.
        chronic: Whether a follow-up report tends to repeat the patient's previous state.
        positive, uncertain, negative: Sentence templates. Slots such as ``{side}`` are filled
            from ``SLOT_VALUES``.
        summary: Impression sentences for a present finding. When empty, the impression
            rewords the finding with another ``positive`` template.
        resolved: Follow-up sentences saying that the finding is gone.
    """

    prevalence: float
    uncertain_share: float
    negation_rate: float
    chronic: bool
    positive: tuple[str, ...]
    uncertain: tuple[str, ...]
    negative: tuple[str, ...]
    summary: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()


# Every label except No Finding, which follows from the others. The dict order is the
# anatomical order (devices, heart, lungs, pleura, bones) in which the findings are written.
FINDINGS: dict[str, Finding] = {
    "Support Devices": Finding(
        0.30, 0.0, 0.0, True,
        positive=(
            "endotracheal tube tip lies {cm} cm above the carina.",
            "a {side} PICC line terminates in the lower SVC.",
            "the nasogastric tube courses below the diaphragm with the tip in the stomach.",
            "a dual-chamber pacemaker is in place with leads in standard position.",
            "right internal jugular central venous catheter ends at the cavoatrial junction.",
        ),
        uncertain=("a catheter may project over the chest, but its tip is not clearly seen.",),
        negative=("no lines or tubes are present.",),
        summary=(
            "support devices as described above.",
            "lines and tubes are in standard position.",
            "unchanged position of the support devices.",
        ),
        resolved=("the endotracheal tube has been removed.", "interval removal of the {side} PICC line."),
    ),
    "Enlarged Cardiomediastinum": Finding(
        0.05, 0.3, 0.15, True,
        positive=(
            "the mediastinum is widened.",
            "there is widening of the superior mediastinum.",
            "the cardiomediastinal silhouette is enlarged.",
        ),
        uncertain=(
            "possible mediastinal widening, which may be due to projection.",
            "questionable widening of the superior mediastinum.",
        ),
        negative=("no mediastinal widening.", "the mediastinum is not widened."),
    ),
    "Cardiomegaly": Finding(
        0.20, 0.1, 0.35, True,
        positive=(
            "{degree} cardiomegaly.",
            "the heart is enlarged.",
            "the cardiac silhouette is {degree}ly enlarged.",
            "stable {degree} enlargement of the cardiac silhouette.",
        ),
        uncertain=(
            "borderline heart size.",
            "possible mild cardiomegaly, accentuated by the AP technique.",
            "cardiomegaly cannot be excluded on this view.",
        ),
        negative=("heart size is normal.", "the heart is not enlarged.", "no cardiomegaly."),
    ),
    "Lung Lesion": Finding(
        0.04, 0.2, 0.05, True,
        positive=(
            "a {mm} mm nodule is seen in the {lobe}.",
            "there is a spiculated mass in the {lobe}.",
            "rounded lesion in the {lobe} measuring {mm} mm.",
        ),
        uncertain=(
            "possible nodule in the {lobe}, which may be a nipple shadow.",
            "a nodule in the {lobe} cannot be excluded.",
            "questionable nodular density in the {lobe}.",
        ),
        negative=("no pulmonary nodules or masses.", "no focal lung lesion."),
    ),
    "Lung Opacity": Finding(
        0.28, 0.1, 0.10, False,
        positive=(
            "patchy opacity in the {lobe}.",
            "there is increased opacity at the {side} lung base.",
            "hazy airspace opacity in the {lobe}.",
            "streaky opacities in both lower lungs.",
        ),
        uncertain=(
            "possible faint opacity in the {lobe}.",
            "questionable subtle opacity at the {side} base.",
        ),
        negative=("no focal airspace opacity.", "no new opacity in either lung."),
        resolved=("the previously seen opacity in the {lobe} has resolved.",),
    ),
    "Edema": Finding(
        0.12, 0.2, 0.30, False,
        positive=(
            "{degree} pulmonary edema.",
            "there is interstitial edema with vascular congestion.",
            "findings are consistent with {degree} pulmonary edema.",
            "diffuse perihilar haziness in keeping with edema.",
        ),
        uncertain=(
            "possible mild interstitial edema.",
            "vascular congestion, cannot exclude early edema.",
            "perihilar haziness may reflect mild edema.",
        ),
        negative=("no pulmonary edema.", "there is no edema.", "no evidence of pulmonary edema."),
        resolved=("interval resolution of pulmonary edema.", "the previously seen edema has cleared."),
    ),
    "Consolidation": Finding(
        0.07, 0.25, 0.35, False,
        positive=(
            "focal consolidation in the {lobe}.",
            "there is dense consolidation of the {lobe}.",
            "airspace consolidation in the {lobe} with air bronchograms.",
        ),
        uncertain=(
            "possible early consolidation in the {lobe}.",
            "consolidation in the {lobe} cannot be excluded.",
        ),
        negative=("no focal consolidation.", "there is no consolidation."),
        resolved=("the {lobe} consolidation has cleared.",),
    ),
    "Pneumonia": Finding(
        0.08, 0.35, 0.15, False,
        positive=(
            "findings are consistent with pneumonia in the {lobe}.",
            "{lobe} pneumonia.",
            "infiltrate in the {lobe} compatible with pneumonia.",
        ),
        uncertain=(
            "cannot exclude pneumonia in the {lobe}.",
            "possible early pneumonia.",
            "this may represent developing pneumonia in the {lobe}.",
        ),
        negative=("no evidence of pneumonia.", "no radiographic signs of pneumonia."),
        resolved=("the previously seen {lobe} pneumonia has resolved.",),
    ),
    "Atelectasis": Finding(
        0.18, 0.25, 0.05, False,
        positive=(
            "{side} basilar atelectasis.",
            "linear atelectasis at the {side} base.",
            "there is subsegmental atelectasis in the {lobe}.",
            "plate-like atelectasis in the {lobe}.",
        ),
        uncertain=(
            "possible atelectasis at the {side} base.",
            "questionable atelectasis in the {lobe}.",
            "minimal {side} basilar atelectasis is not excluded.",
        ),
        negative=("no atelectasis.", "no evidence of atelectasis."),
        resolved=("{side} basilar atelectasis has resolved.",),
    ),
    "Pneumothorax": Finding(
        0.05, 0.15, 0.50, False,
        positive=(
            "{size} {side} apical pneumothorax.",
            "there is a {size} {side} pneumothorax.",
            "a {size} pneumothorax is seen on the {side}.",
        ),
        uncertain=(
            "possible tiny {side} apical pneumothorax.",
            "a small {side} pneumothorax cannot be excluded.",
            "questionable {side} apical pneumothorax.",
        ),
        negative=("no pneumothorax.", "there is no pneumothorax.", "no evidence of pneumothorax."),
        resolved=("the {side} pneumothorax has resolved.", "interval resolution of the {side} pneumothorax."),
    ),
    "Pleural Effusion": Finding(
        0.25, 0.15, 0.55, False,
        positive=(
            "{size} {sides} pleural effusion.",
            "there is a {size} {sides} pleural effusion.",
            "blunting of the {side} costophrenic angle due to a {size} effusion.",
        ),
        uncertain=(
            "possible {size} {sides} pleural effusion.",
            "trace {side} effusion cannot be excluded.",
            "questionable small {side} pleural effusion.",
        ),
        negative=("no pleural effusion.", "there is no pleural effusion.", "the costophrenic angles are sharp."),
        resolved=("interval resolution of the {sides} pleural effusion.",),
    ),
    "Pleural Other": Finding(
        0.02, 0.2, 0.02, True,
        positive=(
            "{side} apical pleural thickening.",
            "calcified pleural plaques along the {side} hemithorax.",
            "chronic pleural scarring on the {side}.",
        ),
        uncertain=("possible {side} pleural thickening.", "questionable pleural plaque on the {side}."),
        negative=("no pleural thickening.",),
    ),
    "Fracture": Finding(
        0.03, 0.2, 0.10, True,
        positive=(
            "acute fracture of the {side} {rib} rib.",
            "there is a healing {side} {rib} rib fracture.",
            "displaced fracture of the {side} clavicle.",
        ),
        uncertain=(
            "possible nondisplaced fracture of the {side} {rib} rib.",
            "a subtle {side} rib fracture cannot be excluded.",
        ),
        negative=("no acute fracture.", "no displaced rib fracture."),
    ),
}

SLOT_VALUES: dict[str, tuple[str, ...]] = {
    "side": ("left", "right"),
    "sides": ("left", "right", "bilateral"),
    "size": ("small", "moderate", "large"),
    "degree": ("mild", "moderate", "marked"),
    "lobe": (
        "right upper lobe",
        "right middle lobe",
        "right lower lobe",
        "left upper lobe",
        "lingula",
        "left lower lobe",
    ),
    "mm": tuple(str(size) for size in range(6, 26)),
    "rib": ("fourth", "fifth", "sixth", "seventh", "eighth", "ninth"),
    "cm": ("2", "3", "4", "5"),
}

# Follow-up reports from one patient are correlated. A chronic finding keeps the previous
# report's state with this probability, and a new draw follows otherwise.
CHRONIC_PERSISTENCE = 0.7

# (cause, effect, probability): a present cause makes an absent effect present with this
# probability, so that co-occurrences look clinical (edema with cardiomegaly, for example).
CO_OCCURRENCES: tuple[tuple[str, str, float], ...] = (
    ("Edema", "Cardiomegaly", 0.4),
    ("Pneumonia", "Lung Opacity", 0.5),
    ("Pleural Effusion", "Atelectasis", 0.3),
)

# Sentences that negate two findings at once. Only the first finding follows the negation
# word directly, which makes these harder to read than one negation per finding.
COMBINED_NEGATIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("Pleural Effusion", "Pneumothorax"): (
        "no pleural effusion or pneumothorax.",
        "there is no pleural effusion or pneumothorax.",
    ),
    ("Edema", "Consolidation"): ("no edema or focal consolidation.",),
    ("Consolidation", "Pneumonia"): ("no consolidation to suggest pneumonia.",),
}

# Probability that a follow-up mentions a finding of the previous report that is now gone.
RESOLUTION_MENTION = 0.6

# Lung Opacity is the parent of these observations in the CheXpert hierarchy, so a report that
# states or hedges one of them never negates Lung Opacity.
LUNG_OPACITY_CHILDREN: tuple[str, ...] = ("Lung Lesion", "Edema", "Consolidation", "Pneumonia", "Atelectasis")

# Normal statements, each with the labels it implies are negative. A statement is written only
# when none of its labels is present or hedged, so it never contradicts a finding.
NORMAL_STATEMENTS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        ("the lungs are clear.", "the lungs are well expanded and clear."),
        ("Lung Opacity", *LUNG_OPACITY_CHILDREN),
    ),
    (
        ("the cardiomediastinal silhouette is within normal limits.", "heart and mediastinum are unremarkable."),
        ("Cardiomegaly", "Enlarged Cardiomediastinum"),
    ),
    (("no acute osseous abnormality.", "the bones are intact."), ("Fracture",)),
)

# Length limits that keep most model texts between about 30 and 80 words (5th to 95th
# percentile of the default 1,200 reports), so CPU training stays fast.
MAX_NEGATED_MENTIONS = 3
MIN_FINDING_SENTENCES = 3
MAX_IMPRESSION_SENTENCES = 3

# Sentences that mention no CheXpert observation, so the model must learn to ignore them.
DISTRACTORS: tuple[str, ...] = (
    "the patient is rotated to the left.",
    "mild degenerative changes of the thoracic spine.",
    "calcification of the aortic knob.",
    "the trachea is midline.",
    "the visualized upper abdomen is unremarkable.",
    "lung volumes are low.",
    "skin folds project over the lateral chest wall.",
    "degenerative changes at both shoulders.",
    "the study is limited by patient motion.",
)

NO_ACUTE_IMPRESSIONS: tuple[str, ...] = ("no acute cardiopulmonary process.", "no acute intrathoracic process.")
# Impressions that call the whole radiograph normal, so they are not used when a device is present.
NORMAL_STUDY_IMPRESSIONS: tuple[str, ...] = ("normal chest radiograph.", "normal study of the chest.")

INDICATIONS: tuple[str, ...] = (
    "cough and fever.",
    "shortness of breath.",
    "chest pain.",
    "preoperative evaluation.",
    "line placement.",
    "hypoxia.",
    "fall with chest wall pain.",
    "follow-up of known disease.",
)


@dataclass(frozen=True)
class TemplateStyle:
    """One writing style of the generator (a template family).

    Attributes:
        lead_in: Sentence that opens the findings, or "" for none.
        impression: ``"prose"`` sentences, ``"numbered"`` items or ``"terse"`` (positive findings only).
        negation_scale: Factor on every finding's negation rate.
        distractors: Inclusive range of distractor sentences per report.
        shuffle: Whether findings are written in random order rather than anatomical order.
    """

    lead_in: str
    impression: str
    negation_scale: float
    distractors: tuple[int, int]
    shuffle: bool


TEMPLATES: dict[str, TemplateStyle] = {
    "tmpl-A": TemplateStyle("", "prose", 1.0, (0, 1), False),
    "tmpl-B": TemplateStyle("PA and lateral views of the chest were obtained.", "numbered", 1.3, (1, 2), False),
    "tmpl-C": TemplateStyle("Single portable AP view of the chest.", "terse", 0.6, (0, 1), True),
    "tmpl-D": TemplateStyle("Frontal and lateral radiographs of the chest.", "prose", 1.0, (1, 2), True),
}


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:]


def _slot_names(template: str) -> list[str]:
    return [name for name in SLOT_VALUES if "{" + name + "}" in template]


def _fill(rng: np.random.Generator, template: str, slots: dict[str, str]) -> str:
    """Fill the template's slots, drawing any slot not yet in ``slots`` and storing it there."""
    for name in _slot_names(template):
        if name not in slots:
            slots[name] = _pick(rng, SLOT_VALUES[name])
    return _sentence(template.format(**slots))


def _draw_states(rng: np.random.Generator, previous: Optional[dict[str, str]], style: TemplateStyle) -> dict[str, str]:
    """Draw the mention state of every finding of one report."""
    states: dict[str, str] = {}
    for name, finding in FINDINGS.items():
        if previous is not None and finding.chronic and rng.random() < CHRONIC_PERSISTENCE:
            states[name] = ABSENT if previous[name] == RESOLVED else previous[name]
            continue
        if rng.random() < finding.prevalence:
            states[name] = UNCERTAIN if rng.random() < finding.uncertain_share else POSITIVE
        elif rng.random() < finding.negation_rate * style.negation_scale:
            states[name] = NEGATIVE
        else:
            states[name] = ABSENT
        gone = previous is not None and previous[name] == POSITIVE and states[name] not in PRESENT_STATES
        if gone and finding.resolved and rng.random() < RESOLUTION_MENTION:
            states[name] = RESOLVED

    for cause, effect, probability in CO_OCCURRENCES:
        if states[cause] == POSITIVE and states[effect] not in PRESENT_STATES and rng.random() < probability:
            states[effect] = POSITIVE
    child_present = any(states[child] in PRESENT_STATES for child in LUNG_OPACITY_CHILDREN)
    if child_present and states["Lung Opacity"] in NEGATED_STATES:
        states["Lung Opacity"] = ABSENT
    return states


def _write_report(rng: np.random.Generator, states: dict[str, str], style: TemplateStyle, follow_up: bool) -> str:
    """Write the raw report with INDICATION, COMPARISON, FINDINGS and IMPRESSION sections."""
    present = [name for name, state in states.items() if state in PRESENT_STATES]
    negated = [name for name, state in states.items() if state in NEGATED_STATES]
    if len(negated) > MAX_NEGATED_MENTIONS:
        keep = sorted(rng.choice(len(negated), size=MAX_NEGATED_MENTIONS, replace=False))
        negated = [negated[index] for index in keep]
    mentioned = [name for name in FINDINGS if name in present or name in negated]
    if style.shuffle:
        mentioned = [mentioned[index] for index in rng.permutation(len(mentioned))]

    sentences: list[str] = []
    slots_by_finding: dict[str, tuple[str, dict[str, str]]] = {}
    written: set[str] = set()
    for name in mentioned:
        if name in written:
            continue
        combined = _combined_negation(rng, name, mentioned, states, written)
        if combined:
            sentences.append(combined)
            continue
        slots: dict[str, str] = {}
        phrasing = _pick(rng, _phrasings(name, states[name]))
        sentences.append(_fill(rng, phrasing, slots))
        slots_by_finding[name] = (phrasing, slots)
        written.add(name)

    for phrasings, implied in NORMAL_STATEMENTS:
        if any(states[label] in PRESENT_STATES for label in implied):
            continue
        if len(sentences) < MIN_FINDING_SENTENCES or rng.random() < 0.4:
            sentences.append(_sentence(_pick(rng, phrasings)))
    low, high = style.distractors
    count = int(rng.integers(low, high + 1))
    for index in rng.choice(len(DISTRACTORS), size=count, replace=False):
        position = int(rng.integers(len(sentences) + 1))
        sentences.insert(position, _sentence(DISTRACTORS[int(index)]))

    findings = [style.lead_in, *sentences] if style.lead_in else sentences
    impression = _write_impression(rng, states, slots_by_finding, style)
    comparison = "Prior radiograph of the same patient." if follow_up else "None."
    return (
        f"INDICATION: {_sentence(_pick(rng, INDICATIONS))}\n"
        f"COMPARISON: {comparison}\n"
        f"FINDINGS: {' '.join(findings)}\n"
        f"IMPRESSION: {impression}\n"
    )


def _combined_negation(
    rng: np.random.Generator, name: str, mentioned: list[str], states: dict[str, str], written: set[str]
) -> str:
    """Return one sentence negating ``name`` and a partner finding, or "" to write ``name`` alone.

    Both findings are added to ``written`` when the sentence is returned.
    """
    for pair, phrasings in COMBINED_NEGATIONS.items():
        if name not in pair:
            continue
        partner = pair[1] if name == pair[0] else pair[0]
        both_negative = states[name] == NEGATIVE and states[partner] == NEGATIVE
        if both_negative and partner in mentioned and partner not in written and rng.random() < 0.5:
            written.update(pair)
            return _sentence(_pick(rng, phrasings))
    return ""


def _phrasings(name: str, state: str) -> tuple[str, ...]:
    finding = FINDINGS[name]
    by_state = {POSITIVE: finding.positive, UNCERTAIN: finding.uncertain, NEGATIVE: finding.negative}
    by_state[RESOLVED] = finding.resolved
    return by_state[state]


def _write_impression(
    rng: np.random.Generator,
    states: dict[str, str],
    slots_by_finding: dict[str, tuple[str, dict[str, str]]],
    style: TemplateStyle,
) -> str:
    """Restate the present and hedged findings, or write a normal impression.

    A restatement keeps the finding's state and uses only phrasings with the same slots and
    slot values as the finding's sentence, so the impression never contradicts the findings.
    The terse style restates only positive findings, unless all of them are hedged.
    """
    restated = [name for name in slots_by_finding if states[name] in PRESENT_STATES]
    if style.impression == "terse" and any(states[name] == POSITIVE for name in restated):
        restated = [name for name in restated if states[name] == POSITIVE]

    if len(restated) > MAX_IMPRESSION_SENTENCES:
        keep = sorted(rng.choice(len(restated), size=MAX_IMPRESSION_SENTENCES, replace=False))
        restated = [restated[index] for index in keep]

    sentences = []
    for name in restated:
        original, slots = slots_by_finding[name]
        summary = FINDINGS[name].summary if states[name] == POSITIVE else ()
        candidates = summary or [p for p in _phrasings(name, states[name]) if set(_slot_names(p)) == set(slots)]
        sentences.append(_fill(rng, _pick(rng, candidates or (original,)), dict(slots)))

    pathology = [name for name, state in states.items() if name != SUPPORT_DEVICES and state in PRESENT_STATES]
    if not pathology:
        normal = NO_ACUTE_IMPRESSIONS
        if states[SUPPORT_DEVICES] not in PRESENT_STATES:
            normal += NORMAL_STUDY_IMPRESSIONS
        sentences.append(_sentence(_pick(rng, normal)))
    if style.impression == "numbered":
        return " ".join(f"{number}. {sentence}" for number, sentence in enumerate(sentences, start=1))
    return " ".join(sentences)


def _labels(states: dict[str, str], policy: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (labels, mask) over ``CHEXPERT_LABELS`` under the uncertain policy.

    No Finding is positive exactly when no label other than Support Devices is positive or
    masked after the policy. Under ``"mask"``, a report whose only pathology is hedged gets No
    Finding masked as well, because it is neither normal nor abnormal.
    """
    labels = np.zeros(len(CHEXPERT_LABELS), dtype=np.float32)
    mask = np.ones(len(CHEXPERT_LABELS), dtype=np.float32)
    for index, name in enumerate(CHEXPERT_LABELS):
        if name in states:
            labels[index], mask[index] = chexpert_to_label(CHEXPERT_CELL[states[name]], column=name, policy=policy)

    pathology = [index for index, name in enumerate(CHEXPERT_LABELS) if name not in (NO_FINDING, SUPPORT_DEVICES)]
    no_finding = CHEXPERT_LABELS.index(NO_FINDING)
    if labels[pathology].any():
        labels[no_finding], mask[no_finding] = 0.0, 1.0
    elif (mask[pathology] == 0).any():
        labels[no_finding], mask[no_finding] = 0.0, 0.0
    else:
        labels[no_finding], mask[no_finding] = 1.0, 1.0
    return labels, mask


@DATASETS.register("synthetic")
def load_synthetic(data_dir: Optional[Path], options: DatasetOptions) -> Corpus:
    """Generate ``options.synthetic_reports`` reports from ``options.synthetic_seed``.

    ``data_dir`` is ignored. Patients get 1 to 4 reports each. With ``options.label_noise`` p,
    each scored label (mask 1) is flipped with probability p after No Finding is derived, so a
    noisy label may break the No Finding rule, as annotation errors do.
    """
    if data_dir is not None:
        logger.info("synthetic: --data-dir is ignored because the reports are generated")
    text_seed, noise_seed = np.random.SeedSequence(options.synthetic_seed).spawn(2)
    rng = np.random.default_rng(text_seed)
    noise_rng = np.random.default_rng(noise_seed)

    reports: list[Report] = []
    labels_flipped = 0
    patient_number = 0
    while len(reports) < options.synthetic_reports:
        patient_number += 1
        patient_id = f"syn-p{patient_number:05d}"
        visits = min(int(rng.integers(1, 5)), options.synthetic_reports - len(reports))
        previous: Optional[dict[str, str]] = None
        for visit in range(visits):
            template = _pick(rng, tuple(TEMPLATES))
            style = TEMPLATES[template]
            states = _draw_states(rng, previous, style)
            raw_report = _write_report(rng, states, style, follow_up=visit > 0)
            previous = states

            labels, mask = _labels(states, options.uncertain_policy)
            flips = (noise_rng.random(labels.shape[0]) < options.label_noise) & (mask == 1)
            labels[flips] = 1.0 - labels[flips]
            labels_flipped += int(flips.sum())

            text = select_model_text(raw_report).text
            report_id = f"syn-r{len(reports) + 1:06d}"
            reports.append(Report(report_id, patient_id, text, labels, mask, template=template))

    notes = {
        "synthetic_seed": options.synthetic_seed,
        "synthetic_reports": options.synthetic_reports,
        "uncertain_policy": options.uncertain_policy,
        "label_noise": options.label_noise,
        "labels_flipped": labels_flipped,
        "templates": sorted(TEMPLATES),
    }
    return build_corpus(
        "synthetic",
        CHEXPERT_LABELS,
        reports,
        options=options,
        notes=notes,
        source="the synthetic generator",
        check_hint="This is a bug in the generator, because every generated report has text.",
    )
