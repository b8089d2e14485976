"""What the command-line tests share: a tiny training, a call of the command line that returns
what the user sees, and the check that an error is one line."""

from __future__ import annotations

from numpyvae import cli

# A training of a few seconds: 200 images, one hidden layer of 16, a 2-D latent, no bars.
TINY = ["--limit", "200", "--hidden", "16", "--latent-dim", "2", "--no-progress"]


def run(capsys, *argv: object) -> tuple[int, str, str]:
    """cli.main(argv) -> (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, expected_code: int = 2) -> str:
    """The error the user sees, asserted to be one line of numpyvae's, without a traceback."""
    assert code == expected_code, err
    assert err.count("\n") == 1 and err.startswith("numpyvae: error:"), err
    assert "Traceback" not in err
    return err
