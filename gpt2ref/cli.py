"""Plumbing: the ``gpt2ref`` command: train a preset, sample from a checkpoint, list the presets.

    python -m gpt2ref presets
    python -m gpt2ref train --preset shakespeare-char-cpu --max-iters 500 --out-dir out/char
    python -m gpt2ref sample --checkpoint out/char --prompt "ROMEO:" --max-new-tokens 300
    torchrun --nproc_per_node=4 -m gpt2ref train --preset shakespeare-char   # one process per GPU

Every TrainConfig field is an option (``--max-iters``, ``--learning-rate``, ``--compile`` /
``--no-compile``, ...). Mistakes end with one line on stderr and exit status 1 (2 for bad options).
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
import typing
from dataclasses import fields

from gpt2ref.presets import PRESETS, TrainConfig

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class CliError(Exception):
    """A problem to report in one line, without a traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in a single line (plus where to get help)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _field_comments() -> dict[str, str]:
    """The trailing ``# comment`` of each TrainConfig field, used as its --help text."""
    try:
        source = inspect.getsource(TrainConfig)
    except (OSError, TypeError):
        return {}
    return dict(re.findall(r"^\s+(\w+): [^=\n]+=[^#\n]+#\s*(.+)$", source, flags=re.MULTILINE))


def _optional_int(text: str) -> int | None:
    """argparse type for ``int | None`` fields: an integer, or "none"."""
    return None if text.lower() == "none" else int(text)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field; an option not given leaves no attribute, so the preset's value stays."""
    absent = argparse.SUPPRESS
    hints = typing.get_type_hints(TrainConfig)
    comments = _field_comments()
    group = parser.add_argument_group("training settings (override the preset's values)")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        help_text = comments.get(f.name, "") or f.name.replace("_", " ")
        hint = hints[f.name]
        if hint is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=absent,
                               help=help_text)
        elif hint in (int, float, str):
            group.add_argument(flag, dest=f.name, type=hint, default=absent, metavar=hint.__name__.upper(),
                               help=help_text)
        elif hint == (int | None):
            group.add_argument(flag, dest=f.name, type=_optional_int, default=absent, metavar="INT|none",
                               help=help_text)
        else:  # pragma: no cover - a new field type needs a parser here
            raise TypeError(f"TrainConfig.{f.name} has type {hint}, which the CLI cannot parse")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gpt2ref`` command and its subcommands."""
    parser = _Parser(prog="gpt2ref", description="Train GPT-2-style models on Shakespeare and sample from them.",
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="Examples:\n  gpt2ref presets\n  gpt2ref train --preset smoke --out-dir out/smoke\n"
                            "  gpt2ref sample --checkpoint out/smoke --prompt ROMEO:")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    presets = sub.add_parser("presets", help="list the training presets, or show every setting of one")
    presets.add_argument("name", nargs="?", help="a preset whose settings to show")

    train = sub.add_parser("train", help="train (or resume) a model; run under torchrun for several GPUs",
                           description="Train a preset; any setting can be overridden. Ctrl-C saves a "
                                       "checkpoint; --resume continues from it.")
    train.add_argument("--preset", required=True, metavar="NAME", help=f"one of: {', '.join(PRESETS)}")
    add_config_options(train)

    sample = sub.add_parser("sample", help="generate text from a trained checkpoint",
                            description="Continue a prompt with a model saved by 'gpt2ref train'.")
    sample.add_argument("--checkpoint", required=True, metavar="PATH", help="a ckpt.pt file or the run's --out-dir")
    sample.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    sample.add_argument("--max-new-tokens", type=int, default=500, metavar="N", help="tokens to generate (500)")
    sample.add_argument("--temperature", type=float, default=0.8, help="below 1: safer, above 1: wilder (0.8)")
    sample.add_argument("--top-k", type=_optional_int, default=200, metavar="K|none",
                        help="sample only among the K likeliest tokens (200)")
    sample.add_argument("--top-p", type=float, default=None, metavar="P",
                        help="sample only among the likeliest tokens holding probability P (off)")
    sample.add_argument("--num-samples", type=int, default=1, metavar="N", help="how many continuations (1)")
    sample.add_argument("--seed", type=int, default=1337, help="random seed, for reproducible samples (1337)")
    sample.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (auto)")
    return parser


def cmd_presets(name: str | None = None) -> int:
    """Print a table of the presets, or every setting of preset ``name``."""
    if name is not None:
        from gpt2ref.presets import get_preset

        for key, value in get_preset(name).to_dict().items():
            print(f"{key:28} {value!r}")
        return 0
    print(f"{'preset':22} {'tokens':6} {'init':8} {'model (L x H x C, T)':22} {'batch':>10} {'iters':>6} {'lr':>14}")
    for preset, c in PRESETS.items():
        shape = f"{c.n_layer} x {c.n_head} x {c.n_embd}, {c.block_size}"
        batch = f"{c.batch_size} x {c.gradient_accumulation_steps}"
        lr = f"{c.learning_rate:g}" + (f"->{c.min_lr:g}" if c.decay_lr else "")
        print(f"{preset:22} {c.tokenizer:6} {c.init:8} {shape:22} {batch:>10} {c.max_iters:>6} {lr:>14}")
    print("\nbatch = micro-batch x accumulation steps, per process. All settings of one: gpt2ref presets NAME")
    return 0


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The preset named by ``--preset`` with the options given on the command line applied (validated)."""
    from gpt2ref.presets import get_preset

    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    return get_preset(args.preset, **overrides)


def cmd_train(args: argparse.Namespace) -> int:
    """Build the config from the preset and the overrides, train, and report."""
    cfg = train_config(args)  # bad values fail here, before torch is imported
    from gpt2ref.train import DistInfo, train

    result = train(cfg)
    if not DistInfo.from_env().is_master:
        return EXIT_INTERRUPTED if result.interrupted else 0
    if result.interrupted:
        print(f"stopped by {result.stop_signal} after step {result.step}; checkpoint: {result.checkpoint_path}\n"
              f"continue with: gpt2ref train --preset {args.preset} --out-dir {cfg.out_dir} --resume "
              "(and the same overrides)", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"done: {result.step} steps, train loss {result.final_train_loss:.4f}, val loss {result.final_val_loss:.4f}")
    print(f"checkpoint {result.checkpoint_path}, log {result.log_path}, plot {result.plot_path}")
    if result.sample:
        print("--- sample ---")
        print(result.sample)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """Load a checkpoint and print continuations of the prompt."""
    from gpt2ref.checkpoint import checkpoint_file, load_checkpoint, model_from_checkpoint
    from gpt2ref.data import tokenizer_from_meta
    from gpt2ref.device import pick_device
    from gpt2ref.sampling import sample_text

    if args.max_new_tokens < 0 or args.num_samples < 1:
        raise CliError("--max-new-tokens must be >= 0 and --num-samples >= 1")
    ckpt = load_checkpoint(checkpoint_file(args.checkpoint))
    device = pick_device(args.device)
    model = model_from_checkpoint(ckpt).to(device).eval()
    tok = tokenizer_from_meta(ckpt["data"]["tokenizer"])
    for i in range(args.num_samples):
        if i:
            print("\n---------------")
        print(sample_text(model, tok, args.prompt, args.max_new_tokens, device, seed=args.seed + i,
                          temperature=args.temperature, top_k=args.top_k, top_p=args.top_p))
    return 0


def is_user_error(exc: BaseException) -> bool:
    """True for errors that are the user's to fix: reported in one line, without a traceback."""
    if isinstance(exc, (CliError, ValueError, FileNotFoundError)):
        return True
    # Only modules already imported can have raised their errors: no need to import torch to check.
    for module, name in (("gpt2ref.checkpoint", "CheckpointError"), ("gpt2ref.shakespeare", "DataFileError"),
                         ("gpt2ref.train", "PretrainedWeightsError")):
        if module in sys.modules and isinstance(exc, getattr(sys.modules[module], name)):
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``gpt2ref`` / ``python -m gpt2ref``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "presets":
            return cmd_presets(args.name)
        if args.command == "train":
            return cmd_train(args)
        return cmd_sample(args)
    except KeyboardInterrupt:
        print("gpt2ref: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into a reader that stopped early, e.g. `gpt2ref presets | head -2`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return EXIT_ERROR
    except Exception as exc:
        if not is_user_error(exc):
            raise
        message = " ".join(str(exc).split("\n"))  # one line, even for multi-line explanations
        print(f"gpt2ref {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR
