"""The README's example runs as written, and .ci/run runs the README's test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_example_runs():
    example = re.search(r"## A short example\s+```python\n(.*?)```", README, re.S).group(1)
    namespace: dict = {}
    exec(compile(example, "README.md example", "exec"), namespace)  # noqa: S102
    assert namespace["parts"].loss == namespace["parts"].reconstruction + namespace["parts"].kl
    history = namespace["history"]
    assert len(history) == 5 and history.loss[-1] < history.loss[0]
    assert namespace["digits"].shape == (16, 784) and namespace["codes"].shape[1] == 20


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci and "<!-- test-command -->" in README
    # as a newcomer does: the main command first, then the tests, in the same clone
    assert "<!-- main-command -->" in ci and "<!-- main-command -->" in README
    assert ci.index('bash -c "$main_command"') < ci.index('bash -c "$test_command"')
    assert "|| echo" not in ci  # a failed install stops CI
    command = re.search(r"<!-- test-command -->\s*```\n(.*?)\n```", README, re.S).group(1)
    assert command.startswith("pip install") and "python -m pytest" in command
