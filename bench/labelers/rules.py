"""Rule-based teacher: finding phrases, then NegEx-style negation and uncertainty scopes around them.

Each label maps to a concept with regular-expression fragments for its mentions, phrases that
state its absence ("heart size is normal") and look-alike phrases that are no mention ("pericardial
effusion"). A mention is negative when a negation cue scopes it, uncertain when an uncertainty cue
does, and positive otherwise. A cue before the mention ("no", "possible") scopes every mention up
to the end of its clause. A clause ends at a sentence boundary, a semicolon or colon, a contrast
word ("but", "however", "although") or a comma before a new affirmed phrase ("no effusion, mild
cardiomegaly"). A cue after the mention ("is not seen", "cannot be excluded") scopes the mentions
of the few words before it. The report value of a label is positive if any mention is positive,
else uncertain if any is uncertain, else negative if any is negative, else NaN (not mentioned).

The vocabularies cover the 14 CheXpert observations and the 14 ChestX-ray14 labels of Open-i plus
"No Finding" (Open-i's ``normal``). Matching is case-insensitive on whitespace-normalised text.
"""

from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

import numpy as np

from bench.labelers import LABELERS, NEGATIVE, NOT_MENTIONED, POSITIVE, UNCERTAIN

logger = logging.getLogger(__name__)

RULES_VERSION = "rules-1"
NO_FINDING = "no_finding"
SUPPORT_DEVICES = "support_devices"
NoFindingScope = Literal["labels", "all_findings"]
NO_FINDING_SCOPES: tuple[str, ...] = ("labels", "all_findings")

# A cue after a mention scopes it only when the cue starts within this many characters of the
# mention's end, about six words: "effusion and pneumothorax are not seen".
POST_CUE_WINDOW = 40


@dataclass(frozen=True)
class Concept:
    """Phrase vocabulary of one finding.

    Attributes:
        key: Internal name, for example ``"pleural_effusion"``.
        mentions: Regular-expression fragments whose match states the finding.
        absent: Fragments whose match states that the finding is absent; they give a negative
            mention whatever cues surround them, and mentions overlapping them are dropped.
        excluded: Fragments of look-alike phrases; mentions overlapping them are dropped.
    """

    key: str
    mentions: tuple[str, ...]
    absent: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


# Shared fragments. Modifiers between a structure and its adjective: "heart is mildly enlarged".
_DEGREE = r"(?:(?:mildly|mild|moderately|moderate|markedly|marked|severely|severe|slightly|slight|minimally|minimal|massively|borderline|again|stably|still|now|somewhat) )?"
_VERB = r"(?:(?:is|are|appears|appear|remains|remain|seems|is again|appears to be|remains?) )?"
_NORMAL = r"(?:(?:at )?(?:the )?(?:normal|within normal limits|unremarkable|upper limits? of normal|upper normal|top normal|top-normal|not enlarged)\b)"

_MASS = (r"masses", r"mass(?:-?like)?")
_NODULE = (r"nodul(?:e|es|ar|arity)", r"micronodul\w*")
_PLEURAL_THICKENING = (
    r"pleural (?:\w+ )?thickening",
    r"thickening of the (?:\w+ )?pleura\w*",
    r"(?:bi)?apical (?:pleural )?(?:caps?|capping|thickening)",
    r"pleural(?:-| )based (?:scar\w*|thickening)",
)
_EMPHYSEMA = (
    r"emphysema\w*",
    r"bullae",
    r"bullous",
)
_EDEMA = (
    r"o?edema",
    r"congestive (?:heart )?failure",
    r"chf",
    r"(?:fluid|volume) overload",
)

CONCEPTS: dict[str, Concept] = {
    concept.key: concept
    for concept in (
        Concept(
            "atelectasis",
            mentions=(
                r"atelecta\w*",
                r"(?:lobar|lobe|lung|segmental) collapse",
                r"collapsed (?:\w+ )?(?:lobes?|lungs?)",
                r"collapse of (?:the )?(?:\w+ ){0,4}(?:lobes?|lungs?)",
            ),
        ),
        Concept(
            "cardiomegaly",
            mentions=(
                r"cardiomegaly",
                r"cardiac enlargement",
                r"enlarged (?:heart|cardiac (?:silhouette|shadow))",
                r"enlargement of the (?:heart|cardiac (?:silhouette|shadow|size))",
                r"increased? (?:in )?(?:the )?(?:heart|cardiac) size",
                r"(?:heart|cardiac)(?: size| silhouette| shadow)? " + _VERB + _DEGREE + r"(?:enlarged|large|increased)\b",
            ),
            absent=(
                r"(?:heart|cardiac)(?: size| silhouette| shadow| contours?)? " + _VERB + _NORMAL,
                r"heart (?:is )?normal in size",
                r"normal(?:-| )sized? heart",
                r"normal (?:heart|cardiac) (?:size|silhouette|contour)",
                r"(?:heart|cardiac)(?: size| silhouette)? (?:and|,) (?:\w+ ){1,3}" + _VERB + _NORMAL,
            ),
        ),
        Concept(
            "enlarged_cardiomediastinum",
            mentions=(
                r"(?:widened|widening of the|enlarged|enlargement of the) (?:cardio)?mediastin\w*",
                r"(?:cardio)?mediastin\w*(?: silhouettes?| contours?| shadows?)? " + _VERB + _DEGREE + r"(?:widened|enlarged)",
                r"mediastinal (?:widening|enlargement)",
            ),
            absent=(
                r"(?:cardio)?mediastin\w*(?: silhouettes?| contours?| shadows?| size)? " + _VERB + r"(?:not widened|" + _NORMAL + ")",
                r"normal (?:cardio)?mediastin\w*(?: silhouettes?| contours?)?",
            ),
        ),
        Concept(
            "lung_lesion",
            mentions=(
                *_MASS,
                *_NODULE,
                r"lesions?",
                r"tumou?rs?",
                r"neoplas\w*",
                r"malignan\w*",
                r"carcinoma\w*",
                r"cancer",
                r"metasta\w*",
            ),
            excluded=(r"mass effect", r"body mass", r"(?:lytic|blastic|sclerotic|bone|bony|osseous|skin|cutaneous) lesions?"),
        ),
        Concept("mass", mentions=_MASS, excluded=(r"mass effect", r"body mass")),
        Concept("nodule", mentions=_NODULE),
        Concept(
            "lung_opacity",
            mentions=(
                r"opacit(?:y|ies)",
                r"opacification",
                r"opacified",
                r"air ?space (?:disease|process|filling)",
                r"infiltrat\w*",
                r"densit(?:y|ies)",
                r"haz(?:y|iness)",
                r"ground(?:-| )?glass",
            ),
            excluded=(r"(?:bone|bony|osseous|soft tissue|soft-tissue) densit(?:y|ies)",),
        ),
        Concept(
            "infiltration",
            mentions=(r"infiltrat\w*",),
        ),
        Concept(
            "edema",
            mentions=_EDEMA,
            excluded=(r"(?:soft tissue|soft-tissue|subcutaneous) o?edema",),
        ),
        Concept("consolidation", mentions=(r"consolidat\w*",)),
        Concept(
            "pneumonia",
            mentions=(r"(?:broncho)?pneumoni(?:a|as|c)", r"pneumonitis"),
        ),
        Concept(
            "pneumothorax",
            mentions=(r"(?:hydro)?pneumothora(?:x|xes|ces)", r"pleural air(?: collections?)?"),
        ),
        Concept(
            "pleural_effusion",
            mentions=(
                r"effusions?",
                r"pleural fluid",
                r"hydropneumothora\w*",
                r"hydrothorax",
                r"blunt\w* (?:of )?(?:the )?(?:\w+ )?(?:costophrenic|cp) (?:angles?|sulc\w*|recess\w*)",
                r"(?:costophrenic|cp) (?:angles? |sulc\w* )?blunting",
            ),
            absent=(r"(?:costophrenic|cp) (?:angles?|sulci) " + _VERB + r"(?:sharp|clear|preserved|normal)",),
            excluded=(r"pericardial effusions?", r"joint effusions?"),
        ),
        Concept("pleural_thickening", mentions=_PLEURAL_THICKENING),
        Concept(
            "pleural_other",
            mentions=(
                *_PLEURAL_THICKENING,
                r"pleural (?:\w+ )?(?:plaques?|calcification\w*|scar\w*)",
                r"fibrothorax",
            ),
        ),
        Concept(
            "fibrosis",
            mentions=(r"fibros\w*", r"fibrotic"),
        ),
        Concept(
            "emphysema",
            mentions=_EMPHYSEMA,
            excluded=(r"(?:subcutaneous|soft tissue|soft-tissue|mediastinal|surgical) emphysema",),
        ),
        Concept(
            "hernia",
            mentions=(r"hernia(?:s|tion)?",),
            excluded=(r"(?:dis[ck]) hernia\w*", r"herniated dis[ck]"),
        ),
        Concept("fracture", mentions=(r"fractur\w*", r"fx")),
        Concept(
            SUPPORT_DEVICES,
            mentions=(
                r"(?:endotracheal|tracheostomy|nasogastric|orogastric|enteric|feeding|chest|thoracostomy|gastric|dobhoff|et|ng|og) tubes?",
                r"catheters?",
                r"(?:picc|central(?: venous)?|midline|arterial|jugular|subclavian|swan-ganz|dialysis|port) lines?",
                r"line tips?",
                r"pacemakers?",
                r"pacers?",
                r"(?:pacing|pacer|pacemaker|cardiac) (?:leads?|wires?)",
                r"(?:a?icd|defibrillators?)",
                r"stents?",
                r"port-?a-?cath",
                r"drains?",
                r"(?:prosthetic|replacement) valves?",
                r"valve (?:replacement|prosthes[ie]s)",
                r"(?:support|monitoring|cardiac) devices?",
                r"balloon pump",
                r"lvad",
            ),
        ),
        # Findings outside both label sets. They block "No Finding" only under the "all_findings"
        # scope, because Open-i's "normal" label marks reports that describe no abnormality at all.
        Concept(
            "other_finding",
            mentions=(
                r"granulomas?",
                r"granulomatous",
                r"degenerat\w*",
                r"spondylo\w*",
                r"osteophyt\w*",
                r"scolio\w*",
                r"kyphos\w*",
                r"calcifi\w*",
                r"tortu\w*",
                r"ectasia",
                r"ectatic",
                r"scar(?:s|ring|red)?",
                r"deformit(?:y|ies)",
                r"elevat\w* (?:\w+ )?hemidiaphragm",
                r"hemidiaphragm (?:is |remains )?elevat\w*",
                r"(?:low|decreased|reduced) lung volumes?",
                r"hypo-?inflat\w*",
                r"hyper-?inflat\w*",
                r"hyper-?expan\w*",
                r"hyper-?aerat\w*",
                r"(?:vascular|venous|interstitial) congestion",
                r"copd",
                r"chronic obstructive (?:pulmonary|lung|airways?) disease",
                r"atheroscl\w*",
                r"spurr?(?:s|ing)?",
                r"curvature",
                r"dilat(?:ed|ation)",
                r"dissection",
                r"hilar (?:fullness|prominence|enlargement)",
                r"(?:dis|sub)locat\w*|subluxat\w*",
                r"arthrit\w*",
                r"sternotomy",
                r"cabg",
                r"(?:surgical )?clips",
                r"lymphadenopathy",
                r"adenopathy",
                r"(?:prominent|increased|coarse|accentuated) (?:interstitial|bronchovascular|lung) markings",
                r"interstitial (?:lung )?disease",
                r"bronchiectasis",
                r"osteopeni\w*",
                r"osteoporo\w*",
                r"cysts?",
                r"aneurysm\w*",
                r"postsurgical",
                r"post-?operative",
                r"status post",
                r"eventration",
                r"abnormalit(?:y|ies)",
                r"abnormal",
            ),
        ),
    )
}

# Label names (lower case, underscores read as spaces) and the concept each maps to.
LABEL_CONCEPTS: dict[str, str] = {
    "no finding": NO_FINDING,
    "normal": NO_FINDING,
    "enlarged cardiomediastinum": "enlarged_cardiomediastinum",
    "cardiomegaly": "cardiomegaly",
    "lung lesion": "lung_lesion",
    "lung opacity": "lung_opacity",
    "edema": "edema",
    "consolidation": "consolidation",
    "pneumonia": "pneumonia",
    "atelectasis": "atelectasis",
    "pneumothorax": "pneumothorax",
    "pleural effusion": "pleural_effusion",
    "effusion": "pleural_effusion",
    "pleural other": "pleural_other",
    "fracture": "fracture",
    "support devices": SUPPORT_DEVICES,
    "infiltration": "infiltration",
    "mass": "mass",
    "nodule": "nodule",
    "emphysema": "emphysema",
    "fibrosis": "fibrosis",
    "pleural thickening": "pleural_thickening",
    "hernia": "hernia",
}

# Cue kinds. A "weak" uncertainty cue ("to suggest") leaves an open negation in force, so "no
# opacity to suggest pneumonia" stays negative. A "both" cue ("versus") scopes the mentions before
# and after it.
NEG_PRE = "neg_pre"
NEG_POST = "neg_post"
UNC_PRE = "unc_pre"
UNC_WEAK = "unc_weak"
UNC_POST = "unc_post"
UNC_BOTH = "unc_both"
PSEUDO = "pseudo"
BREAK = "break"

# Within one kind the regex tries alternatives in the listed order, so longer phrases come first.
CUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Phrases that contain a cue word but negate nothing: "no change in the effusion".
    (
        PSEUDO,
        (
            r"no (?:(?:significant|appreciable|substantial|interval|definite) )*(?:change|increase|decrease|worsening)",
            r"not (?:significantly )?(?:changed|increased|decreased)",
            r"without (?:(?:significant|appreciable|substantial|interval) )*(?:change|increase|decrease)",
            r"not well (?:seen|visualized|evaluated|assessed)",
            r"not only",
            r"no longer (?:requires?|needs?)",
        ),
    ),
    (
        UNC_POST,
        (
            r"(?:is |are )?(?:not|cannot be|can not be|can't be) (?:entirely |completely |totally )?(?:excluded|ruled out)",
            r"(?:is|are|was|were) (?:possible|suspected|questioned|likely|probable|favored|not excluded)",
        ),
    ),
    (
        NEG_POST,
        (
            r"(?:is|are|was|were|has been|have been) (?:no longer|not) (?:seen|identified|present|visualized|visible|evident|demonstrated|appreciated|noted|detected)",
            r"(?:is |are )?no longer (?:seen|identified|present|visualized|visible|evident|demonstrated|appreciated|noted|detected)",
            r"not (?:seen|identified|present|visualized|visible|evident|demonstrated|appreciated|detected)",
            r"(?:has|have) (?:since )?(?:resolved|cleared)",
            r"(?:is|are|was|were) (?:absent|resolved|removed|negative)",
            r"resolved",
        ),
    ),
    (
        UNC_PRE,
        (
            r"cannot (?:entirely |completely |totally )?(?:exclude|rule out|be excluded|be ruled out)",
            r"can not (?:exclude|rule out)",
            r"can't (?:exclude|rule out)",
            r"(?:not|cannot|can not) (?:entirely |completely )?(?:exclude|excluded|ruled out)",
            r"differential (?:diagnosis )?(?:includes?|considerations? include)",
            r"questionable",
            r"question(?:ed)?(?: of)?",
            r"suspicious (?:for|of)",
            r"suspect(?:ed)?",
            r"concerning for",
            r"concern for",
            r"worrisome for",
            r"possibl[ey]",
            r"probabl[ey]",
            r"likely",
            r"may",
            r"might",
            r"could",
            r"presum(?:ed|ably|ptive)",
            r"equivocal",
            r"borderline",
            r"consider(?:ed)?",
            r"favou?r(?:s|ed)?",
            r"either",
            r"uncertain",
        ),
    ),
    (UNC_BOTH, (r"versus", r"vs", r"and/or", r"or possibly")),
    (
        UNC_WEAK,
        (
            r"suggest(?:s|ed|ive|ing)?(?: of)?",
            r"to suggest",
            r"indicat(?:e|es|ive of|ing)",
        ),
    ),
    (
        NEG_PRE,
        (
            r"no (?:radiographic |definite |convincing |acute |new )?(?:evidence|signs?|findings?|features?) (?:of|for|to suggest)",
            r"(?:free|clear) of",
            r"negative for",
            r"(?:absence|resolution|removal) of",
            r"(?:interval )?resolution of",
            r"rather than",
            r"without",
            r"no",
            r"not",
            r"nor",
            r"neither",
            r"never",
            r"absent",
            r"resolved",
        ),
    ),
    (
        BREAK,
        (
            r"but",
            r"however",
            r"although",
            r"though",
            r"except(?: for)?",
            r"aside from",
            r"apart from",
            r"other than",
            r"whereas",
            r"while",
            r"there (?:is|are|has been|have been)",
            # A comma before a new affirmed phrase: "no effusion, stable cardiomegaly".
            r", (?=(?:stable|mild|mildly|moderate|moderately|severe|marked|persistent|increased|increasing|decreased|unchanged|chronic|old|healed|redemonstrated|there|the|a|an|this|these)\b)",
        ),
    ),
)

# Sentence boundaries: terminal punctuation followed by space, end or a letter, and line breaks.
_SENTENCE_END = re.compile(r"[.!?;:](?=\s|$|[a-z])|\n")
# "vs." would end a sentence; it is rewritten to "vs " so offsets stay the same.
_VERSUS_ABBREVIATION = re.compile(r"\bvs\.")
_WHITESPACE = re.compile(r"[ \t\r\f\v]+")


def _alternation(fragments: Iterable[str]) -> str:
    return "|".join(f"(?:{fragment})" for fragment in fragments)


def _compile_words(fragments: Sequence[str]) -> re.Pattern[str] | None:
    if not fragments:
        return None
    return re.compile(r"(?<![\w-])(?:" + _alternation(fragments) + r")(?![\w-])")


def _compile_cues() -> re.Pattern[str]:
    groups = []
    for kind, fragments in CUES:
        # The comma break starts with punctuation, so word boundaries are added per fragment.
        bounded = [fragment if fragment.startswith(",") else rf"(?<![\w/-])(?:{fragment})(?![\w/-])" for fragment in fragments]
        groups.append(f"(?P<{kind}>{'|'.join(bounded)})")
    return re.compile("|".join(groups))


@dataclass(frozen=True)
class _CompiledConcept:
    key: str
    mentions: re.Pattern[str]
    absent: re.Pattern[str] | None
    excluded: re.Pattern[str] | None


_CUE_PATTERN = _compile_cues()
_COMPILED: dict[str, _CompiledConcept] = {
    key: _CompiledConcept(
        key,
        _compile_words(concept.mentions),
        _compile_words(concept.absent),
        _compile_words(concept.excluded),
    )
    for key, concept in CONCEPTS.items()
}


def normalize_label_name(name: str) -> str:
    """Return the lookup form of a label name: lower case, underscores as spaces, single spaces."""
    return " ".join(name.replace("_", " ").lower().split())


def concept_for_label(name: str) -> str:
    """Return the concept key of a label name.

    Raises:
        ValueError: when the rules have no vocabulary for the label, listing the known names.
    """
    key = LABEL_CONCEPTS.get(normalize_label_name(name))
    if key is None:
        known = ", ".join(sorted(LABEL_CONCEPTS))
        raise ValueError(f"the rule labeler has no vocabulary for label {name!r}; known labels: {known}.")
    return key


@dataclass
class _Cue:
    start: int
    end: int
    kind: str


class _ParsedText:
    """Cue positions and clause limits of one lower-cased report text."""

    def __init__(self, text: str) -> None:
        self.text = text
        cues = [_Cue(m.start(), m.end(), m.lastgroup) for m in _CUE_PATTERN.finditer(text)]
        self.cues = [cue for cue in cues if cue.kind not in (BREAK, PSEUDO)]
        self.cue_starts = [cue.start for cue in self.cues]

        barriers = [(m.start(), m.end()) for m in _SENTENCE_END.finditer(text)]
        barriers += [(cue.start, cue.end) for cue in cues if cue.kind == BREAK]
        barriers.sort()
        self.barrier_starts = [start for start, _ in barriers]
        self.barrier_ends = sorted(end for _, end in barriers)

    def clause(self, start: int, end: int) -> tuple[int, int]:
        """Return the (start, end) offsets of the clause that contains the span [start, end)."""
        before = bisect.bisect_right(self.barrier_ends, start)
        clause_start = self.barrier_ends[before - 1] if before else 0
        after = bisect.bisect_left(self.barrier_starts, end)
        clause_end = self.barrier_starts[after] if after < len(self.barrier_starts) else len(self.text)
        return clause_start, clause_end

    def mention_value(self, start: int, end: int) -> float:
        """Return the value of a mention at [start, end): positive, negative or uncertain."""
        clause_start, clause_end = self.clause(start, end)
        first = bisect.bisect_left(self.cue_starts, clause_start)

        # Cues before the mention, in reading order: the last one in force decides.
        state = None
        index = first
        while index < len(self.cues) and self.cues[index].end <= start:
            kind = self.cues[index].kind
            if kind == NEG_PRE:
                state = NEGATIVE
            elif kind in (UNC_PRE, UNC_BOTH):
                state = UNCERTAIN
            elif kind == UNC_WEAK and state != NEGATIVE:
                state = UNCERTAIN
            index += 1
        if state is not None:
            return state

        # Otherwise the first cue shortly after the mention, within the clause, may scope it.
        while index < len(self.cues) and self.cues[index].start < start:
            index += 1
        while index < len(self.cues):
            cue = self.cues[index]
            if cue.start >= clause_end or cue.start - end > POST_CUE_WINDOW:
                break
            if cue.kind == NEG_POST:
                return NEGATIVE
            if cue.kind in (UNC_POST, UNC_BOTH):
                return UNCERTAIN
            index += 1
        return POSITIVE


def _overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(start < span[1] and span[0] < end for start, end in spans)


def _spans(pattern: re.Pattern[str] | None, text: str) -> list[tuple[int, int]]:
    if pattern is None:
        return []
    return [match.span() for match in pattern.finditer(text)]


def concept_value(parsed: _ParsedText, key: str) -> float:
    """Return the report value of one concept: 1, 0, -1, or NaN when nothing mentions it."""
    compiled = _COMPILED[key]
    absent = _spans(compiled.absent, parsed.text)
    excluded = absent + _spans(compiled.excluded, parsed.text)

    values = [NEGATIVE] * len(absent)
    for span in _spans(compiled.mentions, parsed.text):
        if not _overlaps(span, excluded):
            values.append(parsed.mention_value(*span))

    if not values:
        return NOT_MENTIONED
    if POSITIVE in values:
        return POSITIVE
    if UNCERTAIN in values:
        return UNCERTAIN
    return NEGATIVE


def prepare_text(text: str) -> str:
    """Return the text the rules read: lower case, runs of spaces collapsed, "vs." as "vs "."""
    text = _WHITESPACE.sub(" ", text.lower())
    return _VERSUS_ABBREVIATION.sub("vs ", text)


class RuleLabeler:
    """Label reports with the phrase vocabularies and cue scopes of this module.

    Args:
        no_finding_scope: What blocks "No Finding". ``"labels"`` is the CheXpert convention:
            "No Finding" is positive unless another label of the requested set, Support Devices
            excepted, is positive or uncertain. ``"all_findings"`` blocks it on every concept of
            this module, support devices and findings outside the label set (granulomas,
            degenerative changes, scarring) included, as Open-i's ``normal`` label does. Where
            nothing blocks it "No Finding" is positive, else NaN; it is never negative.
    """

    name = "rules"

    def __init__(self, *, no_finding_scope: NoFindingScope = "labels") -> None:
        if no_finding_scope not in NO_FINDING_SCOPES:
            raise ValueError(f"no_finding_scope={no_finding_scope!r} is invalid; use one of {NO_FINDING_SCOPES}.")
        self.no_finding_scope = no_finding_scope
        self.version = f"{RULES_VERSION}-{no_finding_scope}"

    def label(self, texts: list[str], label_names: tuple[str, ...]) -> np.ndarray:
        """Return values in {1, 0, -1, NaN} of shape [len(texts), len(label_names)].

        An empty or whitespace-only text gets NaN for every label, "No Finding" included.

        Raises:
            ValueError: for a label name the rules have no vocabulary for.
        """
        keys = [concept_for_label(name) for name in label_names]
        blocking = self._blocking_concepts(keys) if NO_FINDING in keys else []
        needed = list(dict.fromkeys([key for key in keys if key != NO_FINDING] + blocking))

        values = np.full((len(texts), len(label_names)), NOT_MENTIONED, dtype=np.float64)
        for row, text in enumerate(texts):
            if not text or not text.strip():
                continue
            parsed = _ParsedText(prepare_text(text))
            found = {key: concept_value(parsed, key) for key in needed}
            no_finding = NOT_MENTIONED if any(found[key] in (POSITIVE, UNCERTAIN) for key in blocking) else POSITIVE
            values[row] = [no_finding if key == NO_FINDING else found[key] for key in keys]
        return values

    def _blocking_concepts(self, keys: list[str]) -> list[str]:
        """Return the concepts whose positive or uncertain value blocks "No Finding"."""
        if self.no_finding_scope == "all_findings":
            return list(CONCEPTS)
        return [key for key in keys if key not in (NO_FINDING, SUPPORT_DEVICES)]


LABELERS.add("rules", RuleLabeler)
