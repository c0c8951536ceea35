"""Language-model teacher: score " yes" against " no" after a question about each label.

For each (report, label) the user message is

    Radiology report: <report text>
    Question: Does the report state that the patient has <label phrase>? Answer yes or no.

followed by a line "Answer:", or, with ``chat=True``, sent through the tokenizer's chat template
with the assistant turn opened. One forward pass gives the next-token log-probabilities. The
score is ``logsumexp(log p(yes variants)) - logsumexp(log p(no variants))``, where the variants
are the first tokens of "yes", " yes", "Yes" and " Yes" (and the same for "no"). The value is 1.0
when the score exceeds ``margin`` and 0.0 otherwise. The labeler never outputs uncertain (-1.0)
or not mentioned (NaN), so every cell is a valid binary target. Nothing is sampled, so equal
inputs on one machine give equal labels.

NOTE: the default margin of 0 is no calibrated threshold. SmolLM2-135M favours "no" for almost
every question (about 1% positives on 40 Open-i reports), so set ``margin`` per model, for example
from the scores of a few gold-labeled reports.
"""

from __future__ import annotations

import logging
import os
from typing import Optional, Sequence

import numpy as np

from bench.labelers import LABELERS, NEGATIVE, POSITIVE

logger = logging.getLogger(__name__)

PROMPT_VERSION = "yes-no-1"
USER_TEMPLATE = "Radiology report: {report}\nQuestion: {question} Answer yes or no."
COMPLETION_SUFFIX = "\nAnswer:"
EMPTY_REPORT = "(no text)"
QUESTION_TEMPLATE = "Does the report state that the patient has {phrase}?"
# Questions that the plain template would phrase badly, keyed by lower-case label name.
QUESTIONS: dict[str, str] = {
    "no finding": "Does the report describe a normal chest with no abnormal finding?",
    "normal": "Does the report describe a normal chest with no abnormal finding?",
    "support devices": "Does the report mention a support device such as a tube, line, catheter or pacemaker?",
    "enlarged cardiomediastinum": "Does the report state that the cardiomediastinal silhouette is enlarged or the mediastinum widened?",
    "lung lesion": "Does the report state that the patient has a lung lesion such as a mass or nodule?",
    "pleural other": "Does the report state that the patient has a pleural abnormality other than effusion, such as pleural thickening?",
    "infiltration": "Does the report state that the patient has a lung infiltrate?",
    "mass": "Does the report state that the patient has a mass?",
    "nodule": "Does the report state that the patient has a nodule?",
    "fracture": "Does the report state that the patient has a fracture?",
    "lung opacity": "Does the report state that the patient has a lung opacity?",
    "pleural effusion": "Does the report state that the patient has a pleural effusion?",
    "effusion": "Does the report state that the patient has a pleural effusion?",
}
YES_WORDS = ("yes", " yes", "Yes", " Yes")
NO_WORDS = ("no", " no", "No", " No")


def question_for(label_name: str) -> str:
    """Return the yes/no question asked about one label."""
    phrase = " ".join(label_name.replace("_", " ").lower().split())
    return QUESTIONS.get(phrase, QUESTION_TEMPLATE.format(phrase=phrase))


def _first_token_ids(tokenizer, words: Sequence[str]) -> list[int]:
    ids = []
    for word in words:
        encoded = tokenizer.encode(word, add_special_tokens=False)
        if encoded and encoded[0] not in ids:
            ids.append(encoded[0])
    return ids


class LLMLabeler:
    """Label reports with a local causal language model by yes/no next-token scoring.

    Args:
        model: A name in ``bench.models.MODELS`` (for example ``"smollm2-135m"``) or a local
            Hugging Face checkpoint folder. Weights load offline on the first ``label`` call.
        margin: A label is positive when log p(yes) - log p(no) exceeds this many nats.
        batch_size: Prompts per forward pass.
        max_report_tokens: Report tokens kept in each prompt; the tail beyond them is cut, so the
            impression, which the adapters put first, stays.
        chat: Wrap the prompt in the tokenizer's chat template instead of ending it with
            "Answer:". On 30 Open-i reports SmolLM2-135M scored near chance either way, and the
            chat form took twice as long.
        progress: Show a tqdm progress bar over batches.
    """

    def __init__(
        self,
        model: str,
        *,
        margin: float = 0.0,
        batch_size: int = 16,
        max_report_tokens: int = 384,
        chat: bool = False,
        progress: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} is invalid; use 1 or more.")
        if max_report_tokens < 1:
            raise ValueError(f"max_report_tokens={max_report_tokens} is invalid; use 1 or more.")
        self.model = model
        self.name = f"llm:{model}"
        self.margin = float(margin)
        self.batch_size = batch_size
        self.max_report_tokens = max_report_tokens
        self.chat = chat
        self.progress = progress
        # The margin, the report budget and the prompt format change the labels as much as the prompt does.
        prompt_format = "chat" if chat else "plain"
        self.version = f"{PROMPT_VERSION}-{prompt_format}-margin{self.margin:g}-tokens{max_report_tokens}"
        self._model = None
        self._tokenizer = None
        self._yes_ids: list[int] = []
        self._no_ids: list[int] = []

    def load(self) -> None:
        """Load the tokenizer and the model offline, in eval mode; a second call does nothing."""
        if self._model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from bench.models import resolve_model

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        hf_logging.set_verbosity_error()
        spec = resolve_model(self.model)
        folder = spec.locate()
        extra = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}

        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **extra)
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, **extra)
        model.eval()
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if tokenizer.pad_token_id is None:
            raise ValueError(f"the tokenizer of {self.model!r} has neither a pad token nor an end-of-sequence token to pad with.")

        self._yes_ids = _first_token_ids(tokenizer, YES_WORDS)
        self._no_ids = _first_token_ids(tokenizer, NO_WORDS)
        if set(self._yes_ids) & set(self._no_ids):
            raise ValueError(f"the tokenizer of {self.model!r} starts 'yes' and 'no' with the same token, so they cannot be scored apart.")
        if self.chat and not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"the tokenizer of {self.model!r} has no chat template; use chat=False.")
        self._tokenizer = tokenizer
        self._model = model
        logger.info("loaded %s for labeling (%d yes and %d no token variants)", self.name, len(self._yes_ids), len(self._no_ids))

    def _report_text(self, text: str) -> str:
        """Return the report as the prompt shows it: one line, cut to ``max_report_tokens`` tokens."""
        report = " ".join(text.split())
        if not report:
            return EMPTY_REPORT
        ids = self._tokenizer.encode(report, add_special_tokens=False)
        if len(ids) <= self.max_report_tokens:
            return report
        return self._tokenizer.decode(ids[: self.max_report_tokens])

    def _prompt_ids(self, report: str, question: str) -> list[int]:
        """Return the token ids of the prompt for ``question`` about ``report``."""
        content = USER_TEMPLATE.format(report=report, question=question)
        if self.chat:
            messages = [{"role": "user", "content": content}]
            prompt = self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            prompt = content + COMPLETION_SUFFIX
        return self._tokenizer.encode(prompt, add_special_tokens=False)

    def scores(self, texts: list[str], label_names: tuple[str, ...]) -> np.ndarray:
        """Return log p(yes) - log p(no) as a float array of shape [len(texts), len(label_names)]."""
        import torch
        from tqdm.auto import tqdm

        self.load()
        questions = [question_for(name) for name in label_names]
        reports = [self._report_text(text) for text in texts]
        prompts = [
            (row, column, self._prompt_ids(report, question))
            for row, report in enumerate(reports)
            for column, question in enumerate(questions)
        ]
        # Sorting by length keeps padding small; the sort is stable, so the batches are reproducible.
        prompts.sort(key=lambda item: len(item[2]), reverse=True)

        scores = np.zeros((len(texts), len(label_names)), dtype=np.float64)
        batches = range(0, len(prompts), self.batch_size)
        with torch.inference_mode():
            for start in tqdm(batches, desc=f"labeling with {self.name}", unit="batch", disable=not self.progress):
                batch = prompts[start : start + self.batch_size]
                margins = self._score_batch([ids for _, _, ids in batch])
                for (row, column, _), margin in zip(batch, margins):
                    scores[row, column] = margin
        return scores

    def _score_batch(self, sequences: list[list[int]]) -> list[float]:
        import torch

        width = max(len(ids) for ids in sequences)
        pad = self._tokenizer.pad_token_id
        # Left padding puts every prompt's last token in the last column, where the next token is scored.
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in sequences], dtype=torch.long)
        attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in sequences], dtype=torch.long)
        # Positions count real tokens only, so a prompt scores the same whatever its batch's padding.
        position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)

        output = self._model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
            logits_to_keep=1,
        )
        log_probs = torch.log_softmax(output.logits[:, -1, :].float(), dim=-1)
        yes = torch.logsumexp(log_probs[:, self._yes_ids], dim=-1)
        no = torch.logsumexp(log_probs[:, self._no_ids], dim=-1)
        return (yes - no).tolist()

    def label(self, texts: list[str], label_names: tuple[str, ...]) -> np.ndarray:
        """Return 1.0 where the yes-minus-no score exceeds ``margin`` and 0.0 elsewhere."""
        scores = self.scores(texts, label_names)
        return np.where(scores > self.margin, POSITIVE, NEGATIVE)


def build_llm_labeler(model: Optional[str] = None, **options) -> LLMLabeler:
    """Build an ``LLMLabeler``; ``get_labeler("llm:<model>")`` calls this with ``model`` set."""
    if not model:
        raise ValueError("the llm labeler needs a model; use get_labeler('llm:<model>'), for example 'llm:smollm2-135m'.")
    return LLMLabeler(model, **options)


LABELERS.add("llm", build_llm_labeler)
