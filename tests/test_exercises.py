"""recbook.exercises.check: passes a right answer, reports (never raises) a wrong one."""
import numpy as np
import pytest
import torch

from recbook.exercises import check
from recbook.exercises.check import FAILED, NOT_ATTEMPTED, PASSED, VERDICTS


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def make_inputs(rng):
    return (rng.normal(size=(int(rng.integers(1, 4)), 5)).astype(np.float32),)


def test_right_answer_passes(capsys):
    def mine(x):  # a torch version of the same function: tensors are accepted as outputs
        return torch.softmax(torch.from_numpy(x).requires_grad_(), dim=-1)

    assert check(mine, softmax, make_inputs, n=10) is True
    assert "✓ mine matches the reference on 10 random inputs." in capsys.readouterr().out


def test_wrong_answer_is_reported_with_the_hint(capsys):
    def mine(x):
        return np.exp(x) / np.exp(x).sum()  # normalised over the whole array

    assert check(mine, softmax, make_inputs, hint="normalise over the last axis") is False
    out = capsys.readouterr().out
    assert "✗ mine is wrong on random input #" in out and "values differ" in out
    assert "Hint: normalise over the last axis" in out


def test_shape_and_type_mistakes_are_named(capsys):
    assert check(lambda x: softmax(x)[0], softmax, make_inputs, name="f") is False
    assert "expected shape" in capsys.readouterr().out
    assert check(lambda x: [None], lambda x: [x], make_inputs, name="f") is False
    assert "got NoneType" in capsys.readouterr().out
    assert check(lambda x: (x, x), lambda x: {"a": x}, make_inputs, name="f") is False
    assert "expected a dict with keys ['a']" in capsys.readouterr().out


def test_exception_in_the_readers_function_is_reported_not_raised(capsys):
    def mine(x):
        raise ValueError("write me")

    assert check(mine, softmax, make_inputs, hint="start from np.exp") is False
    out = capsys.readouterr().out
    assert "mine raised ValueError: write me" in out and "random input #1" in out
    assert "Hint: start from np.exp" in out


def test_nested_outputs_and_keyword_inputs(capsys):
    ref = lambda a, b: {"sum": a + b, "parts": (a, b)}  # noqa: E731
    inputs = lambda rng: {"a": rng.normal(size=3), "b": rng.normal(size=3)}  # noqa: E731
    assert check(lambda a, b: {"parts": [a, b], "sum": b + a}, ref, inputs) is True
    bad = lambda a, b: {"parts": (a, b), "sum": a - b}  # noqa: E731
    assert check(bad, ref, inputs) is False
    assert "output['sum']" in capsys.readouterr().out


def test_inputs_are_copied_so_a_mutating_answer_cannot_fool_the_reference(capsys):
    def mine(x):
        x *= 0  # corrupts its own copy only
        return softmax(x)

    assert check(mine, softmax, make_inputs) is False


def test_tolerance_and_integer_outputs():
    assert check(lambda x: softmax(x) + 1e-7, softmax, make_inputs, atol=1e-5)
    assert not check(lambda x: softmax(x) + 1e-3, softmax, make_inputs, atol=1e-5)
    argmax = lambda x: x.argmax(-1)  # noqa: E731
    assert check(lambda x: torch.from_numpy(x).argmax(-1), argmax, make_inputs)


def test_checker_bugs_do_raise():
    with pytest.raises(TypeError, match="callables"):
        check(softmax, "softmax", make_inputs)
    with pytest.raises(ZeroDivisionError):  # a broken reference is not the reader's fault
        check(softmax, lambda x: 1 / 0, make_inputs)
    with pytest.raises(ValueError, match="n must be at least 1"):
        check(softmax, softmax, make_inputs, n=0)


# ---------------------------------------------------------------- stubs and recorded verdicts

def test_an_untouched_stub_is_not_attempted_and_gets_no_hint(capsys):
    def my_softmax(x):
        ...  # your code here

    del VERDICTS[:]
    assert check(my_softmax, softmax, make_inputs, hint="the answer in words") is False
    out = capsys.readouterr().out
    assert "○ my_softmax: not attempted yet" in out and "Hint" not in out and "answer" not in out

    def raises(x):
        raise NotImplementedError

    assert check(raises, softmax, make_inputs, hint="h", name="r") is False
    assert "○ r: not attempted yet" in capsys.readouterr().out
    assert VERDICTS == [("my_softmax", NOT_ATTEMPTED), ("r", NOT_ATTEMPTED)]


def test_every_verdict_is_recorded(capsys):
    del VERDICTS[:]
    check(lambda x: softmax(x), softmax, make_inputs, name="right")
    check(lambda x: x, softmax, make_inputs, name="wrong")
    check(lambda x: 1 / 0, softmax, make_inputs, name="raises")
    assert VERDICTS == [("right", PASSED), ("wrong", FAILED), ("raises", FAILED)]


def test_predict_then_test_reveals_nothing_before_a_prediction(capsys):
    from recbook.exercises.din import check_intensity

    del VERDICTS[:]
    # The models are never touched: nothing is measured, so nothing can be printed.
    assert check_intensity({"none": None, "softmax": None}, None, None, None) is False
    out = capsys.readouterr().out
    assert "not attempted yet" in out and "measured" not in out and "Hint" not in out
    assert check_intensity({"none": "4"}, None, None, None) is False
    assert "prediction must be a dict" in capsys.readouterr().out
    assert VERDICTS == [("intensity", NOT_ATTEMPTED), ("intensity", FAILED)]


def test_predict_then_test_measures_once_predicted(capsys):
    """With both numbers written, the check measures the two models and says which were right."""
    import torch

    from conftest import make_meta
    from recbook.exercises.din import check_intensity
    from recbook.torch.din import DIN

    meta = make_meta()
    torch.manual_seed(0)
    kw = dict(item_dim=4, cat_dim=4, profile_dim=2, mlp=(8,))
    raw, soft = DIN(meta, **kw), DIN(meta, attention="softmax", **kw)
    del VERDICTS[:]
    assert check_intensity({"none": 4, "softmax": 1}, raw, soft, meta) is True
    out = capsys.readouterr().out
    assert "✓ none     predicted 4, measured 4.0000" in out and "✓ softmax  predicted 1, measured 1.0000" in out
    assert check_intensity({"none": 1, "softmax": 1}, raw, soft, meta) is False
    assert "✗ none     predicted 1, measured 4.0000" in capsys.readouterr().out
    assert VERDICTS == [("intensity", PASSED), ("intensity", FAILED)]
