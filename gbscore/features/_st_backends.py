"""Inference backends of the sentence encoder: runtime choice, exported models, threads.

:func:`resolve_runtime` turns the encoder's ``device``, ``backend`` and ``precision``
(``"auto"`` included) into a :class:`Runtime`; :func:`ensure_exported` makes the ONNX or
OpenVINO copy of a model once, in :func:`default_export_dir`; :func:`encoder_threads` is
the one place that decides how many threads the encoder uses.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

from .._device import resolve_device
from .._optional import import_optional
from ..exceptions import ConfigError, EncoderUnavailableError, MissingDependencyError
from ._memory import cached_fingerprint
from ._shards import default_cache_dir
from ._st_model import load_sentence_transformer, weights_fingerprint

__all__ = [
    "Runtime",
    "backend_kwargs",
    "default_export_dir",
    "encoder_threads",
    "ensure_exported",
    "resolve_runtime",
    "torch_threads",
    "faster_backend_hint",
]

logger = logging.getLogger("gbscore")


#: What ``backend="auto"`` tries on a CPU, fastest first; on a GPU it is always ``"torch"``.
#: Measured with ``benchmarks/bench_featurize.py --backends`` (300 judgebench-dev texts,
#: MiniLM, 2 AVX2 cores), tokens per CPU-second relative to torch fp32: ONNX int8 1.54x
#: (mean cosine to torch 0.992), OpenVINO fp32 1.36x (1.000), ONNX fp32 1.24x (1.000).
_AUTO_CPU_BACKENDS = ("onnx", "openvino", "torch")
_BACKEND_PACKAGES = {
    "onnx": (("onnxruntime", "optimum.onnxruntime"), 'pip install "gbscore[fast]"'),
    "openvino": (("openvino", "optimum.intel.openvino"), 'pip install "gbscore[openvino]"'),
}


def _backend_problem(backend):
    """Return why ``backend`` cannot run here, or None when it can (probed once per process).

    A package that is installed but fails to import (e.g. built for another
    ``transformers``) counts as missing: the import error is the reason.
    """
    if backend == "torch":
        return None
    modules, _ = _BACKEND_PACKAGES[backend]

    def probe():
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001 - a broken install is as unusable as none
                return f"importing {module} failed ({type(exc).__name__}: {exc})"
        return ""

    return cached_fingerprint(("backend-probe", backend), probe) or None


def faster_backend_hint(device="auto", backend="auto"):
    """Return a line telling how to encode faster, when ``backend="auto"`` runs torch on the
    CPU only because no faster backend is installed; None otherwise (never raises)."""
    if backend != "auto" or any(_backend_problem(b) is None for b in ("onnx", "openvino")):
        return None
    try:
        device = resolve_device(device, library="torch", mps=True, caller="the encoder")
    except Exception:  # noqa: BLE001 - a hint must not turn into an error of its own
        return None
    if device != "cpu":
        return None
    # Figures: benchmarks/bench_run.py on judgebench-dev, one install after the other, with
    # the four-base default (README, "Encoder speed").
    return (
        'the encoder ran torch fp32 on the CPU; after pip install "gbscore[fast]", '
        'backend="auto" uses ONNX Runtime int8 (a cold gbscore run on judgebench-dev took '
        "234 s instead of 562 s on 2 AVX-512 cores, 419 s instead of 711 s on 2 AVX2 cores, "
        "for a test RMSE of 1.823 instead of 1.832)"
    )


def _missing_backend_error(backend, problem):
    _, hint = _BACKEND_PACKAGES[backend]
    return MissingDependencyError(
        f"SentenceTransformerEncoder(backend={backend!r}) cannot run here: {problem}. "
        f"Install what it needs with: {hint} -- or use backend='torch', or backend='auto' "
        "(the fastest backend installed, torch when no other is). A saved model keeps the "
        "backend it was fitted with: install it where the model predicts, or retrain."
    )


def _int8_config_name():
    """Return the optimum dynamic-quantization preset that suits this CPU.

    The presets differ in how weights and activations are scaled, which changes the vectors
    slightly, so the name enters the encoder's identity (and the cache key).
    """

    def detect():
        machine = platform.machine().lower()
        if machine in ("arm64", "aarch64"):
            return "arm64"
        flags = set()
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith("flags"):
                        flags = set(line.split(":", 1)[1].split())
                        break
        except OSError:
            pass
        if "avx512_vnni" in flags:
            return "avx512_vnni"
        if "avx512f" in flags and "avx512bw" in flags:
            return "avx512"
        # AVX2 is what every x86-64 CPU of the last decade has; ONNX Runtime also runs this
        # preset's model on older CPUs, only slower.
        return "avx2"

    return cached_fingerprint(("int8-config",), detect)


def default_export_dir():
    """Return the folder where exported (ONNX, OpenVINO) models are kept.

    ``models/`` beside the embedding cache: ``$GBSCORE_CACHE_DIR/../models`` when
    ``$GBSCORE_CACHE_DIR`` is set, else ``~/.cache/gbscore/models``.  One export per model
    (by weights fingerprint) is made there, once, and reused by every later run.

    Returns
    -------
    directory : Path
    """
    return default_cache_dir().parent / "models"


def encoder_threads():
    """Return how many threads the sentence encoder uses: the one place that decides it.

    1. ``$GBSCORE_ENCODER_THREADS`` when set (a whole number >= 1);
    2. else ``$OMP_NUM_THREADS`` when set: joblib's process workers (parallel CV folds) get
       ``cores // n_jobs`` there, so parallel folds do not oversubscribe the cores;
    3. else every core this process may run on (all cores when the encoder runs alone).

    The count is applied per forward pass for torch (``torch.set_num_threads``, restored
    afterwards) and at session creation for ONNX Runtime (``intra_op_num_threads``) and
    OpenVINO (``INFERENCE_NUM_THREADS``).

    Returns
    -------
    threads : int
    """
    raw = os.environ.get("GBSCORE_ENCODER_THREADS", "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(
                f"GBSCORE_ENCODER_THREADS={raw!r} is not a whole number >= 1; set it to the "
                "number of threads the text encoder may use, or unset it to use every core."
            )
        return int(raw)
    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(torch, threads):
    before = torch.get_num_threads()
    if before != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if before != threads:
            torch.set_num_threads(before)


@contextlib.contextmanager
def _quiet_logger(name):
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _errors_only(record):
    return record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet_root_records():
    """Drop records below ERROR logged on the root logger itself, as ``logging.info()`` does.

    A filter on a logger sees only the records logged through it, not those its children
    pass up, so gbscore's own messages and other threads' still get through.
    """
    root = logging.getLogger()
    root.addFilter(_errors_only)
    try:
        yield
    finally:
        root.removeFilter(_errors_only)


def _export_folder(root, name, folder, backend):
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.rsplit("/", 1)[-1]).strip("-.") or "model"
    return Path(root) / f"{slug}-{weights_fingerprint(folder)[:16]}-{backend}"


def _move_into_place(source, target):
    """Rename ``source`` to ``target``; if another process got there first, keep theirs."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target) if source.is_file() else os.rename(source, target)
    except OSError:
        if not target.exists():
            raise
        shutil.rmtree(source, ignore_errors=True)


def _int8_config(preset, onnx_file):
    """Return optimum's dynamic int8 config: ``preset``, weight matmuls only.

    The stock presets also quantize the two activation-by-activation matmuls of each
    attention layer (scores and context) and the embedding lookups.  On judgebench-dev
    texts that cost agreement with torch fp32 (MiniLM, avx2 preset, 197 texts: mean cosine
    0.9865, 1st percentile 0.965) for little speed; quantizing only the matmuls with a
    weight operand gave mean 0.9916, 1st percentile 0.983 at the same speed.
    """
    onnx = import_optional("onnx", purpose="int8 quantization of the ONNX model")
    configuration = import_optional(
        "optimum.onnxruntime.configuration", purpose="int8 quantization of the ONNX model"
    )
    graph = onnx.load(str(onnx_file), load_external_data=False).graph
    constants = {i.name for i in graph.initializer}
    constants.update(o for n in graph.node if n.op_type == "Constant" for o in n.output)
    activation_only = [
        n.name for n in graph.node if n.op_type == "MatMul" and not constants.intersection(n.input)
    ]
    return getattr(configuration.AutoQuantizationConfig, preset)(
        is_static=False, operators_to_quantize=["MatMul"], nodes_to_exclude=activation_only
    )


def ensure_exported(st, folder, name, root, backend, quantization):
    """Return the folder holding ``folder``'s model exported to ``backend``, exporting once.

    The export goes through sentence-transformers (``backend=`` loading, which calls
    optimum's exporter on the local files, and
    ``sentence_transformers.backend.export_dynamic_quantized_onnx_model`` for int8).  Each
    step is built in a temporary sibling and renamed into place, so a crashed or concurrent
    run never leaves a half-written model that a later run would load.
    """
    target = _export_folder(root, name, folder, backend)
    main_file = target / ("onnx/model.onnx" if backend == "onnx" else "openvino/openvino_model.xml")
    root = Path(root)
    if not main_file.is_file():
        root.mkdir(parents=True, exist_ok=True)
        logger.info("Exporting %s to %s once, into %s.", name, backend, target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=root))
        try:
            with _quiet_logger("sentence_transformers.backend"):
                # Its advice to save the export points at the source folder; we save it here.
                load_sentence_transformer(st, folder, device="cpu", backend=backend).save(str(tmp))
            if not main_file.is_file():
                if target.exists():  # left by a run killed mid-way: no main file in it
                    shutil.rmtree(target, ignore_errors=True)
                _move_into_place(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if quantization is not None:
        quantized = target / "onnx" / f"model_{quantization}.onnx"
        if not quantized.is_file():
            preset = quantization.removeprefix("int8w_")
            logger.info("Quantizing %s to int8 (%s preset) once, into %s.", name, preset, quantized)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=root))
            try:
                fp32 = load_sentence_transformer(
                    st,
                    target,
                    device="cpu",
                    backend="onnx",
                    model_kwargs={"file_name": "onnx/model.onnx"},
                )
                # ONNX Runtime's quantizer logs a line per tensor on the root logger, which
                # `gbscore` commands print at INFO: 25 lines of noise on a first run.
                with _quiet_root_records():
                    st.backend.export_dynamic_quantized_onnx_model(
                        fp32, _int8_config(preset, main_file), str(tmp), file_suffix=quantization
                    )
                _move_into_place(tmp / "onnx" / quantized.name, quantized)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return target


class Runtime(NamedTuple):
    """How an encoder runs, after ``"auto"`` choices: part of its identity."""

    device: str
    backend: str
    #: ``None`` for fp32, else the int8 file suffix, e.g. ``"int8w_avx2"``.
    quantization: str | None


def resolve_runtime(device, backend, precision, *, caller):
    """Return how an encoder with these parameters runs here, after ``"auto"`` choices.

    Resolves the device without loading a model, and checks that an explicit backend can
    run (its packages import) and that int8 is asked for only where it exists (ONNX on a
    CPU).  ``caller`` names the estimator in error messages.

    Returns
    -------
    runtime : Runtime
    """
    import_optional("torch", purpose="The sentence-transformers encoder")
    requested = device
    device = resolve_device(requested, library="torch", mps=True, caller=caller)
    if backend == "auto":
        candidates = _AUTO_CPU_BACKENDS if device == "cpu" else ("torch",)
        backend = next(b for b in candidates if _backend_problem(b) is None)
    else:
        problem = _backend_problem(backend)
        if problem is not None:
            raise _missing_backend_error(backend, problem)
        if backend != "torch":
            if requested == "auto":
                device = "cpu"
            elif device != "cpu":
                raise EncoderUnavailableError(
                    f"backend={backend!r} runs on the CPU in gbscore, not on "
                    f"device={device!r}; use backend='torch' (or 'auto') on a GPU."
                )
    if precision == "auto":
        precision = "int8" if backend == "onnx" and device == "cpu" else "fp32"
    elif precision == "int8" and not (backend == "onnx" and device == "cpu"):
        raise ValueError(
            f"The 'precision' parameter of {caller} is 'int8', which needs "
            f"backend='onnx' on device='cpu' (dynamic int8 quantization runs on the CPU); "
            f"got backend={backend!r} on {device!r}. Use precision='fp32' or 'auto'."
        )
    quantization = f"int8w_{_int8_config_name()}" if precision == "int8" else None
    return Runtime(device, backend, quantization)


def backend_kwargs(runtime, threads):
    """Return the ``model_kwargs`` that load an exported model for ``runtime`` on ``threads``."""
    if runtime.backend == "openvino":
        return {
            "file_name": "openvino/openvino_model.xml",
            "ov_config": {"INFERENCE_NUM_THREADS": threads},
        }
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    # One forward pass at a time: the inter-op pool would only add idle threads.
    options.inter_op_num_threads = 1
    suffix = f"_{runtime.quantization}" if runtime.quantization else ""
    return {
        "provider": "CPUExecutionProvider",
        "session_options": options,
        "file_name": f"onnx/model{suffix}.onnx",
    }
