"""The checker must be able to fail: a wrong backward is caught and named."""

import numpy as np

from numpyvae.gradcheck import check_gradient, check_layer, numerical_gradient, rel_error
from numpyvae.layers import Dense, Tanh


class TanhWithWrongBackward(Tanh):
    """A classic student slip: 1 - tanh(x) instead of 1 - tanh(x)^2."""

    def backward(self, dout):
        return dout * (1.0 - self._out)


class DenseWithBiasGradientOnePercentOff(Dense):
    """A subtle error: the bias gradient 1% too large, which eyeballing would never catch."""

    def backward(self, dout, need_input_grad=True):
        dx = super().backward(dout, need_input_grad)
        self.grads["b"] = self.grads["b"] * 1.01
        return dx


def test_checker_fails_on_wrong_backward():
    x = np.random.default_rng(0).standard_normal((4, 3))
    report = check_layer(TanhWithWrongBackward(), x)
    assert not report.passed and not bool(report)
    assert report.worst.name == "x" and report.max_error > 1e-2
    text = str(report)
    assert text.startswith("FAIL") and "WRONG" in text and "x[" in text
    report = check_layer(DenseWithBiasGradientOnePercentOff(3, 2, rng=np.random.default_rng(1)), x)
    assert not report.passed and report.worst.name == "b"
    assert abs(report.worst.analytic - 1.01 * report.worst.numeric) < 1e-6


def test_checker_passes_on_correct_backward():
    x = np.random.default_rng(0).standard_normal((4, 3))
    report = check_layer(Tanh(), x)
    assert report.passed and str(report).startswith("PASS")
    assert report.max_error < 1e-8


def test_check_gradient_of_a_scalar_function():
    x = np.random.default_rng(2).standard_normal(5)
    report = check_gradient(lambda: float(np.sum(x**3)), {"x": x}, {"x": 3 * x**2})
    assert report.passed
    report = check_gradient(lambda: float(np.sum(x**3)), {"x": x}, {"x": 3 * x})
    assert not report.passed


def test_numerical_gradient_restores_the_input_exactly():
    x = np.random.default_rng(3).standard_normal((3, 2))
    saved = x.copy()
    numerical_gradient(lambda: float(np.sum(np.sin(x))), x)
    np.testing.assert_array_equal(x, saved)


def test_rel_error_is_the_elementwise_measure():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == 0.5  # |1 - 3| / (1 + 3)


def test_missing_or_misshaped_gradient_is_reported():
    x = np.ones(3)
    f = lambda: float(np.sum(x))  # noqa: E731
    try:
        check_gradient(f, {"x": x}, {"x": np.ones(4)})
    except ValueError as exc:
        assert "shape" in str(exc)
    else:
        raise AssertionError("a misshaped gradient must be an error")
