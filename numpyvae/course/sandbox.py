"""The sandbox a runner (numpyvae.course.runner) executes in: bubblewrap and resource limits.

`run(job, limits)` runs the runner on the job folder `job` and returns its reply (the bytes it
wrote to stdout, read up to `limits.reply`) and the start of its log (stderr, read up to
`limits.log`, the rest drained and dropped). Under bubblewrap (`bwrap`) the runner sees:

- read-only: /usr (without /usr/local and the system's Python packages), the interpreter's
  own prefix (without its site-packages), NumPy alone at /opt/site, the runner script, and the
  job folder (the submission's cells and the input arrays, copies made by the judge);
- a private /tmp of 16 MiB and a private /proc; no network (a namespace of its own, no
  interface up), no other process (its own PID namespace), a cleared environment;
- limits: address space, CPU time, processes, file size, open files (setrlimit), and the wall
  clock, which the judge enforces by killing bwrap: the sandbox's PID 1 dies with it
  (--die-with-parent), and every process inside with that PID 1;
- a seccomp filter (numpyvae.course.seccomp) refusing new namespaces, mounts, ptrace and the
  kernel's other paths that a gradient never needs.

The judge's Python started as root runs bwrap without a user namespace, and the runner drops to
the user `nobody` before the student's first line: RLIMIT_NPROC does not bind root. Started by
another user, bwrap makes a user namespace and the process limit counts that user's processes.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

RUNNER = Path(__file__).with_name("runner.py")
NOBODY = 65534
SITE = "/opt/site"  # where NumPy is seen inside the sandbox


@dataclass(frozen=True)
class Limits:
    """What one runner may use: seconds of wall clock and CPU, bytes, processes, files."""

    wall: float = 120.0
    memory: int = 1024**3  # address space of each process, bytes
    processes: int = 4  # at worst, memory x processes x runners at once is in use
    file_size: int = 16 * 1024**2
    open_files: int = 64
    reply: int = 64 * 1024**2  # bytes of reply read before the runner is killed
    log: int = 64 * 1024  # bytes of its stderr kept


@dataclass(frozen=True)
class Outcome:
    """How a runner ended: its reply, the start of its log, and why it stopped."""

    reply: bytes
    log: str
    returncode: int | None
    timed_out: bool
    overflow: bool  # the reply passed Limits.reply and the runner was killed
    seconds: float


def bwrap() -> str | None:
    """The bubblewrap executable, or None where it is not installed."""
    return shutil.which("bwrap")


def _numpy_dirs() -> list[Path]:
    import numpy

    package = Path(numpy.__file__).resolve().parent
    libs = package.parent / "numpy.libs"  # the wheel's bundled OpenBLAS
    return [package] + ([libs] if libs.is_dir() else [])


def _hidden_package_dirs(prefix: Path) -> list[Path]:
    """Folders under `prefix` that hold installed packages (numpyvae could be one of them)."""
    found = []
    for pattern in ("lib/python3*/site-packages", "lib/python3*/dist-packages"):
        found += [p for p in sorted(prefix.glob(pattern)) if p.is_dir() and not p.is_symlink()]
    return found


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts
    return [str(Path(*parts[:i])) for i in range(2, len(parts))]


def command(job: Path, as_root: bool) -> tuple[list[str], list[str]]:
    """(the bwrap command line that runs the runner on `job`, the runner's sys.path)."""
    interpreter = os.path.realpath(sys.executable)
    prefix = Path(sys.base_prefix).resolve()
    args = [bwrap() or "bwrap", "--die-with-parent", "--new-session", "--clearenv"]
    if as_root:
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
        args += ["--unshare-cgroup-try", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-all", "--unshare-user", "--disable-userns"]
    args += ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib32", "lib64", "sbin"):
        target = Path("/") / link
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            args += ["--ro-bind", str(target), str(target)]
    binds = [(prefix, prefix)] if not str(prefix).startswith("/usr/") else []
    if not interpreter.startswith(("/usr/", str(prefix) + "/")):
        binds.append((Path(interpreter), Path(interpreter)))
    binds += [(d, Path(SITE) / d.name) for d in _numpy_dirs()]
    binds += [(RUNNER, Path("/opt/runner/runner.py")), (Path(job), Path("/job"))]
    made: set[str] = {"/usr", "/opt"}
    args += ["--perms", "0755", "--dir", "/opt"]
    for source, dest in binds:
        for folder in _ancestors(str(dest)):
            if folder not in made and not folder.startswith("/usr/"):
                args += ["--perms", "0755", "--dir", folder]
                made.add(folder)
        args += ["--ro-bind", str(source), str(dest)]
    hidden = _hidden_package_dirs(Path("/usr")) + _hidden_package_dirs(prefix)
    # numpyvae itself (a checkout with its solutions, or the folder it is installed in), if a
    # bound tree holds it: /usr/src/numpyvae, say, or a virtual environment inside the prefix
    home = Path(__file__).resolve().parents[2]
    if any(tree == home or tree in home.parents for tree in (Path("/usr"), prefix)):
        hidden.append(home)
    local = Path("/usr/local")
    if local.is_dir() and local not in (prefix, *prefix.parents):
        hidden.append(local)  # pip installs there as root on some systems
    else:
        hidden += _hidden_package_dirs(local)
    for folder in sorted(set(hidden)):
        args += ["--tmpfs", str(folder)]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(16 * 1024**2), "--tmpfs", "/tmp"]
    for name, value in _environment("/tmp").items():
        args += ["--setenv", name, value]
    args += ["--chdir", "/tmp", interpreter, "-I", "-S", "/opt/runner/runner.py", "/job"]
    return args, [SITE]


def _environment(home: str) -> dict[str, str]:
    return {
        "HOME": home,
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


def unsandboxed_command(job: Path) -> tuple[list[str], list[str]]:
    """The runner without bubblewrap (--no-sandbox): limits only, the file system open."""
    site = str(_numpy_dirs()[0].parent)
    return [os.path.realpath(sys.executable), "-I", "-S", str(RUNNER), str(job)], [site]


def _user_processes(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count


def process_limit(limits: Limits, as_root: bool, jobs: int) -> int:
    """RLIMIT_NPROC for a runner: per runner as nobody; else on top of the user's processes."""
    if as_root:
        return limits.processes * jobs
    return _user_processes(os.getuid()) + limits.processes * jobs + 16


def _limit(limits: Limits, nproc: int):
    def apply() -> None:
        cpu = int(limits.wall) + 2
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


_LIVE: set[subprocess.Popen] = set()  # the runners running now, for stop_all
_LIVE_LOCK = threading.Lock()


def stop_all() -> None:
    """Kill every runner running now (the grading was interrupted)."""
    with _LIVE_LOCK:
        for process in list(_LIVE):
            _kill(process)


def run(argv: list[str], limits: Limits, nproc: int, seccomp: bytes | None = None) -> Outcome:
    """Run `argv` (a runner command) under `limits`; kill it at the wall-clock limit.

    `seccomp`, a filter program (numpyvae.course.seccomp), is handed to bwrap (`argv[0]`)
    through a pipe.
    """
    start = time.monotonic()
    passed: tuple[int, ...] = ()
    if seccomp is not None:
        read_end, write_end = os.pipe()
        os.write(write_end, seccomp)  # a few hundred bytes: the pipe holds them
        os.close(write_end)
        argv = [argv[0], "--seccomp", str(read_end), *argv[1:]]
        passed = (read_end,)
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_environment("/tmp"),
            preexec_fn=_limit(limits, nproc),
            start_new_session=True,
            close_fds=True,
            pass_fds=passed,
        )
    finally:
        for fd in passed:
            os.close(fd)
    with _LIVE_LOCK:
        _LIVE.add(process)
    reply, log = bytearray(), bytearray()
    overflow = threading.Event()

    def read_reply() -> None:
        while chunk := process.stdout.read1(1 << 16):
            if len(reply) + len(chunk) > limits.reply:
                overflow.set()
                _kill(process)
                break
            reply.extend(chunk)
        process.stdout.close()

    def read_log() -> None:
        while chunk := process.stderr.read1(1 << 16):
            if len(log) < limits.log:  # the rest is drained, so that the runner never blocks
                log.extend(chunk[: limits.log - len(log)])
        process.stderr.close()

    readers = [threading.Thread(target=f, daemon=True) for f in (read_reply, read_log)]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        process.wait(timeout=limits.wall)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill(process)  # also after a normal exit: anything left in its process group
        process.wait()
        with _LIVE_LOCK:
            _LIVE.discard(process)
    for reader in readers:
        reader.join(timeout=5)
    return Outcome(
        bytes(reply),
        log.decode("utf-8", "replace"),
        None if timed_out else process.returncode,
        timed_out,
        overflow.is_set(),
        time.monotonic() - start,
    )


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
