"""The runner: executes one submission's cells and calls its answers; it judges nothing.

    python -I -S runner.py JOB        # JOB/request.json, JOB/cells-*.json, JOB/inputs/*.npy

This file is a standalone script on purpose: the grader (numpyvae.course.judge) runs it inside
the sandbox (numpyvae.course.sandbox) where only the Python standard library, NumPy, this file
and the job folder are visible, never numpyvae. It imports nothing of numpyvae, so nothing the
student's code can reach here knows a right answer.

What it does, in order:
0. drops to the user `nobody` if the sandbox started it as root (request["drop_to"]);
1. runs each notebook's code cells in a fresh namespace of its own, each cell under a time
   limit (SIGALRM, a convenience: the hard limit is the judge killing the whole sandbox);
   `numpyvae` and its submodules are stand-ins here, so that the notebook's `from
   numpyvae.exercises import check_...` and its check calls do nothing, and `sigmoid` and
   `softplus` are plain NumPy; matplotlib, IPython and tqdm are inert, IPython's magics
   (`%matplotlib inline`) are skipped: an honest notebook's habits cost no answer;
2. calls each answer on every input set of the request, on fresh copies;
3. writes one frame per call to the reply stream (the stdout it was started with): a JSON line
   {"exercise": name, "set": i, "arrays": [n bytes, ...]} followed by the arrays as .npy bytes,
   or {"exercise": name, "set": i, "error": "one line"}.

The judge reads the reply as untrusted data: anything here can be forged by the student's code,
which only ever costs the student's own points.
"""

import builtins
import importlib.abc
import importlib.machinery
import io
import json
import os
import re
import signal
import sys
import types

REPLY = None  # the reply stream: a dup of the stdout this process was started with
LIMITS = {"max_elements": 0}  # from the request: the judge's limits on a reply


class TimeUp(BaseException):  # noqa: N818 (BaseException: a cell's `except Exception` misses it)
    pass


# ------------------------------------------------------------------ the numpyvae stand-in


def _sigmoid(x):
    import numpy as np

    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x):
    import numpy as np

    x = np.asarray(x, dtype=float)
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


class _NotChecked:
    """What a check returns while grading: true, so that `assert check_...()` lets a cell on."""

    passed = True
    message = "not checked while grading"
    worst = mistake = None

    def __bool__(self):
        return True


def _no_check(*args, **kwargs):
    return _NotChecked()


class _Unavailable:
    """What any other name of numpyvae is while grading: unusable."""

    def __init__(self, name):
        self._name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self._name} is not available while grading: write it with NumPy")

    def __getattr__(self, attr):
        return _Unavailable(f"{self._name}.{attr}")


class _Inert:
    """Plotting and display while grading: anything can be called and used, and does nothing."""

    def __call__(self, *args, **kwargs):
        return _Inert()

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Inert()

    def __iter__(self):
        return iter(())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __getitem__(self, key):
        return _Inert()

    def __setitem__(self, key, value):
        pass


INERT = ("matplotlib", "IPython", "tqdm", "ipywidgets")
# What a notebook calls from numpyvae.exercises to check itself: nothing to do while graded.
LIVE_HELPERS = ("check", "report_syntax_errors", "summary", "syntax_guard")


class _StandIn(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if self.__name__.split(".")[0] in INERT:
            return _Inert()
        if name in ("sigmoid", "softplus"):
            return {"sigmoid": _sigmoid, "softplus": _softplus}[name]
        if name in LIVE_HELPERS or name.startswith("check_"):
            return _no_check
        return _Unavailable(f"{self.__name__}.{name}")


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """numpyvae, and the plotting and display packages a notebook may import, as stand-ins."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in ("numpyvae", *INERT):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StandIn(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def _without_magics(source):
    """IPython's magics and shell lines (`%matplotlib inline`, `!pip ...`) become `pass`."""
    lines = source.splitlines()
    if lines and lines[0].startswith("%%"):  # a cell magic: the whole cell is its input
        return ""
    out = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[: len(line) - len(stripped)] + "pass"
        out.append(line)
    return "\n".join(out)


# ------------------------------------------------------------------ running the cells


def _on_alarm(signum, frame):
    raise TimeUp()


def _run_cells(cells, cell_timeout, answers):
    """Run `cells` in a fresh namespace; {answer name: why it is missing} for failed cells."""
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    namespace.update(display=_Inert(), get_ipython=_Inert())  # what Jupyter puts there
    problems = {}
    for number, source in enumerate(cells, 1):
        defined = set(re.findall(r"^\s*def\s+(\w+)\s*\(|^(\w+)\s*=", source, re.MULTILINE))
        defined = {a or b for a, b in defined} & set(answers)
        # the student reads the feedback beside the notebook: a cell is named by its answers
        cell = f"the cell defining {', '.join(sorted(defined))}" if defined else f"cell {number}"
        try:
            code = compile(_without_magics(source), f"<cell {number}>", "exec", dont_inherit=True)
        except SyntaxError as exc:
            problem = f"{cell} has a SyntaxError at its line {exc.lineno}: {exc.msg}"
        except BaseException as exc:  # ValueError on NUL bytes and the like
            problem = f"{cell} does not compile: {type(exc).__name__}"
        else:
            problem = _exec(code, namespace, cell_timeout, cell)
        if problem:
            for name in defined:
                problems.setdefault(name, problem)
    return namespace, problems


def _exec(code, namespace, seconds, what):
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        exec(code, namespace)
    except TimeUp:
        return f"{what} did not finish within {seconds:g} s (an endless loop?)"
    except BaseException as exc:  # the student's crash, SystemExit included
        return f"{what} raised {type(exc).__name__}: {_short(exc)}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return None


def _short(exc):
    text = " ".join(str(exc).split())
    return text[:200]


# ------------------------------------------------------------------ replying


def _frame(header, blobs=()):
    header = dict(header)
    if blobs:
        header["arrays"] = [len(b) for b in blobs]
    REPLY.write(json.dumps(header).encode() + b"\n")
    for blob in blobs:
        REPLY.write(blob)
    REPLY.flush()


def _as_arrays(returned, n_outputs):
    """The returned value as a list of .npy blobs, or a string saying what is wrong with it."""
    import numpy as np

    if n_outputs > 1:
        if not isinstance(returned, (tuple, list)):
            return f"returned {_describe(returned)}, not a tuple of {n_outputs} arrays"
        values = list(returned)
    else:
        values = [returned]
    blobs = []
    for i, value in enumerate(values[:16]):
        if value is None:
            return f"item {i + 1} of what it returned is None (a missing `return`?)"
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            return f"item {i + 1} is {_describe(value)}, not an array of numbers ({_short(exc)})"
        if array.size > LIMITS["max_elements"]:  # the judge would refuse the reply from here on
            return f"item {i + 1} has shape {array.shape}, too large to be a gradient here"
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)  # 0-d stays 0-d (a scalar output)
        blobs.append(buffer.getvalue())
    return blobs


def _describe(value):
    kind = type(value).__name__
    try:
        return (
            f"a {kind} of {len(value)} items" if isinstance(value, (tuple, list)) else f"a {kind}"
        )
    except BaseException:
        return f"a {kind}"


def _call(fn, args, seconds, n_outputs):
    """(.npy blobs, None) of fn(*args), or (None, what went wrong), within `seconds`."""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        returned = fn(*args)
        converted = _as_arrays(returned, n_outputs)  # may run the student's __array__
    except TimeUp:
        return None, f"did not finish within {seconds:g} s (an endless loop?)"
    except NotImplementedError:
        return None, "is not implemented: it still raises NotImplementedError"
    except BaseException as exc:
        return None, f"raised {type(exc).__name__}: {_short(exc)}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return (None, converted) if isinstance(converted, str) else (converted, None)


def main(job):
    global REPLY
    REPLY = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the student's prints go to stderr, which the judge reads up to a cap
    sys.stdout = sys.stderr
    with open(os.path.join(job, "request.json"), encoding="utf-8") as f:
        request = json.load(f)
    if request.get("drop_to") is not None:  # the sandbox started us as root in no user namespace
        uid = request["drop_to"]
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise SystemExit("runner: could not drop privileges")
    sys.path[:0] = request["sys_path"]
    LIMITS["max_elements"] = request["max_elements"]
    sys.meta_path.insert(0, _StandInFinder())
    import numpy as np

    exercises = request["exercises"]
    names = [e["name"] for e in exercises]
    answers, problems = {}, {}
    for notebook in request["notebooks"]:
        with open(os.path.join(job, notebook["cells"]), encoding="utf-8") as f:
            cells = json.load(f)
        namespace, found = _run_cells(cells, request["cell_timeout"], names)
        for exercise in exercises:
            name = exercise["name"]
            preferred = exercise["notebook"] in notebook["name"]
            if callable(namespace.get(name)) and (name not in answers or preferred):
                answers[name] = namespace[name]
            elif name in found and name not in answers:
                problems[name] = found[name]
    for exercise in exercises:
        name = exercise["name"]
        hung = None
        for i, inputs in enumerate(exercise["sets"]):
            header = {"exercise": name, "set": i}
            if name not in answers or hung:
                why = hung or problems.get(name, f"no cell defines {name}")
                _frame({**header, "error": why if hung else f"not answered: {why}"})
                continue
            args = [np.load(os.path.join(job, path), allow_pickle=False) for path in inputs]
            blobs, error = _call(
                answers[name], args, request["cell_timeout"], exercise["n_outputs"]
            )
            if error is not None:
                _frame({**header, "error": f"{name} {error}"})
                if error.startswith("did not finish"):  # it would loop again: spend no more time
                    hung = f"{name} {error} on an earlier input set"
            else:
                _frame(header, blobs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
