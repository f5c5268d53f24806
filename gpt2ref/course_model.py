"""The course's own model, and the model the chapters show: OpenAI's GPT-2 when it is here, else ours.

:func:`load_course_model` gives the character-level GPT that this course trains on tiny-shakespeare with
its own trainer (:func:`gpt2ref.train.train`, preset ``course-char``). It is trained once, a few minutes
on a laptop CPU, and cached under :func:`gpt2ref.cache.cache_dir` in a file named after its configuration
and :data:`CODE_VERSION`; later calls (every chapter, every later build) read that file. The file carries
a sha256 of its contents and is written atomically under a lock, so a kill mid-write, a damaged file or
two notebooks building it at once never give a half-trained model: a file that fails its check is
trained again.

:func:`book_model` is what the chapters call: OpenAI's GPT-2 (124M) if :mod:`gpt2ref.weights` finds or
downloads it, else the course model, behind one small interface (encode, decode, token strings).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gpt2ref.cache import atomic_write, cache_dir
from gpt2ref.char_tokenizer import CharTokenizer
from gpt2ref.model import GPT, GPTConfig
from gpt2ref.presets import TrainConfig, get_preset

COURSE_PRESET = "course-char"
# Raise when a change to the code changes what training this preset produces (the model, the trainer,
# the data split): every cached course model then trains again.
CODE_VERSION = 1
MAGIC = b"gpt2ref-course-model\n"
# Settings that change how a run is watched, not the weights it ends with: left out of the cache key.
UNKEYED_FIELDS = ("out_dir", "resume", "device", "progress", "log_interval", "checkpoint_interval",
                  "sample_tokens", "sample_prompt", "compile")


class CourseModelError(RuntimeError):
    """A cached course model that cannot be used (unreadable, damaged, or from other settings)."""


@dataclass
class CourseModel:
    """The trained character model with what the book reports about it."""

    model: GPT  # eval mode, on the CPU
    tokenizer: CharTokenizer
    config: GPTConfig
    val_loss: float  # final loss on the validation 10% of gpt2ref.data's split
    train_seconds: float  # wall-clock time of the training run that made it
    history: list[dict[str, float]]  # one dict (iter, train_loss, val_loss) per evaluation
    train_config: dict[str, Any]  # the TrainConfig it was trained with
    path: Path | None = field(default=None, repr=False)  # the cache file it was read from


def course_train_config(**overrides: object) -> TrainConfig:
    """The course model's training recipe (preset ``course-char``), optionally changed."""
    return get_preset(COURSE_PRESET, **overrides)


def cache_key(cfg: TrainConfig) -> str:
    """16 hex digits naming a course model: its training settings and the code version, hashed."""
    keyed = {k: v for k, v in cfg.to_dict().items() if k not in UNKEYED_FIELDS}
    blob = json.dumps({"code_version": CODE_VERSION, "train_config": keyed}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def course_model_path(cfg: TrainConfig | None = None) -> Path:
    """Where the course model trained under ``cfg`` (default: the preset) is cached."""
    cfg = course_train_config() if cfg is None else cfg
    return cache_dir() / "models" / f"{COURSE_PRESET}-{cache_key(cfg)}.pt"


# ----------------------------------------------------------------------------- the cache file


def encode_model_file(payload: dict[str, Any]) -> bytes:
    """The bytes of a cache file: MAGIC, the sha256 of the torch-saved payload, a newline, the payload."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    body = buf.getvalue()
    return MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def decode_model_file(path: Path) -> dict[str, Any]:
    """The payload of a cache file, after checking its header and hash; CourseModelError if it fails."""
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise CourseModelError(f"{path} is not a gpt2ref course-model file")
    digest, _, body = data[len(MAGIC):].partition(b"\n")
    if hashlib.sha256(body).hexdigest().encode() != digest:
        raise CourseModelError(f"{path} is damaged (its sha256 does not match): it will be trained again")
    try:
        return torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as exc:  # a file written by an incompatible torch, say
        raise CourseModelError(f"{path} cannot be read: {type(exc).__name__}: {exc}") from exc


def course_model_from_payload(payload: dict[str, Any], path: Path | None = None) -> CourseModel:
    """Rebuild the CourseModel stored in a cache file's payload."""
    config = GPTConfig(**payload["model_config"])
    model = GPT(config)
    model.load_state_dict(payload["model"])
    model.eval()
    return CourseModel(model=model, tokenizer=CharTokenizer(payload["chars"]), config=config,
                       val_loss=float(payload["val_loss"]), train_seconds=float(payload["train_seconds"]),
                       history=[dict(row) for row in payload["history"]],
                       train_config=dict(payload["train_config"]), path=path)


def read_course_model(path: Path, cfg: TrainConfig) -> CourseModel:
    """The course model cached at ``path`` for ``cfg``; CourseModelError if missing, damaged or not for ``cfg``."""
    if not path.is_file():
        raise CourseModelError(f"no course model at {path}")
    payload = decode_model_file(path)
    if payload.get("key") != cache_key(cfg) or payload.get("code_version") != CODE_VERSION:
        raise CourseModelError(f"{path} was trained with other settings")
    try:
        return course_model_from_payload(payload, path)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CourseModelError(f"{path} does not hold a complete course model: {exc}") from exc


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the block: one builder at a time.

    POSIX ``flock``: released by the OS if the holder dies. Where ``fcntl`` does not exist (Windows)
    there is no lock, and two builders may both train; the atomic write still keeps the file whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- training


def _evaluations(history: list[dict]) -> list[dict[str, float]]:
    """The rows of a training history that carry an evaluation, as (iter, train_loss, val_loss)."""
    return [{"iter": int(r["step"]), "train_loss": float(r["eval_train_loss"]), "val_loss": float(r["val_loss"])}
            for r in history if r.get("val_loss") is not None]


def train_course_model(cfg: TrainConfig, progress: bool = False) -> dict[str, Any]:
    """Train the course model with gpt2ref's trainer in a scratch folder; the payload of its cache file."""
    from gpt2ref.train import train

    with tempfile.TemporaryDirectory(prefix="gpt2ref-course-") as out_dir:
        start = time.perf_counter()
        result = train(cfg.replace(out_dir=out_dir, progress=progress, resume=False))
        seconds = time.perf_counter() - start
    if result.interrupted:
        raise KeyboardInterrupt(f"training the course model was stopped ({result.stop_signal}); nothing was cached")
    model = result.model.to("cpu")
    return {
        "format": "gpt2ref-course-model",
        "code_version": CODE_VERSION,
        "key": cache_key(cfg),
        "model": model.state_dict(),
        "model_config": dataclasses.asdict(model.config),
        "chars": result.tokenizer.meta["chars"],
        "val_loss": float(result.final_val_loss),
        "train_seconds": seconds,
        "history": _evaluations(result.history),
        "train_config": cfg.to_dict(),
        "torch_version": str(torch.__version__),
    }


def load_course_model(*, train: bool = True, progress: bool = False, **overrides: object) -> CourseModel:
    """The course's character model: read from the cache, or trained once (a few minutes) and cached.

    ``overrides`` change the ``course-char`` recipe (another cache file). With ``train=False`` a missing
    model is a CourseModelError instead of a training run. A damaged cache file is trained again.
    """
    cfg = course_train_config(**overrides)
    path = course_model_path(cfg)
    with contextlib.suppress(CourseModelError):
        return read_course_model(path, cfg)
    if not train:
        raise CourseModelError(f"the course model is not cached at {path}; call load_course_model() to train it")
    with file_lock(path.with_name(path.name + ".lock")):
        try:  # another process may have trained it while we waited for the lock
            return read_course_model(path, cfg)
        except CourseModelError as exc:
            if path.exists():
                warnings.warn(f"{exc}; training the course model again", stacklevel=2)
        payload = train_course_model(cfg, progress=progress)
        with atomic_write(path) as f:
            f.write(encode_model_file(payload))
    return read_course_model(path, cfg)


# ----------------------------------------------------------------------------- the model the book shows


@dataclass
class BookModel:
    """The model a chapter shows, with its tokenizer behind one interface (GPT-2's BPE or characters)."""

    model: GPT  # eval mode, on the CPU
    is_gpt2: bool  # OpenAI's GPT-2 (True) or the course's character model (False)
    name: str  # how the pages name it
    vocab_size: int
    _encode: Callable[[str], list[int]] = field(repr=False)
    _decode: Callable[[list[int]], str] = field(repr=False)
    _token_string: Callable[[int], str] = field(repr=False)
    course: CourseModel | None = field(default=None, repr=False)  # set when it is the course model

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        return self._encode(text)

    def decode(self, ids: list[int]) -> str:
        """The text of token ids."""
        return self._decode(list(ids))

    def token_strings(self, ids: list[int]) -> list[str]:
        """Each id as the text it stands for (for labels; a partial UTF-8 character shows as U+FFFD)."""
        return [self._token_string(int(i)) for i in ids]

    @property
    def description(self) -> str:
        """One phrase saying which model this is, for the sentence of a page that names its model."""
        n = self.model.num_parameters()
        if self.is_gpt2:
            return f"{self.name}, {n / 1e6:.0f}M parameters, with the weights OpenAI released"
        c = self.course
        assert c is not None
        return (f"{self.name} ({n:,} parameters, validation loss {c.val_loss:.2f} nats per character), "
                f"which gpt2ref's trainer trained on Shakespeare ({c.train_seconds / 60:.1f} minutes on the "
                "machine that first built it); GPT-2's own weights were not found on this machine")

    @torch.no_grad()
    def next_token_table(self, text: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` most likely next tokens after ``text``, as (token text, probability), most likely first."""
        ids = self.encode(text)[-self.model.config.block_size :]
        logits, _ = self.model(torch.tensor([ids]), last_only=True)  # (1, 1, V)
        top = torch.softmax(logits[0, -1].float(), dim=-1).topk(k)
        return list(zip(self.token_strings(top.indices.tolist()), top.values.tolist(), strict=True))


GPT2_NAME = "OpenAI's GPT-2 (124M)"
COURSE_NAME = "the course's character model"


def gpt2_book_model(model: GPT) -> BookModel:
    """Wrap OpenAI's GPT-2 with GPT-2's tokenizer (offline files, see gpt2ref.gpt2_files)."""
    from gpt2ref.gpt2_files import get_gpt2_encoding

    enc = get_gpt2_encoding()
    return BookModel(model=model.eval(), is_gpt2=True, name=GPT2_NAME, vocab_size=model.config.vocab_size,
                     _encode=enc.encode_ordinary, _decode=enc.decode,
                     _token_string=lambda i: enc.decode_single_token_bytes(i).decode("utf-8", errors="replace"))


def course_book_model(course: CourseModel) -> BookModel:
    """Wrap the course model with its character tokenizer."""
    tok = course.tokenizer
    return BookModel(model=course.model, is_gpt2=False, name=COURSE_NAME, vocab_size=tok.vocab_size,
                     _encode=tok.encode, _decode=tok.decode, _token_string=lambda i: tok.itos[i], course=course)


def book_model(*, download: bool | None = None) -> BookModel:
    """OpenAI's GPT-2 (124M) when its weights are available, else the course model.

    ``download`` (default: on unless ``$GPT2REF_NO_DOWNLOAD`` is set) lets :func:`gpt2ref.weights.load_gpt2`
    fetch GPT-2 from the Hugging Face hub when it is not on this machine; it never waits long for a
    network that is not there, and ``HF_HUB_OFFLINE=1`` turns it off.
    """
    from gpt2ref.weights import load_gpt2

    if download is None:
        download = not os.environ.get("GPT2REF_NO_DOWNLOAD")
    with warnings.catch_warnings():  # no GPT-2: the pages say which model they show, not why
        warnings.simplefilter("ignore", UserWarning)
        gpt2 = load_gpt2(download=download, required=False)
    if gpt2 is not None:
        return gpt2_book_model(gpt2)
    return course_book_model(load_course_model())


def excerpts(course: CourseModel, prompt: str = "\n", n_chars: int = 300, seed: int = 0) -> tuple[str, str]:
    """A greedy and a sampled continuation of ``prompt`` (``n_chars`` characters each) by the course model."""
    from gpt2ref.sampling import generate

    idx = torch.tensor([course.tokenizer.encode(prompt)])  # (1, T)
    greedy = generate(course.model, idx, n_chars, greedy=True)
    sampled = generate(course.model, idx, n_chars, temperature=0.8, generator=torch.Generator().manual_seed(seed))
    return tuple(course.tokenizer.decode(out[0, idx.size(1):].tolist()) for out in (greedy, sampled))


def main() -> None:
    """``python -m gpt2ref.course_model``: train (or read) the course model and say what it is."""
    course = load_course_model(progress=True)
    print(f"course model: {course.model.num_parameters():,} parameters, validation loss {course.val_loss:.4f}, "
          f"trained in {course.train_seconds:.0f} s, cached at {course.path}")
    greedy, sampled = excerpts(course)
    print(f"--- greedy ---\n{greedy}\n--- sampled (temperature 0.8) ---\n{sampled}")


if __name__ == "__main__":
    main()
