"""The hand-written optimizers against their formulas and against torch.optim."""

import numpy as np
import pytest

from numpyvae.optim import SGD, Adam, adam_reference


def quadratic_steps(optimizer_factory, n_steps=5, seed=0):
    """Run an optimizer on f(p) = 1/2 ||A p||^2 and return the parameter after each step."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((4, 3))
    p = rng.standard_normal(3)
    optimizer = optimizer_factory({"p": p})
    path = []
    for _ in range(n_steps):
        optimizer.step({"p": A.T @ (A @ p)})
        path.append(p.copy())
    return A, path


def test_adam_first_step_formula():
    # After one step m_hat = g and v_hat = g^2, so every coordinate moves by lr * g / (|g| + eps).
    p = np.array([1.0, -2.0])
    g = np.array([0.5, -4.0])
    Adam({"p": p}, lr=0.1).step({"p": g})
    np.testing.assert_allclose(p, [1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 4.0 / (4.0 + 1e-8)])


def test_sgd_momentum_formula():
    p = np.array([1.0])
    opt = SGD({"p": p}, lr=0.1, momentum=0.9)
    opt.step({"p": np.array([1.0])})  # v = 1, p = 0.9
    opt.step({"p": np.array([1.0])})  # v = 1.9, p = 0.71
    np.testing.assert_allclose(p, [0.71])


@pytest.mark.parametrize("make", [lambda p: Adam(p, lr=0.05), lambda p: SGD(p, lr=0.02)])
def test_optimizers_descend(make):
    A, path = quadratic_steps(make, n_steps=50)
    loss = [0.5 * np.sum((A @ p) ** 2) for p in path]
    assert loss[-1] < 0.5 * loss[0]


def torch_path(torch_optimizer, n_steps=5, seed=0, **kwargs):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    rng = np.random.default_rng(seed)
    A = torch.tensor(rng.standard_normal((4, 3)))
    p = torch.tensor(rng.standard_normal(3), requires_grad=True)
    optimizer = getattr(torch.optim, torch_optimizer)([p], **kwargs)
    path = []
    for _ in range(n_steps):
        optimizer.zero_grad()
        (0.5 * torch.sum((A @ p) ** 2)).backward()
        optimizer.step()
        path.append(p.detach().numpy().copy())
    return path


def test_adam_matches_torch():
    expected = torch_path("Adam", lr=0.05)
    _, path = quadratic_steps(lambda p: Adam(p, lr=0.05))
    np.testing.assert_allclose(path, expected, rtol=1e-12, atol=1e-14)


def test_sgd_momentum_matches_torch():
    expected = torch_path("SGD", lr=0.02, momentum=0.9)
    _, path = quadratic_steps(lambda p: SGD(p, lr=0.02, momentum=0.9))
    np.testing.assert_allclose(path, expected, rtol=1e-12, atol=1e-14)


def test_state_dict_round_trip_continues_identically():
    _, straight = quadratic_steps(lambda p: Adam(p, lr=0.05), n_steps=6)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 3))
    p = rng.standard_normal(3)
    first = Adam({"p": p}, lr=0.05)
    for _ in range(3):
        first.step({"p": A.T @ (A @ p)})
    second = Adam({"p": p}, lr=0.05)
    second.load_state_dict({k: v.copy() for k, v in first.state_dict().items()})
    for _ in range(3):
        second.step({"p": A.T @ (A @ p)})
    np.testing.assert_array_equal(p, straight[-1])


def test_adam_keeps_its_moments_prescaled():
    """adam.m and adam.v (and state_dict's m/ and v/) are m / (1 - b1) and v / (1 - b2) of
    the formula: g and g^2 exactly after the first step from 0, and b1 g + g, b2 g^2 + g^2
    after a second step with the same gradient."""
    g = np.array([0.5, -4.0, 3e-3])
    adam = Adam({"p": np.ones(3)}, lr=0.1)
    adam.step({"p": g})
    np.testing.assert_array_equal(adam.m["p"], g)
    np.testing.assert_array_equal(adam.v["p"], g * g)
    adam.step({"p": g})
    np.testing.assert_allclose(adam.m["p"], 1.9 * g, rtol=1e-15)
    np.testing.assert_allclose(adam.v["p"], 1.999 * g * g, rtol=1e-15)
    state = adam.state_dict()
    assert state["m/p"] is adam.m["p"] and state["v/p"] is adam.v["p"]


def test_a_state_of_standard_moments_loads_and_continues_the_formula():
    """`load_standard_state_dict` takes Adam's moments of the formula (as checkpoints before
    format 3 stored them): Adam continues the formula's trajectory to rounding."""
    _, straight = quadratic_steps(lambda p: Adam(p, lr=0.05), n_steps=6)
    rng = np.random.default_rng(0)  # the A and start of quadratic_steps
    A = rng.standard_normal((4, 3))
    p = rng.standard_normal(3)
    m, v = np.zeros(3), np.zeros(3)
    for t in range(1, 4):
        adam_reference(p, A.T @ (A @ p), m, v, t, lr=0.05, beta1=0.9, beta2=0.999, eps=1e-8)
    adam = Adam({"p": p}, lr=0.05)
    adam.load_standard_state_dict({"steps": np.array(3), "m/p": m, "v/p": v})
    np.testing.assert_allclose(adam.m["p"], m / 0.1, rtol=1e-15)
    np.testing.assert_allclose(adam.v["p"], v / (1 - 0.999), rtol=1e-15)
    for _ in range(3):
        adam.step({"p": A.T @ (A @ p)})
    np.testing.assert_allclose(p, straight[-1], rtol=1e-13)


def test_bad_learning_rate_is_refused():
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got -0.1"):
        Adam({"p": np.zeros(1)}, lr=-0.1)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (
            lambda p: SGD(p, momentum="0.9"),
            "InvalidTypeError",
            "momentum must be a number in [0, 1), got '0.9'",
        ),
        (
            lambda p: SGD(p, momentum=1.0),
            "InvalidValueError",
            "momentum must be a number in [0, 1), got 1.0",
        ),
        (
            lambda p: SGD(p, momentum=True),
            "InvalidTypeError",
            "momentum must be a number in [0, 1), got True",
        ),
        (lambda p: SGD(p, lr="x"), "InvalidTypeError", "lr must be a positive number, got 'x'"),
        (lambda p: SGD(p, lr=0), "InvalidValueError", "lr must be a finite number > 0, got 0"),
        (lambda p: Adam(p, lr="x"), "InvalidTypeError", "lr must be a positive number, got 'x'"),
        (
            lambda p: Adam(p, lr=float("nan")),
            "InvalidValueError",
            "lr must be a finite number > 0, got nan",
        ),
        (
            lambda p: Adam(p, betas=(1.2, 0.9)),
            "InvalidValueError",
            "betas[0] must be a number in [0, 1), got 1.2",
        ),
        (
            lambda p: Adam(p, betas=(0.9, -0.1)),
            "InvalidValueError",
            "betas[1] must be a number in [0, 1), got -0.1",
        ),
        (
            lambda p: Adam(p, betas=(0.9, "0.99")),
            "InvalidTypeError",
            "betas[1] must be a number in [0, 1), got '0.99'",
        ),
        (
            lambda p: Adam(p, betas=0.9),
            "InvalidTypeError",
            "betas must be two numbers in [0, 1), got 0.9",
        ),
        (
            lambda p: Adam(p, betas=(0.9,)),
            "InvalidTypeError",
            "betas must be two numbers in [0, 1), got (0.9,)",
        ),
        (
            lambda p: Adam(p, betas="ab"),
            "InvalidTypeError",
            "betas must be two numbers in [0, 1), got 'ab'",
        ),
        (
            lambda p: Adam(p, eps=0.0),
            "InvalidValueError",
            "eps must be a finite number > 0, got 0.0",
        ),
        (
            lambda p: Adam(p, eps=None),
            "InvalidTypeError",
            "eps must be a positive number, got None",
        ),
        (
            lambda p: Adam(p, threads=0),
            "InvalidValueError",
            "threads must be a positive integer (>= 1), got 0",
        ),
        (
            lambda p: Adam(p, threads=1.5),
            "InvalidTypeError",
            "threads must be a positive integer, got 1.5",
        ),
        (
            lambda p: Adam([p["p"]]),
            "InvalidTypeError",
            "params must be a dict of NumPy arrays by name",
        ),
        (
            lambda p: SGD({"p": [1.0]}),
            "InvalidTypeError",
            "params['p'] must be a float NumPy array",
        ),
        (
            lambda p: Adam({"p": np.zeros(2, dtype=int)}),
            "InvalidTypeError",
            "params['p'] must be a float NumPy array",
        ),
    ],
)
def test_bad_optimizer_arguments_are_refused_in_one_line(make, error, message):
    from numpyvae import validation

    with pytest.raises(getattr(validation, error)) as info:
        make({"p": np.zeros(2)})
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text


def test_optimizer_arguments_as_a_checkpoint_stores_them_are_accepted():
    # a checkpoint's JSON gives betas as a list and numbers as floats or ints
    adam = Adam({"p": np.zeros(2)}, lr=1, betas=[0.5, np.float32(0.75)], eps=1)
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps) == (1.0, 0.5, 0.75, 1.0)
    assert SGD({"p": np.zeros(2)}, momentum=0).momentum == 0.0
