"""A process killed (SIGKILL) in the middle of a checkpoint write leaves a readable checkpoint."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from numpyvae.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")

# The child writes checkpoints of a 784-400-20 model (about 15 MB each) back to back, the
# epoch counter telling them apart, and says "ready" once the first one is on disk.
CHILD = textwrap.dedent(
    """
    import sys
    from numpyvae import VAE
    from numpyvae.checkpoint import save_checkpoint
    from numpyvae.optim import Adam
    from numpyvae.train import Trainer

    model = VAE(784, 20, (400,), seed=0)
    trainer = Trainer(model, Adam(model.params), seed=0)
    path = sys.argv[1]
    save_checkpoint(path, trainer)
    print("ready", flush=True)
    while True:
        trainer.epoch += 1
        model.params["decoder.0.b"][0] = trainer.epoch
        save_checkpoint(path, trainer)
    """
)


def test_sigkill_at_random_moments_leaves_the_previous_checkpoint_readable(tmp_path):
    path = tmp_path / "checkpoint.npz"
    rng = np.random.default_rng(2026)
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    epochs_seen = []
    for _ in range(8):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
        )
        try:
            assert child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.4))  # somewhere inside some write
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        trainer = load_checkpoint(path)  # raises CheckpointError if the file were torn
        # the weights and the epoch come from the same, complete write
        assert trainer.model.params["decoder.0.b"][0] == trainer.epoch or trainer.epoch == 0
        epochs_seen.append(trainer.epoch)
        # a killed writer can leave only its hidden temporary file behind, never a torn target
        leftovers = [p.name for p in tmp_path.iterdir() if p.name != "checkpoint.npz"]
        assert all(n.startswith(".checkpoint.npz.") and n.endswith(".tmp") for n in leftovers)
    assert max(epochs_seen) > 0  # the kills did land while writes were going on
