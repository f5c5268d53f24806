"""The jail of a student's kernel while it is graded: bubblewrap (``bwrap``) around ``ipykernel``.

Inside, the kernel sees the whole file system read-only, except that the course folder, the grader's
scratch folders, ``/tmp`` and the instructor's home are empty, and its own assignment folder is a private,
writable copy thrown away afterwards. The Python installation and the ``gpt2ref`` package (without the
rest of the repository: no ``solutions/``) stay readable. There is no network (the kernel talks to
nbgrader over ZMQ ``ipc`` sockets in a folder shared for that), it runs as an unprivileged user when
grading runs as root, and it has limits on memory, processes, CPU time and wall time. It runs in its own
PID namespace: when the kernel exits, every process it started is killed.

nbgrader starts the kernel through the kernel spec written by :func:`write_kernel_spec`, whose command is
``python -m gpt2ref.course.sandbox -f CONNECTION_FILE``; the jail's settings come from the environment
variable ``GPT2REF_SANDBOX`` (JSON of :class:`SandboxConfig`).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

KERNEL_NAME = "gpt2ref-sandbox"
ENV_VAR = "GPT2REF_SANDBOX"
MISSING = ("grading needs bubblewrap (bwrap) to sandbox the students' kernels: install it "
           "(apt-get install bubblewrap), or pass --unsandboxed to grade without a sandbox at your own risk")


@dataclass
class Limits:
    """What one student's kernel may use (documented for instructors in the README)."""

    memory_mb: int = 4096      # address space of each process (RLIMIT_AS): a memory bomb gets MemoryError
    processes: int = 256       # tasks (processes and threads) of the sandbox's user (RLIMIT_NPROC)
    cpu_seconds: int = 900     # CPU time of each process (RLIMIT_CPU)
    wall_seconds: int = 1200   # the whole kernel's life, then it is killed
    file_mb: int = 512         # largest file it may write (RLIMIT_FSIZE)


@dataclass
class SandboxConfig:
    """Where the kernel may look and what it may use."""

    hide: list[str]                    # folders shown empty (course, scratch, home, /tmp)
    keep: list[str]                    # folders shown read-only even inside a hidden one (Python, gpt2ref)
    runtime: str                       # the folder of the connection file and ZMQ sockets (read-write)
    limits: Limits = field(default_factory=Limits)
    uid: int | None = None             # run as this user id (only when grading runs as root)

    def to_env(self) -> str:
        """The JSON put in ``GPT2REF_SANDBOX``."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> SandboxConfig:
        data = json.loads(text)
        return cls(**{**data, "limits": Limits(**data["limits"])})


def bwrap_available() -> bool:
    """True when ``bwrap`` is installed and can build a jail on this machine."""
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-pid", "--unshare-net",
                            "true"], capture_output=True)
    return probe.returncode == 0


def python_folders() -> list[str]:
    """Folders the kernel must read: this interpreter, its installation, the venv, the ``gpt2ref`` package."""
    import gpt2ref

    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(sys.executable).parent),
               str(Path(gpt2ref.__file__).parent)}
    return sorted({str(Path(f).resolve()) for f in folders if Path(f).is_dir()})


def package_repository() -> list[str]:
    """The folder holding the ``gpt2ref`` package when it is a source checkout (an editable install): it
    holds ``solutions/``, so it is hidden, and only the package itself is shown (see python_folders)."""
    import gpt2ref

    folder = Path(gpt2ref.__file__).resolve().parent.parent
    installs = [Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)]
    return [] if any(folder.is_relative_to(p) for p in installs) else [str(folder)]


def kernel_python() -> str:
    """This interpreter by a path with no symbolic link in its folders (a hidden folder may hold one)."""
    return str(Path(sys.executable).parent.resolve() / Path(sys.executable).name)


def write_kernel_spec(folder: Path) -> Path:
    """A Jupyter data folder (for ``JUPYTER_PATH``) holding the sandboxed kernel's spec."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "gpt2ref.course.sandbox", "-f", "{connection_file}"],
        "display_name": "Python 3 (gpt2ref grading sandbox)",
        "language": "python",
        "interrupt_mode": "message",  # a signal would stop at the jail's walls; the kernel interrupts itself
    }), encoding="utf-8")
    return folder


def bwrap_argv(config: SandboxConfig, work: Path, private: Path) -> list[str]:
    """The ``bwrap`` options: ``work`` (the kernel's folder) is shown as the private copy ``private``."""
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--perms", "1777", "--tmpfs", "/tmp"]
    for folder in config.hide:
        if Path(folder).is_dir() and folder != "/tmp":
            argv += ["--tmpfs", folder]
    for folder in config.keep:
        argv += ["--ro-bind", folder, folder]
    argv += ["--bind", config.runtime, config.runtime, "--bind", str(private), str(work), "--chdir", str(work),
             "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
             "--new-session", "--setenv", "HOME", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
             "--setenv", "IPYTHONDIR", "/tmp/ipython", "--setenv", "GPT2REF_SANDBOXED", "1", "--unsetenv", ENV_VAR,
             "--unsetenv", "JPY_PARENT_PID"]  # its parent is hidden by the PID namespace
    if config.uid is not None:
        argv += ["setpriv", f"--reuid={config.uid}", f"--regid={config.uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all"]
    return argv


def _set_limits(limits: Limits, own_user: bool) -> None:
    """Resource limits inherited by the jail. The process limit counts every task of a user, so it is set
    only when the kernel runs as a user of its own (grading as root)."""
    mb = 1024 * 1024
    kinds = [(resource.RLIMIT_AS, limits.memory_mb * mb), (resource.RLIMIT_CPU, limits.cpu_seconds),
             (resource.RLIMIT_FSIZE, limits.file_mb * mb), (resource.RLIMIT_CORE, 0)]
    if own_user:
        kinds.append((resource.RLIMIT_NPROC, limits.processes))
    for kind, value in kinds:
        resource.setrlimit(kind, (value, value))


def _private_copy(work: Path, config: SandboxConfig) -> Path:
    """A copy of the kernel's folder that it may change at will (thrown away with the runtime folder)."""
    private = Path(tempfile.mkdtemp(prefix="work-", dir=config.runtime))
    shutil.copytree(work, private, dirs_exist_ok=True, symlinks=True)
    if config.uid is not None:
        for path in [private, *private.rglob("*")]:
            os.lchown(path, config.uid, config.uid)
    return private


def launch(argv: list[str]) -> None:
    """Kernel-spec entry point: ``-f CONNECTION_FILE [kernel options]``; replaces this process."""
    config = SandboxConfig.from_env(os.environ[ENV_VAR])
    work = Path.cwd()
    private = _private_copy(work, config)
    # The connection file may lie in a hidden folder (/tmp): the kernel reads a copy in the runtime folder.
    where = argv.index("-f") + 1
    connection_file = Path(config.runtime) / Path(argv[where]).name
    if connection_file != Path(argv[where]):
        shutil.copyfile(argv[where], connection_file)
    argv = [*argv[:where], str(connection_file), *argv[where + 1:]]
    if config.uid is not None:  # the kernel's user must read the connection file and make its sockets
        connection_file.chmod(0o644)
        Path(config.runtime).chmod(0o777)
    kernel = [kernel_python(), "-m", "ipykernel_launcher", *argv]
    command = ["timeout", "--signal=KILL", str(config.limits.wall_seconds),
               *bwrap_argv(config, work, private), *kernel]
    _set_limits(config.limits, own_user=config.uid is not None)
    os.execvp(command[0], command)


if __name__ == "__main__":
    launch(sys.argv[1:])
