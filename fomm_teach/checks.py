"""Exercise checkers: judge a learner's function against the library's, and hand back one that works.

The check cell
--------------
Every exercise in the course is three cells: a stub (tagged ``exercise``) that raises
``NotImplementedError``, its ``solution``, and a check cell of exactly this form::

    heatmap_to_keypoints = checks.check_heatmap_to_keypoints(heatmap_to_keypoints)

The checker runs the learner's function and the library's reference on the same seeded and
edge-case inputs and prints one verdict line:

- ✅ every case matches, with the largest absolute error seen; the learner's own function is
  returned, so the cells below use it;
- ❌ the first case that does not match: its largest error with a small expected-vs-got sample and,
  for the predictable mistakes, a ``hint:`` line; or the error the learner's code raised, with the
  learner's own line (``Cell In[7], line 4``); or that it ran longer than :data:`CALL_TIMEOUT_S`
  seconds (an endless loop is stopped); or that it changed its input in place;
- ⏭ the stub still raises ``NotImplementedError``: "not attempted".

After ❌ or ⏭ the checker returns a **library fallback**: the library's function (same name,
signature and results) that also remembers the learner's function it replaced (see
:func:`library_fallback`). So "Run all" reaches the end of the notebook, and yet running the
check cell again judges the learner's function again: the checker first unwraps a fallback with
:func:`learner_function`. The rules that follow, which the course's tests and browser tests rely on:

1. A check always judges the learner's **own current** function: the one the stub cell (as last
   run) defined. Re-running the check cell alone on a stub prints ⏭ again, never ✅; after editing
   the stub, run the stub cell, then the check cell.
2. A check never reports the library's own function as the learner's: passing the library
   function itself (e.g. after ``from fomm_teach.keypoints import spatial_softmax``) prints ⏭.
3. With ``FOMM_TEACH_STRICT=1`` (set by ``make test`` for the instructor notebooks) ❌ and ⏭
   raise ``AssertionError`` instead of falling back.

``tools/build_notebooks.py`` checks that the code cell after every ``solution`` has a line
``name = checks.check_<name>(name)`` for a name that the solution defines (the rebinding is what
makes the fallback available downstream). A check cell may also show a mistake on purpose, as
chapter 00 does with ``_ = checks.check_column_to_x(column_to_x_off_by_one)`` in a later cell.

What the browser tests can rely on in a check cell's output: one verdict line that starts with ✅,
❌ or ⏭, a space and the function's name (only what the learner's function itself prints can come
before it); the checker prints ✅ nowhere else. After ❌ or ⏭ comes a line starting with
"↳ using the library's <name>".

Writing a checker
-----------------
The framework is the top part of this file. Chapter checkers ``check_<function_name>(fn)`` are
appended at the end, one ``# --- chapter NN ---`` section per notebook; each builds its inputs
with :func:`seeded_generator` and calls :func:`check_function` with the library function as the
reference and, optionally, :class:`Hint` s: known wrong versions of the function, each with the
advice printed when the learner's output matches it.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import numbers
import os
import re
import signal
import sysconfig
import textwrap
import threading
import traceback
from typing import Any, Callable, NamedTuple, Sequence

import torch

# A case: (label shown to the learner, positional arguments, keyword arguments).
Case = tuple[str, tuple, dict]

# A learner's function that runs longer than this on one case is stopped (an endless loop).
# The cases are small: the library's functions take milliseconds on them.
CALL_TIMEOUT_S = float(os.environ.get("FOMM_TEACH_CHECK_TIMEOUT", "10"))

# Prose lines under a verdict are wrapped to this width: JupyterLab beside its file browser shows
# about 93 characters of output.
OUTPUT_WIDTH = 90

# The attribute of a library fallback that holds the learner's function it replaced.
LEARNER_ATTRIBUTE = "__fomm_teach_learner__"


class Hint(NamedTuple):
    """A predictable mistake: ``wrong(*args, **kwargs)`` computes it; ``text`` says how to fix it."""

    text: str
    wrong: Callable


class Mismatch(Exception):
    """Raised inside the comparison when the learner's output differs in structure or value.

    ``detail``: extra lines shown under the verdict (an expected-vs-got sample); ``got`` and
    ``expected``: the two tensors that differ in value, if that is the mismatch.
    """

    def __init__(self, message: str, detail: Sequence[str] = (), got: Any = None, expected: Any = None):
        super().__init__(message)
        self.detail = list(detail)
        self.got, self.expected = got, expected


class TimedOut(BaseException):
    """The learner's function ran longer than its time limit (a BaseException, so that a learner's
    ``except Exception`` cannot swallow it)."""

    def __init__(self, still_running: bool = False):
        super().__init__("time limit")
        self.still_running = still_running


def strict_mode() -> bool:
    """True when ``FOMM_TEACH_STRICT=1``: a failed or skipped exercise raises instead of falling back."""
    return os.environ.get("FOMM_TEACH_STRICT", "") not in ("", "0")


def seeded_generator(seed: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` with a fixed seed, so a checker's random inputs are the same every run."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


# --- the library fallback -----------------------------------------------------------------------


def library_fallback(library_fn: Callable, learner_fn: Callable, name: str, verdict: str) -> Callable:
    """The library's ``library_fn`` standing in for ``learner_fn`` after a failed check.

    A function (or, for a class, a subclass) that behaves exactly like ``library_fn`` and
    carries ``learner_fn`` in the attribute :data:`LEARNER_ATTRIBUTE`, so the next check of the
    same name judges ``learner_fn`` again. ``verdict`` (e.g. "not attempted") goes into the
    docstring, which is what ``name?`` shows in Jupyter.
    """
    learner_fn = learner_function(learner_fn)
    notice = (f"The library's {name}, standing in for yours ({verdict}). Fix yours, run its cell, "
              f"then run its check again.\n\n")
    if inspect.isclass(library_fn):
        fallback = type(library_fn.__name__, (library_fn,), {
            LEARNER_ATTRIBUTE: staticmethod(learner_fn),
            "__doc__": notice + (library_fn.__doc__ or ""),
            "__module__": library_fn.__module__,
        })
        return fallback

    @functools.wraps(library_fn)
    def fallback(*args, **kwargs):
        return library_fn(*args, **kwargs)

    fallback.__name__ = fallback.__qualname__ = name
    fallback.__doc__ = notice + (library_fn.__doc__ or "")
    setattr(fallback, LEARNER_ATTRIBUTE, learner_fn)
    return fallback


def learner_function(fn: Any) -> Any:
    """The learner's own function behind ``fn``: ``fn`` itself, or what a library fallback replaced."""
    seen = set()
    while id(fn) not in seen and hasattr(fn, LEARNER_ATTRIBUTE):
        seen.add(id(fn))
        fn = getattr(fn, LEARNER_ATTRIBUTE)
    return fn


# --- comparing outputs --------------------------------------------------------------------------


def _format_values(values: torch.Tensor) -> str:
    return "[" + ", ".join(f"{float(v):>10.4g}" for v in values.reshape(-1)) + "]"


def _sample(got: torch.Tensor, want: torch.Tensor, error: torch.Tensor, where: str) -> tuple[str, list[str]]:
    """Where the worst element is, and a few expected/got values around it along the last axis."""
    flat = int(torch.argmax(error))
    if want.dim() == 0:
        return where, [f"expected {float(want):.4g}", f"got      {float(got):.4g}"]
    index = list(torch.unravel_index(torch.tensor(flat), want.shape))
    index = [int(i) for i in index]
    last = want.shape[-1]
    start = max(0, min(index[-1] - 2, last - 6))
    stop = min(last, start + 6)
    prefix = ", ".join(str(i) for i in index[:-1])
    span = ":" if (start, stop) == (0, last) else f"{start}:{stop}"
    label = f"{where}[{prefix + ', ' if prefix else ''}{span}]"
    position = f"{where}[{', '.join(str(i) for i in index)}]"
    lead = tuple(index[:-1])
    return position, [
        f"{label}:",
        f"  expected {_format_values(want[lead][start:stop])}",
        f"  got      {_format_values(got[lead][start:stop])}",
    ]


def _max_error(learner: Any, reference: Any, atol: float, rtol: float, where: str) -> float:
    """Largest absolute difference between two outputs of the same structure.

    Tensors, Python/NumPy numbers, and tuples/lists/dicts of them are compared recursively.
    Raises :class:`Mismatch` when the structure, shape, or a value differs beyond
    ``|learner - reference| <= atol + rtol * |reference|`` (the rule of ``torch.allclose``); for
    values it names the worst position and shows expected and got values around it.
    """
    if isinstance(reference, torch.Tensor):
        if not isinstance(learner, torch.Tensor):
            raise Mismatch(f"{where}: expected a tensor, got {type(learner).__name__}")
        if learner.shape != reference.shape:
            message = f"{where}: expected shape {tuple(reference.shape)}, got {tuple(learner.shape)}"
            if sorted(learner.shape) == sorted(reference.shape):
                message += " (the right sizes in another order: check how you permute, transpose or reshape)"
            raise Mismatch(message)
        if reference.numel() == 0:
            return 0.0
        got = learner.detach().to(device="cpu", dtype=torch.float64)
        want = reference.detach().to(device="cpu", dtype=torch.float64)
        if not torch.equal(torch.isnan(got), torch.isnan(want)):
            wrong = torch.isnan(got) != torch.isnan(want)
            position, detail = _sample(got, want, wrong.double(), where)
            raise Mismatch(f"{where}: NaN where the reference has none (or the other way round), e.g. at {position}",
                           detail)
        got, want = torch.nan_to_num(got, nan=0.0), torch.nan_to_num(want, nan=0.0)
        error = (got - want).abs()
        worst = float(error.max())
        if bool((error > atol + rtol * want.abs()).any()):
            position, detail = _sample(got, want, error, where)
            raise Mismatch(f"{where}: values differ, largest error {worst:.3g} at {position}", detail,
                           got=learner, expected=reference)
        return worst
    if isinstance(reference, (bool, str, type(None))):
        if learner != reference:
            raise Mismatch(f"{where}: expected {reference!r}, got {learner!r}")
        return 0.0
    if isinstance(reference, numbers.Number):
        if isinstance(learner, torch.Tensor) and learner.numel() == 1:
            learner = learner.item()
        if not isinstance(learner, numbers.Number):
            raise Mismatch(f"{where}: expected a number, got {type(learner).__name__}")
        worst = abs(complex(learner) - complex(reference))
        if math.isnan(worst) or worst > atol + rtol * abs(complex(reference)):
            def show(number):
                return f"{number:.6g}" if isinstance(number, float) else repr(number)
            raise Mismatch(f"{where}: expected {show(reference)}, got {show(learner)}")
        return float(worst)
    if isinstance(reference, dict):
        if not isinstance(learner, dict) or set(learner) != set(reference):
            got_keys = sorted(learner) if isinstance(learner, dict) else type(learner).__name__
            raise Mismatch(f"{where}: expected a dict with keys {sorted(reference)}, got {got_keys}")
        return max(
            (_max_error(learner[key], reference[key], atol, rtol, f"{where}[{key!r}]") for key in reference),
            default=0.0,
        )
    if isinstance(reference, (tuple, list)):
        plain = all(isinstance(item, numbers.Number) for item in reference) and len(reference) <= 12
        if not isinstance(learner, (tuple, list)) or len(learner) != len(reference):
            shown = f": {list(reference)}, got {learner!r}" if plain else ""
            raise Mismatch(f"{where}: expected a {type(reference).__name__} of {len(reference)} items{shown}")
        if plain:  # a short list of numbers: show it whole
            try:
                return max((_max_error(got, want, atol, rtol, f"{where}[{i}]")
                            for i, (got, want) in enumerate(zip(learner, reference))), default=0.0)
            except Mismatch as mismatch:
                raise Mismatch(f"{mismatch}", [f"expected {list(reference)}", f"got      {list(learner)}"]) from None
        return max(
            (_max_error(got, want, atol, rtol, f"{where}[{i}]") for i, (got, want) in enumerate(zip(learner, reference))),
            default=0.0,
        )
    raise TypeError(f"check_function cannot compare outputs of type {type(reference).__name__}")


def _matches(learner: Any, other: Any, atol: float, rtol: float) -> bool:
    try:
        _max_error(learner, other, atol, rtol, "output")
    except (Mismatch, TypeError):
        return False
    return True


def _map_tensors(value: Any, fn: Callable[[torch.Tensor], torch.Tensor | None]) -> Any:
    """``value`` with ``fn`` applied to every tensor inside; None if ``fn`` refuses one (returns None)."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        items = {key: _map_tensors(item, fn) for key, item in value.items()}
        return None if any(item is None for item in items.values()) else items
    if isinstance(value, (tuple, list)):
        items = [_map_tensors(item, fn) for item in value]
        return None if any(item is None for item in items) else type(value)(items)
    return value


# Mistakes any checker can recognise, as changes of the reference's output.
GENERIC_HINTS: list[tuple[str, Callable[[torch.Tensor], torch.Tensor | None]]] = [
    ("(x, y) swapped: the last axis holds x first (along the width W), then y (along the height H).",
     lambda t: t.flip(-1) if t.dim() >= 1 and t.shape[-1] == 2 else None),
    ("your matrices are transposed: a 2×2 Jacobian is [[j0, j1], [j2, j3]] (row-major), and the order "
     "of a matrix product matters.",
     lambda t: t.transpose(-1, -2) if t.dim() >= 2 and t.shape[-1] == t.shape[-2] >= 2 else None),
    ("the sign is flipped: check the order of a subtraction.",
     lambda t: -t if t.is_floating_point() else None),
]


def _diagnose(got: Any, expected: Any, args: tuple, kwargs: dict, hints: Sequence[Hint],
              atol: float, rtol: float, generic_got: Any = None, generic_expected: Any = None) -> list[str]:
    """The hints whose wrong version the learner's output matches (the generic ones if none does).

    got, expected: the whole outputs, for the checker's hints; the generic ones are tried on
    generic_got/generic_expected (the tensors that differ), or on the whole outputs.
    """
    atol, rtol = max(atol, 1e-5), max(rtol, 1e-3)
    found = []
    for hint in hints:
        try:
            wrong = hint.wrong(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except Exception:  # a wrong variant that does not apply to these inputs
            continue
        if _matches(got, wrong, atol, rtol) and hint.text not in found:
            found.append(hint.text)
    if found:
        return found
    if generic_expected is not None:
        got, expected = generic_got, generic_expected
    for text, transform in GENERIC_HINTS:
        changed = _map_tensors(expected, transform)
        if changed is not None and not _matches(expected, changed, atol, rtol) and _matches(got, changed, atol, rtol):
            found.append(text)
    return found


# --- running the learner's code -----------------------------------------------------------------


def _call_with_timeout(fn: Callable, args: tuple, kwargs: dict, seconds: float | None) -> Any:
    """``fn(*args, **kwargs)``, stopped with :class:`TimedOut` after ``seconds``.

    On POSIX in the main thread (where Jupyter runs cells) a ``SIGALRM`` timer interrupts the
    call, so an endless Python loop really stops. Elsewhere (Windows, a worker thread, a timer
    already in use) the call runs in a daemon thread that is waited for: the check goes on after
    ``seconds``, but an endless loop keeps running in the background (TimedOut.still_running).
    """
    if not seconds or seconds <= 0:
        return fn(*args, **kwargs)
    use_alarm = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
                 and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    if use_alarm:
        def on_alarm(signum, frame):
            raise TimedOut()

        try:
            previous = signal.signal(signal.SIGALRM, on_alarm)
        except (ValueError, OSError):
            use_alarm = False
    if use_alarm:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
    result: dict = {}

    def target():
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as err:  # handed to the caller below
            result["error"] = err

    worker = threading.Thread(target=target, name="fomm_teach-check", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimedOut(still_running=True)
    if "error" in result:
        raise result["error"]
    return result["value"]


_NOT_LEARNER_DIRS = tuple(
    os.path.normcase(os.path.realpath(path)) + os.sep
    for path in {os.path.dirname(os.path.abspath(__file__)), os.path.dirname(torch.__file__),
                 *(sysconfig.get_paths().get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib"))}
    if path
)


def _cell_name(filename: str) -> str:
    """``Cell In[7]`` for code typed into a notebook cell (as IPython names it), else the file name."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        number = getattr(getattr(shell, "compile", None), "_filename_map", {}).get(filename) if shell else None
    except Exception:  # no IPython, or a version without the map
        number = None
    older = re.match(r"<ipython-input-(\d+)-", filename)  # IPython < 8 (Colab) names cells this way
    if number is None and older:
        number = older.group(1)
    return f"Cell In[{number}]" if number is not None else os.path.basename(filename)


def learner_line(err: BaseException) -> str | None:
    """Where in the learner's own code ``err`` was raised: ``Cell In[7], line 4: <source line>``.

    The deepest traceback frame outside this package, torch and the Python installation; None if
    there is none.
    """
    frames = traceback.extract_tb(err.__traceback__)
    for frame in reversed(frames):
        path = os.path.normcase(os.path.realpath(frame.filename))
        if frame.filename.startswith("<") and not frame.line:
            continue
        if not path.startswith(_NOT_LEARNER_DIRS):
            line = (frame.line or "").strip()
            return f"{_cell_name(frame.filename)}, line {frame.lineno}" + (f": {line}" if line else "")
    return None


def _same(a: Any, b: Any) -> bool:
    """Exact equality of two argument values (tensors, numbers, containers); other objects count as equal."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(
            torch.nan_to_num(a.detach(), nan=0.0), torch.nan_to_num(b.detach(), nan=0.0)))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (numbers.Number, str, bool, type(None))):
        return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    return True


def _changed_inputs(reference_fn: Callable, original: tuple[tuple, dict], passed: tuple[tuple, dict]) -> list[str]:
    """Names of the arguments the learner's function changed in place."""
    try:
        parameters = list(inspect.signature(reference_fn).parameters)
    except (TypeError, ValueError):
        parameters = []
    changed = []
    for i, (before, after) in enumerate(zip(original[0], passed[0])):
        if not _same(before, after):
            changed.append(parameters[i] if i < len(parameters) else f"argument {i + 1}")
    changed += [key for key in original[1] if not _same(original[1][key], passed[1].get(key))]
    return changed


# --- the check ----------------------------------------------------------------------------------


def _say(text: str, indent: str = "   ", hanging: str = "") -> None:
    """Print one prose line under a verdict, wrapped to OUTPUT_WIDTH; ``hanging`` indents its continuation."""
    print(textwrap.fill(text, width=OUTPUT_WIDTH, initial_indent=indent, subsequent_indent=indent + hanging,
                        break_long_words=False, break_on_hyphens=False))


def _fail(name: str, reason: str, reference_fn: Callable, learner_fn: Callable, verdict: str) -> Callable:
    """After ❌/⏭: raise in strict mode; otherwise say so and return the library fallback."""
    if strict_mode():
        raise AssertionError(f"{name}: {reason} (FOMM_TEACH_STRICT=1)")
    _say(f"↳ using the library's {name} from here on, so the rest of the notebook runs. "
         f"Fix yours, run its cell, then run this check again.", hanging="  ")
    return library_fallback(reference_fn, learner_fn, name, verdict)


def check_function(
    learner_fn: Callable,
    reference_fn: Callable,
    cases: Sequence[Case],
    *,
    name: str,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    hints: Sequence[Hint] = (),
    adapt: Callable[[Callable], Callable] | None = None,
    timeout: float | None = None,
) -> Callable:
    """Run the learner's function and ``reference_fn`` on every case; return the function to use from now on.

    learner_fn: the learner's function, or a library fallback an earlier check returned (then the
    learner's function it remembers is judged: :func:`learner_function`).
    cases: ``(label, args, kwargs)`` triples. Each function gets its own deep copy of the
    arguments, so an in-place edit by one cannot change what the other sees; an in-place edit by
    the learner's function is reported as a failure.
    hints: known wrong versions of the function; when the learner's output matches one, its
    advice is printed (otherwise the generic checks in :data:`GENERIC_HINTS`).
    adapt: turns either function into the one whose outputs are compared (e.g. a summary of
    optimisers); the returned function is still the learner's or the library's own.
    timeout: seconds one call of the learner's function may take (default :data:`CALL_TIMEOUT_S`).

    Returns the learner's function if every case matches within ``atol``/``rtol``, otherwise a
    :func:`library_fallback` (after printing why). Raises ``AssertionError`` on failure or when
    the exercise is not attempted if ``FOMM_TEACH_STRICT=1``.
    """
    if not cases:
        raise ValueError(f"check_function({name!r}) needs at least one case")
    learner_fn = learner_function(learner_fn)
    if learner_fn is reference_fn:
        print(f"⏭ {name}: this is the library's own {name}, not yours: run your exercise cell, then this check.")
        return _fail(name, "the library's own function was passed, not the learner's", reference_fn, learner_fn,
                     "it was the library's own")
    run_learner = adapt(learner_fn) if adapt else learner_fn
    if adapt:   # a hint's wrong version is a function like the learner's: compare it adapted too
        hints = [Hint(hint.text, adapt(hint.wrong)) for hint in hints]
    run_reference = adapt(reference_fn) if adapt else reference_fn
    timeout = CALL_TIMEOUT_S if timeout is None else timeout
    worst = 0.0
    for label, args, kwargs in cases:
        expected = run_reference(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        learner_args, learner_kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        try:
            got = _call_with_timeout(run_learner, learner_args, learner_kwargs, timeout)
        except NotImplementedError:
            print(f"⏭ {name}: not attempted yet (the stub raises NotImplementedError).")
            return _fail(name, "exercise not attempted", reference_fn, learner_fn, "not attempted")
        except TimedOut as stopped:
            reason = f"case '{label}' still ran after {timeout:g} s (an endless loop?)"
            print(f"❌ {name}: {reason}; it was stopped.")
            if stopped.still_running:
                _say("It could not be interrupted here and keeps running in the background: "
                     "restart the kernel (Kernel ▸ Restart Kernel) if the notebook slows down.")
            return _fail(name, reason, reference_fn, learner_fn, "ran too long")
        except Exception as err:  # the learner's code may fail in any way; report it, do not crash
            reason = f"case '{label}' raised {type(err).__name__}: {err}"
            print(f"❌ {name}: {reason}")
            where = learner_line(err)
            if where:
                print(f"   in your code, {where}")
            return _fail(name, reason, reference_fn, learner_fn, "raised an error")
        changed = _changed_inputs(reference_fn, (args, kwargs), (learner_args, learner_kwargs))
        in_place = (f"your function changed its input {', '.join(f'`{c}`' for c in changed)} in place"
                    if changed else "")
        in_place_advice = ("The caller's tensors must stay as they were: compute new tensors (x = x * 2) instead "
                           "of changing them (x *= 2, x.add_(…), x[…] = …), or start from x.clone().")
        try:
            worst = max(worst, _max_error(got, expected, atol, rtol, "output"))
        except Mismatch as mismatch:
            message = str(mismatch)
            message = message[len("output: "):] if message.startswith("output: ") else message
            print(f"❌ {name}: case '{label}': {message}")
            for line in mismatch.detail:
                print(f"   {line}")
            generic_got, generic_expected = ((mismatch.got, mismatch.expected) if mismatch.expected is not None
                                             else (got, expected))
            for text in _diagnose(got, expected, args, kwargs, hints, atol, rtol, generic_got, generic_expected):
                _say(f"hint: {text}", hanging="      ")
            if in_place:
                _say(f"also: {in_place}. {in_place_advice}", hanging="      ")
            return _fail(name, f"case '{label}': {mismatch}", reference_fn, learner_fn, "values differ")
        if in_place:
            print(f"❌ {name}: case '{label}': the output matches, but {in_place}.")
            _say(in_place_advice)
            return _fail(name, f"case '{label}': changed its input in place", reference_fn, learner_fn,
                         "changed its input in place")
    verdict = "exact match" if worst == 0.0 else f"largest error {worst:.2g}"
    print(f"✅ {name}: all {len(cases)} cases match the library ({verdict}).")
    return learner_fn


# --- chapter 00 ---


def check_column_to_x(fn: Callable) -> Callable:
    """Exercise 0.1: pixel column j of a W-wide map → x = 2j/(W-1) - 1, read off the library's grid."""
    from fomm_teach.keypoints import make_coordinate_grid

    def reference(column, width):
        x = make_coordinate_grid((2, width), dtype=torch.float32)[0, :, 0]  # (W,)
        return x[column]

    generator = seeded_generator(0)
    cases = [
        ("every column of a 4-wide map: -1, -1/3, 1/3, 1", (torch.arange(4), 4), {}),
        ("the two border columns of a 2-wide map", (torch.tensor([0, 1]), 2), {}),
        ("random columns (5, 3) of a 64-wide map", (torch.randint(0, 64, (5, 3), generator=generator), 64), {}),
        ("the last column of a 257-wide map is +1", (torch.tensor([256]), 257), {}),
    ]
    hints = [Hint("divide by width - 1, not by width: the last column must land at +1 (the align-corners convention).",
                  lambda column, width: 2 * column.float() / width - 1)]
    return check_function(fn, reference, cases, name="column_to_x", hints=hints)


# --- chapter 05 ---


def check_tps_offset(fn: Callable) -> Callable:
    """Exercise 5.1: the thin-plate-spline offset Σ_m w_m · U(‖p − c_m‖₁) of the equivariance warp."""
    from fomm_teach.keypoints import make_coordinate_grid
    from fomm_teach.losses import tps_offset

    generator = seeded_generator(5)
    grid5 = make_coordinate_grid((5, 5)).view(25, 2)  # (25, 2)
    grid3 = make_coordinate_grid((3, 3)).view(9, 2)   # (9, 2)

    def points(*shape):
        return torch.rand(*shape, generator=generator) * 2 - 1

    cases = [
        ("5×5 control grid, batch 2", (points(2, 7, 2), grid5, 0.01 * torch.randn(2, 1, 25, generator=generator)), {}),
        ("one set of points shared by a batch of 3", (points(1, 6, 2), grid5, 0.01 * torch.randn(3, 1, 25, generator=generator)), {}),
        ("points exactly on the control points", (grid3[None], grid3, torch.randn(1, 1, 9, generator=generator)), {}),
        ("3×3 grid, points outside [-1, 1], large coefficients", (3 * points(2, 5, 2), grid3, torch.randn(2, 1, 9, generator=generator)), {}),
    ]
    def distance_hint(text, distance):
        def wrong(coordinates, control_points, control_params):
            d = distance(coordinates[:, :, None, :] - control_points[None, None])  # (B, N, M)
            return (d ** 2 * torch.log(d + 1e-6) * control_params).sum(-1, keepdim=True)
        return Hint(text, wrong)

    hints = [
        distance_hint("the authors' TPS uses the L1 distance |dx| + |dy| (a quirk we keep), not the Euclidean one.",
                      lambda diff: diff.pow(2).sum(-1).sqrt()),
        Hint("U(0) must be 0, not NaN: add 1e-6 inside the log, U(d) = d² · log(d + 1e-6).",
             lambda c, p, w: (lambda d: (d ** 2 * torch.log(d) * w).sum(-1, keepdim=True))(
                 (c[:, :, None, :] - p[None, None]).abs().sum(-1))),
        Hint("U(d) = d² · log(d): the log takes d, not d² (your values are twice the expected ones).",
             lambda c, p, w: 2 * tps_offset(c, p, w)),
    ]
    return check_function(fn, tps_offset, cases, name="tps_offset", hints=hints)


def _equivariance_transform(seed: int, batch: int, sigma_affine: float, sigma_tps: float | None = None):
    """A seeded `Transform` (affine, plus TPS if sigma_tps) that leaves torch's global random stream untouched."""
    from fomm_teach.losses import Transform

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if sigma_tps is None:
            return Transform(batch, sigma_affine=sigma_affine)
        return Transform(batch, sigma_affine=sigma_affine, sigma_tps=sigma_tps, points_tps=5)


def check_equivariance_value_loss(fn: Callable) -> Callable:
    """Exercise 5.2: mean |kp_d − W(kp_t)|, with W applied the right way round."""
    from fomm_teach.losses import equivariance_value_loss

    generator = seeded_generator(53)

    def points(*shape):
        return torch.rand(*shape, generator=generator) * 1.6 - 0.8

    affine = _equivariance_transform(1, 2, 0.2)
    linear, translation = affine.theta[:, None, :, :2], affine.theta[:, None, :, 2]        # (2, 1, 2, 2), (2, 1, 2)
    value_driving = points(2, 4, 2)
    exact = (torch.inverse(linear) @ (value_driving - translation)[..., None])[..., 0]     # (2, 4, 2) = W⁻¹(kp_d)
    cases = [
        ("affine W, B=2, K=5", (points(2, 5, 2), points(2, 5, 2), _equivariance_transform(2, 2, 0.2)), {}),
        ("affine + TPS W, B=3, K=4", (points(3, 4, 2), points(3, 4, 2), _equivariance_transform(3, 3, 0.15, 0.02)), {}),
        ("an exactly equivariant detector: kp_t = W⁻¹(kp_d) (loss 0)", (value_driving, exact, affine), {}),
    ]
    hints = [
        Hint("wrong way round: Y = X∘W is made by backward warping (Y at z is X at W(z)), so a part at kp_t in Y "
             "sits at W(kp_t) in X: compare kp_d with W(kp_t), not W(kp_d) with kp_t.",
             lambda value_d, value_t, transform: torch.abs(transform.warp_coordinates(value_d) - value_t).mean()),
        Hint("an L1 loss: the mean of |kp_d − W(kp_t)|, not of its square.",
             lambda value_d, value_t, transform: (value_d - transform.warp_coordinates(value_t)).pow(2).mean()),
        Hint("the mean over batch, keypoints and both coordinates, not the Euclidean length of each difference.",
             lambda value_d, value_t, transform: (value_d - transform.warp_coordinates(value_t)).norm(dim=-1).mean()),
        Hint("the mean, not the sum, of |kp_d − W(kp_t)| over all entries.",
             lambda value_d, value_t, transform: torch.abs(value_d - transform.warp_coordinates(value_t)).sum()),
    ]
    return check_function(fn, equivariance_value_loss, cases, name="equivariance_value_loss", hints=hints)


def check_equivariance_jacobian_loss(fn: Callable) -> Callable:
    """Exercise 5.3: mean |I − J_d⁻¹ · ∇W · J_t| (the jacobian equivariance loss)."""
    from fomm_teach.losses import equivariance_jacobian_loss

    generator = seeded_generator(52)

    def matrices(batch, num_kp, spread):
        return torch.eye(2) + spread * torch.randn(batch, num_kp, 2, 2, generator=generator)  # (B, K, 2, 2)

    jacobian_transformed, warp_jacobian = matrices(2, 4, 0.3), matrices(2, 4, 0.3)
    cases = [
        ("random jacobians, B=2, K=3", (matrices(2, 3, 0.3), matrices(2, 3, 0.3), matrices(2, 3, 0.3)), {}),
        ("exactly equivariant: J_d = ∇W · J_t (loss 0)",
         (warp_jacobian @ jacobian_transformed, jacobian_transformed, warp_jacobian), {}),
        ("everything the identity (loss 0)", (torch.eye(2).expand(1, 2, 2, 2).clone(),) * 3, {}),
        ("strongly non-commuting matrices, B=1, K=5", (matrices(1, 5, 0.5), matrices(1, 5, 0.5), matrices(1, 5, 0.5)), {}),
    ]
    def loss(product):
        return lambda j_d, j_t, w: torch.abs(torch.eye(2) - product(j_d, j_t, w)).mean()

    hints = [
        Hint("wrong order: it is J_d⁻¹ · (∇W · J_t): the warp's Jacobian ∇W multiplies J_t from the left.",
             loss(lambda j_d, j_t, w: torch.inverse(j_d) @ j_t @ w)),
        Hint("wrong order: J_d⁻¹ multiplies from the left, J_d⁻¹ · ∇W · J_t (matrix products do not commute).",
             loss(lambda j_d, j_t, w: w @ j_t @ torch.inverse(j_d))),
        Hint("J_d must be inverted (torch.inverse): the loss measures how far J_d⁻¹ · ∇W · J_t is from I.",
             loss(lambda j_d, j_t, w: j_d @ w @ j_t)),
        Hint("an L1 loss: the mean of |I − …|, not of its square.",
             lambda j_d, j_t, w: (torch.eye(2) - torch.inverse(j_d) @ w @ j_t).pow(2).mean()),
        Hint("the mean, not the sum, of |I − J_d⁻¹ · ∇W · J_t| over all entries.",
             lambda j_d, j_t, w: torch.abs(torch.eye(2) - torch.inverse(j_d) @ w @ j_t).sum()),
    ]
    return check_function(fn, equivariance_jacobian_loss, cases, name="equivariance_jacobian_loss", hints=hints)


def _patch_maps(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Discriminator patch maps around the LSGAN targets 0 and 1: values in [-0.5, 1.5)."""
    return torch.rand(*shape, generator=generator) * 2 - 0.5


def check_generator_gan_loss(fn: Callable) -> Callable:
    """Exercise 5.4: the LSGAN generator term mean((1 − D(fake))²)."""
    from fomm_teach.losses import generator_gan_loss

    generator = seeded_generator(54)
    cases = [
        ("a patch map (2, 1, 6, 6)", (_patch_maps(generator, 2, 1, 6, 6),), {}),
        ("a patch map (1, 1, 3, 5)", (_patch_maps(generator, 1, 1, 3, 5),), {}),
        ("D says 'real' everywhere (loss 0)", (torch.ones(2, 1, 4, 4),), {}),
    ]
    hints = [
        Hint("the generator wants D to say 1 on its frames, (1 − D(fake))²; D(fake)² pulls towards 0, the "
             "discriminator's target for a generated frame.", lambda prediction: (prediction ** 2).mean()),
        Hint("least squares: square the distance to the target, (1 − D(fake))², not its absolute value.",
             lambda prediction: (1 - prediction).abs().mean()),
        Hint("the mean over batch and patches, not the sum.", lambda prediction: ((1 - prediction) ** 2).sum()),
    ]
    return check_function(fn, generator_gan_loss, cases, name="generator_gan_loss", hints=hints)


def check_discriminator_gan_loss(fn: Callable) -> Callable:
    """Exercise 5.4: the LSGAN discriminator term mean((1 − D(real))² + D(fake)²)."""
    from fomm_teach.losses import discriminator_gan_loss

    generator = seeded_generator(55)
    cases = [
        ("patch maps (2, 1, 6, 6)", (_patch_maps(generator, 2, 1, 6, 6), _patch_maps(generator, 2, 1, 6, 6)), {}),
        ("patch maps (1, 1, 3, 5)", (_patch_maps(generator, 1, 1, 3, 5), _patch_maps(generator, 1, 1, 3, 5)), {}),
        ("a perfect discriminator: 1 on real, 0 on generated (loss 0)",
         (torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)), {}),
    ]
    hints = [
        Hint("targets swapped: the discriminator wants 1 on real frames and 0 on generated ones, "
             "(1 − D(real))² + D(fake)².", lambda real, fake: (real ** 2 + (1 - fake) ** 2).mean()),
        Hint("least squares: square the distances to the targets, not their absolute values.",
             lambda real, fake: ((1 - real).abs() + fake.abs()).mean()),
        Hint("the two terms are added, each averaged over batch and patches; not averaged together "
             "(you divided by 2).", lambda real, fake: ((1 - real) ** 2 + fake ** 2).mean() / 2),
        Hint("the mean over batch and patches, not the sum.", lambda real, fake: ((1 - real) ** 2 + fake ** 2).sum()),
    ]
    return check_function(fn, discriminator_gan_loss, cases, name="discriminator_gan_loss", hints=hints)


def check_feature_matching_loss(fn: Callable) -> Callable:
    """Exercise 5.5: Σ_i w_i · mean|F_i(real) − F_i(fake)| over the discriminator's block outputs."""
    from fomm_teach.losses import feature_matching_loss

    generator = seeded_generator(56)

    def feature_maps(batch):
        shapes = [(batch, 8, 12, 12), (batch, 16, 6, 6), (batch, 32, 3, 3), (batch, 32, 1, 1)]
        return [torch.randn(*shape, generator=generator) for shape in shapes]

    cases = [
        ("4 blocks, weights [10, 10, 10, 10]", (feature_maps(2), feature_maps(2), [10, 10, 10, 10]), {}),
        ("4 blocks, weights [1, 0, 2.5, 0]", (feature_maps(1), feature_maps(1), [1, 0, 2.5, 0]), {}),
        ("4 blocks, different weights [0.5, 1, 2, 4]", (feature_maps(3), feature_maps(3), [0.5, 1, 2, 4]), {}),
    ]
    hints = [
        Hint("each block's mean |real − generated| is multiplied by its own weight w_i before the sum.",
             lambda real, fake, weights: sum(torch.abs(r - f).mean() for r, f in zip(real, fake))),
        Hint("an L1 loss: the mean of |real − generated|, not of its square.",
             lambda real, fake, weights: sum(w * (r - f).pow(2).mean() for w, r, f in zip(weights, real, fake))),
        Hint("the mean over each block's entries, not the sum (blocks of different sizes must count alike).",
             lambda real, fake, weights: sum(w * torch.abs(r - f).sum() for w, r, f in zip(weights, real, fake))),
        Hint("a sum over blocks, not their mean.",
             lambda real, fake, weights: sum(w * torch.abs(r - f).mean() for w, r, f in zip(weights, real, fake))
             / len(weights)),
    ]
    return check_function(fn, feature_matching_loss, cases, name="feature_matching_loss", hints=hints)


# --- chapter 01 ---


def _probability_maps(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Random (B, K, H, W) maps that are non-negative and sum to 1 over H·W."""
    b, k, h, w = shape
    return torch.softmax(3 * torch.randn(b, k, h * w, generator=generator), dim=2).reshape(b, k, h, w)


def check_spatial_softmax(fn: Callable) -> Callable:
    """Exercise 1.1: softmax over all H·W positions of logits / temperature."""
    from fomm_teach.keypoints import spatial_softmax

    generator = seeded_generator(11)
    cases = [
        ("random scores (2, 3, 5, 7), τ = 0.1", (torch.randn(2, 3, 5, 7, generator=generator), 0.1), {}),
        ("random scores (1, 2, 6, 6), τ = 1", (torch.randn(1, 2, 6, 6, generator=generator), 1.0), {}),
        ("constant scores: the uniform map", (torch.zeros(1, 1, 4, 5), 0.1), {}),
        ("large scores, τ = 0.01 (exp overflows unless you use a stable softmax)",
         (50 * torch.randn(1, 2, 4, 4, generator=generator), 0.01), {}),
    ]
    def softmax_over(dim):
        return lambda logits, temperature: torch.softmax(logits / temperature, dim=dim)

    def naive(logits, temperature):
        e = torch.exp(logits / temperature)
        return e / e.sum(dim=(2, 3), keepdim=True)

    over_one_axis = ("softmax over one axis only: flatten H and W into one axis of H·W positions first "
                     "(reshape to (B, K, H·W)), so that each map sums to 1 over the whole image.")
    hints = [
        Hint(over_one_axis, softmax_over(-1)),
        Hint(over_one_axis, softmax_over(-2)),
        Hint("softmax over the keypoints (dim 1): it must run over the H·W positions of each map.", softmax_over(1)),
        Hint("temperature left out: divide the logits by the temperature before the softmax.",
             lambda logits, temperature: spatial_softmax(logits, 1.0)),
        Hint("divide the logits by the temperature, do not multiply.",
             lambda logits, temperature: spatial_softmax(logits * temperature * temperature, temperature)),
        Hint("exp overflowed: use torch.softmax (F.softmax), which subtracts the maximum first.", naive),
    ]
    return check_function(fn, spatial_softmax, cases, name="spatial_softmax", hints=hints)


def _pixel_grid(spatial_size) -> torch.Tensor:
    """(H, W, 2) pixel indices (column, row): the grid a learner might use instead of [-1, 1]."""
    h, w = spatial_size
    rows, columns = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                   indexing="ij")  # (H, W) each
    return torch.stack([columns, rows], dim=-1)    # (H, W, 2)


def check_heatmap_to_keypoints(fn: Callable) -> Callable:
    """Exercise 1.2: soft-argmax, the expected (x, y) coordinate of each map."""
    from fomm_teach.keypoints import heatmap_to_keypoints

    generator = seeded_generator(12)
    corner = torch.zeros(1, 2, 5, 7)
    corner[0, 0, 0, -1] = 1.0  # top-right pixel: (x, y) = (1, -1)
    corner[0, 1, -1, 0] = 1.0  # bottom-left pixel: (x, y) = (-1, 1)
    cases = [
        ("random maps (2, 3, 6, 8)", (_probability_maps(generator, 2, 3, 6, 8),), {}),
        ("all mass on two corner pixels of a 5×7 map (x runs along the width!)", (corner,), {}),
        ("uniform map: the centre (0, 0)", (torch.full((1, 1, 4, 6), 1 / 24),), {}),
        ("random maps (1, 10, 58, 58), the vox-256 size", (_probability_maps(generator, 1, 10, 58, 58),), {}),
    ]
    hints = [
        Hint("(x, y) swapped: the last axis holds x first (along the width W), then y (along the height H); "
             "make_coordinate_grid already gives (x, y) pairs.", lambda heatmap: heatmap_to_keypoints(heatmap).flip(-1)),
        Hint("use the normalised grid from make_coordinate_grid (values in [-1, 1]), not pixel indices.",
             lambda heatmap: (heatmap.unsqueeze(-1) * _pixel_grid(heatmap.shape[2:])).sum(dim=(2, 3))),
    ]
    return check_function(fn, heatmap_to_keypoints, cases, name="heatmap_to_keypoints", hints=hints)


def check_pool_jacobians(fn: Callable) -> Callable:
    """Exercise 1.3: heatmap-weighted sum of the 4 Jacobian maps, read row-major into 2×2."""
    from fomm_teach.keypoints import pool_jacobians

    generator = seeded_generator(13)
    identity_map = torch.tensor([1.0, 0.0, 0.0, 1.0]).view(1, 1, 4, 1, 1).expand(1, 3, 4, 5, 5)
    cases = [
        ("one map per keypoint, (2, 3) keypoints on 6×6",
         (_probability_maps(generator, 2, 3, 6, 6), torch.randn(2, 3, 4, 6, 6, generator=generator)), {}),
        ("identity maps give J = I", (_probability_maps(generator, 1, 3, 5, 5), identity_map.clone()), {}),
        ("one map shared by all 4 keypoints (single_jacobian_map)",
         (_probability_maps(generator, 2, 4, 5, 7), torch.randn(2, 1, 4, 5, 7, generator=generator)), {}),
        ("row-major order: a map (0, 1, 2, 3) gives [[0, 1], [2, 3]]",
         (_probability_maps(generator, 1, 1, 3, 3), torch.arange(4.0).view(1, 1, 4, 1, 1).expand(1, 1, 4, 3, 3).clone()), {}),
    ]
    hints = [
        Hint("your 2×2 matrices are transposed: the 4 maps are read row-major, J = [[j0, j1], [j2, j3]].",
             lambda heatmap, jacobian_map: pool_jacobians(heatmap, jacobian_map).transpose(-1, -2)),
        Hint("weight each Jacobian map by the keypoint's heatmap and sum (Σ_z H_k(z) J(z)), not a plain average.",
             lambda heatmap, jacobian_map: pool_jacobians(torch.full_like(heatmap, 1.0 / heatmap[0, 0].numel()),
                                                          jacobian_map)),
        Hint("a mean over the pixels divides by H·W: the heatmap already sums to 1, so sum H_k(z) J(z) over z.",
             lambda heatmap, jacobian_map: pool_jacobians(heatmap, jacobian_map) / heatmap[0, 0].numel()),
    ]
    return check_function(fn, pool_jacobians, cases, name="pool_jacobians", hints=hints)


# --- chapter 02 ---


def _keypoints(generator: torch.Generator, batch: int, num_kp: int, jacobian: bool) -> dict:
    """Random keypoints in [-1, 1] and, if asked, well-conditioned Jacobians I + 0.3·noise."""
    kp = {"value": torch.rand(batch, num_kp, 2, generator=generator) * 2 - 1}
    if jacobian:
        kp["jacobian"] = torch.eye(2) + 0.3 * torch.randn(batch, num_kp, 2, 2, generator=generator)
    return kp


def check_sparse_motion(fn: Callable) -> Callable:
    """Exercise 2.1: T_k(z) = p_s + J_s J_d⁻¹ (z − p_d), zero order without Jacobians."""
    from fomm_teach.motion import sparse_motion

    generator = seeded_generator(21)
    cases = [
        ("first order, B=2, K=3, 6×6",
         (_keypoints(generator, 2, 3, True), _keypoints(generator, 2, 3, True), (6, 6)), {}),
        ("first order on a non-square 5×8 map (H, W order!)",
         (_keypoints(generator, 1, 2, True), _keypoints(generator, 1, 2, True), (5, 8)), {}),
        ("zero order: no Jacobians", (_keypoints(generator, 2, 4, False), _keypoints(generator, 2, 4, False), (4, 4)), {}),
        ("only the source has Jacobians: zero order",
         (_keypoints(generator, 1, 2, True), _keypoints(generator, 1, 2, False), (4, 5)), {}),
        ("non-commuting Jacobians: J_s J_d⁻¹ ≠ J_d⁻¹ J_s",
         ({"value": torch.zeros(1, 1, 2), "jacobian": torch.tensor([[[[1.0, 0.8], [0.0, 1.0]]]])},
          {"value": torch.tensor([[[0.2, -0.1]]]), "jacobian": torch.tensor([[[[0.0, -1.5], [1.5, 0.0]]]])}, (5, 5)), {}),
    ]
    from fomm_teach.keypoints import make_coordinate_grid

    def affine(matrix_of):
        """p_s + A (z − p_d) with A = matrix_of(J_s, J_d): a wrong choice of A."""
        def wrong(kp_source, kp_driving, spatial_size):
            if "jacobian" not in kp_source or "jacobian" not in kp_driving:
                return sparse_motion(kp_source, kp_driving, spatial_size)
            grid = make_coordinate_grid(spatial_size)                                         # (H, W, 2)
            z = grid[None, None] - kp_driving["value"][:, :, None, None, :]                   # (B, K, H, W, 2)
            a = matrix_of(kp_source["jacobian"], kp_driving["jacobian"])                      # (B, K, 2, 2)
            return (a[:, :, None, None] @ z.unsqueeze(-1)).squeeze(-1) + kp_source["value"][:, :, None, None, :]
        return wrong

    hints = [
        Hint("J_d⁻¹ J_s in the wrong order: T_k uses J_s · J_d⁻¹ (matrix products do not commute).",
             affine(lambda j_s, j_d: torch.inverse(j_d) @ j_s)),
        Hint("J_d must be inverted: T_k(z) = p_s + J_s · J_d⁻¹ · (z − p_d) (torch.inverse).",
             affine(lambda j_s, j_d: j_s @ j_d)),
        Hint("this is the forward map (source → driving). T_k is the backward map: for each pixel z of the "
             "driving frame, where to read in the source: start from z − p_d, end at p_s + ….",
             lambda kp_source, kp_driving, spatial_size: sparse_motion(kp_driving, kp_source, spatial_size)),
        Hint("the Jacobians are ignored: when both keypoint dicts have 'jacobian', use the first-order term "
             "J_s · J_d⁻¹ (z − p_d).",
             lambda kp_source, kp_driving, spatial_size: sparse_motion(
                 {"value": kp_source["value"]}, {"value": kp_driving["value"]}, spatial_size)),
        Hint("(x, y) swapped: grid coordinates and keypoints are (x, y) pairs, x along the width.",
             lambda kp_source, kp_driving, spatial_size: sparse_motion(kp_source, kp_driving, spatial_size).flip(-1)),
        Hint("the 2×2 matrix acts on row vectors (z @ A, which is Aᵀ z): it must act on the column vector "
             "z − p_d, as in A @ (z − p_d)[..., None].",
             affine(lambda j_s, j_d: (j_s @ torch.inverse(j_d)).transpose(-1, -2))),
    ]
    return check_function(fn, sparse_motion, cases, name="sparse_motion", hints=hints)


def check_kp2gaussian(fn: Callable) -> Callable:
    """Exercise 2.2: exp(−½‖z − p_k‖² / variance) on the coordinate grid."""
    from fomm_teach.motion import kp2gaussian

    generator = seeded_generator(22)
    cases = [
        ("random keypoints, B=2, K=4, 8×10, variance 0.01",
         (torch.rand(2, 4, 2, generator=generator) * 2 - 1, (8, 10), 0.01), {}),
        ("variance 0.1 on 16×16", (torch.rand(1, 3, 2, generator=generator) * 2 - 1, (16, 16), 0.1), {}),
        ("a keypoint on the top-right pixel centre (1, -1): peak 1 there",
         (torch.tensor([[[1.0, -1.0]]]), (5, 7), 0.01), {}),
    ]
    hints = [
        Hint("the ½ is missing: exp(−½ ‖z − p‖² / variance).",
             lambda kp_value, spatial_size, kp_variance: kp2gaussian(kp_value, spatial_size, kp_variance / 2)),
        Hint("kp_variance is a variance, not a standard deviation: divide by it once, do not square it.",
             lambda kp_value, spatial_size, kp_variance: kp2gaussian(kp_value, spatial_size, kp_variance ** 2)),
        Hint("(x, y) swapped: keypoints are (x, y) with x along the width; spatial_size is (H, W).",
             lambda kp_value, spatial_size, kp_variance: kp2gaussian(kp_value.flip(-1), spatial_size, kp_variance)),
    ]
    return check_function(fn, kp2gaussian, cases, name="kp2gaussian", hints=hints)


# --- chapter 03 ---


def _random_keypoints(generator: torch.Generator, batch: int, num_kp: int, spread: float = 0.8) -> dict:
    """A keypoint dict with values in [-spread, spread] and Jacobians near the identity (invertible)."""
    value = (torch.rand(batch, num_kp, 2, generator=generator) * 2 - 1) * spread              # (B, K, 2)
    jacobian = torch.eye(2) + 0.3 * torch.randn(batch, num_kp, 2, 2, generator=generator)    # (B, K, 2, 2)
    return {"value": value, "jacobian": jacobian}


def check_heatmap_representation(fn: Callable) -> Callable:
    """Exercise 3.2: G(driving) − G(source) per keypoint with a zero background map first (Eq. 6)."""
    from fomm_teach.dense_motion import heatmap_representation

    generator = seeded_generator(30)
    kp_a, kp_b = _random_keypoints(generator, 2, 3), _random_keypoints(generator, 2, 3)
    far = {"value": torch.tensor([[[1.5, -1.2], [0.0, 0.0]]])}
    centre = {"value": torch.zeros(1, 2, 2)}
    cases = [
        ("B=2, K=3, 16×16", (kp_a, kp_b, (16, 16)), {}),
        ("non-square 12×20, kp_variance 0.05", (kp_a, kp_b, (12, 20)), {"kp_variance": 0.05}),
        ("source = driving (all maps zero)", (kp_a, kp_a, (8, 8)), {}),
        ("one keypoint outside the image, K=2", (far, centre, (9, 9)), {}),
    ]
    hints = [
        Hint("G(driving) − G(source), not the other way round.",
             lambda kp_driving, kp_source, spatial_size, **kw: heatmap_representation(kp_source, kp_driving, spatial_size, **kw)),
        Hint("the background map is missing: put one all-zero map first, K + 1 maps in all.",
             lambda *args, **kw: heatmap_representation(*args, **kw)[:, 1:]),
        Hint("the background's all-zero map comes first (part 0), before the K keypoint maps.",
             lambda *args, **kw: heatmap_representation(*args, **kw).roll(-1, dims=1)),
        Hint("keep a channel axis of size 1: the output is (B, K+1, 1, H, W).",
             lambda *args, **kw: heatmap_representation(*args, **kw).squeeze(2)),
        Hint("use kp_variance (default 0.01) in the Gaussians.",
             lambda kp_driving, kp_source, spatial_size, **kw: heatmap_representation(kp_driving, kp_source, spatial_size)),
    ]
    return check_function(fn, heatmap_representation, cases, name="heatmap_representation", atol=1e-6, hints=hints)


def check_deform_source(fn: Callable) -> Callable:
    """Exercise 3.1: the K+1 deformed sources S^k = S ∘ T_k (grid_sample per part)."""
    from fomm_teach.dense_motion import deform_source
    from fomm_teach.keypoints import make_coordinate_grid

    generator = seeded_generator(31)
    image = torch.rand(2, 3, 12, 12, generator=generator)                                     # (B, C, H, W)
    grids = torch.rand(2, 4, 12, 12, 2, generator=generator) * 2.4 - 1.2                      # (B, K+1, H, W, 2)
    identity = make_coordinate_grid((12, 12)).expand(2, 4, 12, 12, 2).clone()                 # (B, K+1, H, W, 2)
    cases = [
        ("B=2, K+1=4, random grids (some outside)", (image, grids), {}),
        ("identity grids reproduce the source", (image, identity), {}),
        ("align_corners=False", (image, grids), {"align_corners": False}),
        ("smaller output grid 6×8, one channel", (image[:, :1], grids[:, :, :6, :8]), {}),
    ]
    def folded_part_major(source_image, sparse_motions, align_corners=True):
        """source.repeat(K+1, 1, 1, 1): copies ordered part by part, while the grids fold batch by batch."""
        bs, num_parts, h, w, _ = sparse_motions.shape
        wrong_order = source_image.repeat(num_parts, 1, 1, 1)                                 # (B·(K+1), C, H, W)
        grids = sparse_motions.reshape(bs * num_parts, h, w, 2)                               # (B·(K+1), h, w, 2)
        deformed = torch.nn.functional.grid_sample(wrong_order, grids, align_corners=align_corners)
        return deformed.view(bs, num_parts, -1, h, w)                                         # (B, K+1, C, h, w)

    align_text = "pass align_corners on to grid_sample (its own default, False, is not ours)."
    hints = [
        Hint(align_text, lambda source_image, sparse_motions, **kw: deform_source(source_image, sparse_motions)),
        Hint(align_text, lambda source_image, sparse_motions, **kw: deform_source(
            source_image, sparse_motions, align_corners=False)),
        Hint("(x, y) swapped: grid_sample reads (x, y) pairs, x along the width.",
             lambda source_image, sparse_motions, **kw: deform_source(source_image, sparse_motions.flip(-1), **kw)),
        Hint("the source copies and the grids are in different orders: the grids fold (B, K+1) → B·(K+1) "
             "batch element by batch element, so copy each image K+1 times in a row (unsqueeze(1), then "
             "expand), not the whole batch K+1 times (repeat(K+1, 1, 1, 1)).", folded_part_major),
    ]
    return check_function(fn, deform_source, cases, name="deform_source", hints=hints)


def check_ideal_occlusion_map(fn: Callable) -> Callable:
    """Exercise 3.3: the ideal occlusion map, Σ_k L^S_k(T̂(z)) · L^D_k(z), from known part labels."""
    from fomm_teach.dense_motion import ideal_occlusion_map
    from fomm_teach.keypoints import make_coordinate_grid
    from fomm_teach.motion import warp_image

    generator = seeded_generator(33)

    def labels(batch, parts, h, w):
        """One-hot part labels (B, K+1, H, W), softened a little at random so edges are fractional."""
        hard = torch.randint(0, parts, (batch, h, w), generator=generator)                   # (B, H, W)
        one_hot = torch.nn.functional.one_hot(hard, parts).permute(0, 3, 1, 2).float()       # (B, K+1, H, W)
        soft = torch.softmax(torch.randn(batch, parts, h, w, generator=generator), dim=1)    # (B, K+1, H, W)
        return 0.8 * one_hot + 0.2 * soft

    source, driving = labels(2, 4, 10, 12), labels(2, 4, 10, 12)
    flow = make_coordinate_grid((10, 12))[None] + 0.4 * (torch.rand(2, 10, 12, 2, generator=generator) - 0.5)
    far = flow + torch.tensor([0.9, 0.0])                                                      # partly outside S
    cases = [
        ("B=2, K+1=4, a small random flow", (source, driving, flow), {}),
        ("a flow that reads partly outside the source (nothing visible there)", (source, driving, far), {}),
        ("identity flow, same labels: everything visible", (source, source, make_coordinate_grid((10, 12))
                                                            .expand(2, 10, 12, 2).clone()), {}),
        ("driving frame at another size (6×8)", (source, driving[:, :, :6, :8], flow[:, :6, :8]), {}),
        ("align_corners=False", (source, driving, flow), {"align_corners": False}),
    ]

    def unwarped(source_labels, driving_labels, deformation, align_corners=True):
        resized = torch.nn.functional.interpolate(source_labels, size=driving_labels.shape[2:], mode="bilinear",
                                                  align_corners=False)                       # (B, K+1, h, w)
        return (resized * driving_labels).sum(1, keepdim=True).clamp(0, 1)

    def driving_warped(source_labels, driving_labels, deformation, align_corners=True):
        warped = warp_image(driving_labels, deformation, align_corners=align_corners)        # (B, K+1, h, w)
        return (warped * torch.nn.functional.interpolate(source_labels, size=driving_labels.shape[2:],
                                                         mode="bilinear", align_corners=False)).sum(1, keepdim=True)

    def border(source_labels, driving_labels, deformation, align_corners=True):
        read = torch.nn.functional.grid_sample(source_labels, deformation, padding_mode="border",
                                               align_corners=align_corners)                   # (B, K+1, h, w)
        return (read * driving_labels).sum(1, keepdim=True).clamp(0, 1)

    def hard_labels(source_labels, driving_labels, deformation, align_corners=True):
        read = warp_image(source_labels, deformation, align_corners=align_corners)            # (B, K+1, h, w)
        return (read.argmax(1, keepdim=True) == driving_labels.argmax(1, keepdim=True)).float()

    hints = [
        Hint("the source's labels must be read where the flow points, at T̂(z): warp them with the "
             "deformation before comparing (warp_image or grid_sample).", unwarped),
        Hint("warp the source's labels, not the driving frame's: the flow is backward, driving pixel z → source "
             "position T̂(z), and the result lives in the driving frame.", driving_warped),
        Hint("pass align_corners on to grid_sample (its own default, False, is not ours).",
             lambda source_labels, driving_labels, deformation, **kw: ideal_occlusion_map(
                 source_labels, driving_labels, deformation)),
        Hint("pass align_corners on to grid_sample (its own default, False, is not ours).",
             lambda source_labels, driving_labels, deformation, **kw: ideal_occlusion_map(
                 source_labels, driving_labels, deformation, align_corners=False)),
        Hint("where T̂(z) falls outside the source nothing is visible: read the labels with zero padding "
             "(warp_image, or grid_sample's padding_mode='zeros'), not 'border' or 'reflection'.", border),
        Hint("keep the labels soft: multiply the two label maps and sum over the parts; comparing argmaxes "
             "turns the fractional edges into 0 or 1.", hard_labels),
        Hint("sum the product over the parts (dim 1) and keep that axis: the map is (B, 1, h, w), one value "
             "per pixel, not a mean over parts.",
             lambda *args, **kw: ideal_occlusion_map(*args, **kw) / args[0].shape[1]),
    ]
    return check_function(fn, ideal_occlusion_map, cases, name="ideal_occlusion_map", hints=hints)


# --- chapter 04 ---


def check_deform_input(fn: Callable) -> Callable:
    """Exercise 4.1: warp a feature map with a flow, resizing the flow first if its size differs."""
    from fomm_teach.generator import deform_input
    from fomm_teach.keypoints import make_coordinate_grid

    generator = seeded_generator(41)
    features = torch.rand(2, 5, 8, 8, generator=generator)                                    # (B, C, H, W)
    flow_same = torch.rand(2, 8, 8, 2, generator=generator) * 2.2 - 1.1                        # (B, H, W, 2)
    flow_large = torch.rand(2, 16, 16, 2, generator=generator) * 2 - 1                        # (B, 2H, 2W, 2)
    flow_other = torch.rand(2, 6, 10, 2, generator=generator) * 2 - 1                         # (B, 6, 10, 2)
    cases = [
        ("flow at the features' size (no resize)", (features, flow_same), {}),
        ("flow at twice the size (resized, align_corners=False)", (features, flow_large), {}),
        ("flow 6×10 for 8×8 features", (features, flow_other), {}),
        ("identity flow", (features, make_coordinate_grid((8, 8)).expand(2, 8, 8, 2).clone()), {}),
        ("align_corners=False in grid_sample", (features, flow_large), {"align_corners": False}),
    ]
    import torch.nn.functional as F

    def resized(mode, align):
        def wrong(inp, deformation, align_corners=True):
            flow = deformation.permute(0, 3, 1, 2)                                          # (B, 2, h, w)
            flow = F.interpolate(flow, size=inp.shape[2:], mode=mode, align_corners=align)  # (B, 2, H, W)
            return deform_input(inp, flow.permute(0, 2, 3, 1), align_corners=align_corners)
        return wrong

    def reshaped(inp, deformation, align_corners=True):
        """The flow resized after .reshape(B, 2, h, w) instead of a permute."""
        b, h, w, _ = deformation.shape
        if (h, w) != tuple(inp.shape[2:]):
            flow = F.interpolate(deformation.reshape(b, 2, h, w), size=inp.shape[2:], mode="bilinear",
                                 align_corners=False)                                    # (B, 2, H, W), scrambled
            deformation = flow.reshape(b, *inp.shape[2:], 2)                             # (B, H, W, 2)
        return F.grid_sample(inp, deformation, align_corners=align_corners)

    hints = [
        Hint("resize the flow bilinearly with align_corners=False, as the authors do (F.interpolate).",
             resized("bilinear", True)),
        Hint("resize the flow bilinearly (mode='bilinear', align_corners=False), not with the nearest pixel.",
             resized("nearest", None)),
        Hint("pass align_corners on to grid_sample (its own default, False, is not ours).",
             lambda inp, deformation, **kw: deform_input(inp, deformation)),
        Hint("pass align_corners on to grid_sample (its own default, False, is not ours).",
             lambda inp, deformation, **kw: deform_input(inp, deformation, align_corners=False)),
        Hint("(x, y) swapped: the flow holds (x, y) pairs, x along the width.",
             lambda inp, deformation, **kw: deform_input(inp, deformation.flip(-1), **kw)),
        Hint("move the flow's (x, y) axis with permute, (B, h, w, 2) → (B, 2, h, w) and back after "
             "F.interpolate; reshape or view keeps the memory order and scrambles the values.", reshaped),
        Hint("resize the flow to the features' size (H, W) first: grid_sample's output has the size of its "
             "grid, and the result must have the features' size.",
             lambda inp, deformation, align_corners=True: F.grid_sample(inp, deformation,
                                                                        align_corners=align_corners)),
    ]
    return check_function(fn, deform_input, cases, name="deform_input", hints=hints)


def check_warp_features(fn: Callable) -> Callable:
    """Exercise 4.2: paper Eq. 8, ξ' = Ô ⊙ f_w(ξ, T̂): warp the features, then multiply by the (resized) map."""
    import torch.nn.functional as F

    from fomm_teach.generator import deform_input, warp_features
    from fomm_teach.keypoints import make_coordinate_grid

    generator = seeded_generator(42)
    features = torch.randn(2, 4, 8, 8, generator=generator)                                   # (B, c, H', W')

    def motion(h, w, occlusion=True):
        flow = make_coordinate_grid((h, w))[None] + 0.5 * (torch.rand(2, h, w, 2, generator=generator) - 0.5)
        out = {"deformation": flow}                                                            # (B, h, w, 2)
        if occlusion:
            out["occlusion_map"] = torch.rand(2, 1, h, w, generator=generator)                 # (B, 1, h, w)
        return out

    same, larger = motion(8, 8), motion(16, 16)
    cases = [
        ("flow and map at the features' size", (features, same), {}),
        ("flow and map at twice the size (both resized)", (features, larger), {}),
        ("flow and map 6×10 for 8×8 features", (features, motion(6, 10)), {}),
        ("no occlusion map: the warp alone", (features, motion(8, 8, occlusion=False)), {}),
        ("all-zero map switches everything off", (features, {**same, "occlusion_map": torch.zeros(2, 1, 8, 8)}), {}),
        ("align_corners=False", (features, larger), {"align_corners": False}),
    ]

    def resized(occlusion_map, size, mode="bilinear", align=False):
        if occlusion_map.shape[2:] == size:
            return occlusion_map
        return F.interpolate(occlusion_map, size=size, mode=mode, align_corners=None if mode == "nearest" else align)

    def masked_before_warping(features, dense_motion, align_corners=True):
        if "occlusion_map" in dense_motion:
            features = features * resized(dense_motion["occlusion_map"], features.shape[2:])
        return deform_input(features, dense_motion["deformation"], align_corners)

    def blended(features, dense_motion, align_corners=True):
        warped = deform_input(features, dense_motion["deformation"], align_corners)
        if "occlusion_map" not in dense_motion:
            return warped
        occlusion = resized(dense_motion["occlusion_map"], features.shape[2:])
        return occlusion * warped + (1 - occlusion) * features

    def with_map(map_of):
        def wrong(features, dense_motion, align_corners=True):
            warped = deform_input(features, dense_motion["deformation"], align_corners)
            if "occlusion_map" not in dense_motion:
                return warped
            return warped * map_of(dense_motion["occlusion_map"], features.shape[2:])
        return wrong

    hints = [
        Hint("warp first, then multiply: the occlusion map is indexed by the driving frame's pixels z, "
             "like the flow, not by the source's.", masked_before_warping),
        Hint("Eq. 8 is a product ξ' = Ô ⊙ f_w(ξ, T̂), not a blend with the un-warped features.", blended),
        Hint("multiply by Ô itself, not by 1 − Ô: the map is 1 where the source shows the pixel.",
             with_map(lambda occlusion, size: 1 - resized(occlusion, size))),
        Hint("the occlusion map is not applied: multiply by dense_motion['occlusion_map'] when the dict has one.",
             lambda features, dense_motion, align_corners=True: deform_input(
                 features, dense_motion["deformation"], align_corners)),
        Hint("resize the map bilinearly with align_corners=False, as the authors do.",
             with_map(lambda occlusion, size: resized(occlusion, size, align=True))),
        Hint("resize the map bilinearly (mode='bilinear', align_corners=False), not with the nearest pixel.",
             with_map(lambda occlusion, size: resized(occlusion, size, mode="nearest"))),
        Hint("pass align_corners on to the warp (deform_input / grid_sample).",
             lambda features, dense_motion, align_corners=True: warp_features(features, dense_motion)),
    ]
    return check_function(fn, warp_features, cases, name="warp_features", hints=hints)


# --- chapter 06 ---


def _training_setup(generator_gan: float, size: int = 32, batch: int = 2):
    """(generator_full, discriminator_full, optimizers, x) of tiny synthetic-fast networks, seeded.

    The optimisers are plain SGD (lr 0.1): a parameter then moves by exactly lr × its gradient, so
    gradients left over from an earlier backward show up in the weights.
    """
    from fomm_teach.config import load_config
    from fomm_teach.losses import DiscriminatorFullModel, GeneratorFullModel
    from fomm_teach.models import build_models

    config = load_config("synthetic-fast")
    config["dataset_params"]["frame_shape"] = [size, size, 3]
    train_params = config["train_params"]
    train_params["loss_weights"]["generator_gan"] = generator_gan
    with torch.random.fork_rng():
        torch.manual_seed(6)
        models = build_models(config)
    generator_full = GeneratorFullModel(models["kp_detector"], models["generator"], models["discriminator"], train_params)
    discriminator_full = DiscriminatorFullModel(models["kp_detector"], models["generator"], models["discriminator"],
                                                train_params)
    optimizers = {name: torch.optim.SGD(model.parameters(), lr=0.1) for name, model in models.items()}
    generator = seeded_generator(60)
    source = torch.rand(batch, 3, size, size, generator=generator)                               # (B, 3, S, S)
    driving = torch.roll(source, shifts=(2, 3), dims=(2, 3))                                      # (B, 3, S, S)
    return generator_full, discriminator_full, optimizers, {"source": source, "driving": driving}


def _two_iterations(train_step_fn):
    """Wrap a train_step so that its output is comparable: two iterations on one batch, then every weight.

    Each iteration draws the same equivariance warp (seeded; the caller's random state is restored).
    Returns {'raised', 'losses', 'prediction', 'generator', 'kp_detector', 'discriminator'}: the
    NonFiniteLoss raised (or None), the losses of each iteration (stopping after a non-finite one),
    the last prediction, and each network's parameters flattened into one vector.
    """
    from fomm_teach.train import NonFiniteLoss

    def summary(generator_full, discriminator_full, optimizers, x):
        raised, losses, prediction = None, [], None
        with torch.random.fork_rng():
            for iteration in range(2):
                torch.manual_seed(100 + iteration)
                try:
                    result = train_step_fn(generator_full, discriminator_full, optimizers, x)
                except Exception as error:
                    # by name: a notebook's own NonFiniteLoss (its export cell, run) is another class object
                    if not isinstance(error, NonFiniteLoss) and type(error).__name__ != "NonFiniteLoss":
                        raise
                    raised = "NonFiniteLoss"
                    break
                if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], dict)):
                    raise TypeError(f"train_step returned {type(result).__name__}; it must return (losses, generated)")
                step_losses, generated = result
                for name, value in step_losses.items():
                    if isinstance(value, torch.Tensor):
                        raise TypeError(f"losses[{name!r}] is a tensor: store float(value.detach()), or the log "
                                        "keeps every iteration's whole graph alive")
                losses.append({name: torch.tensor(float(value), dtype=torch.float64)   # a tensor: nan == nan here
                               for name, value in step_losses.items()})
                prediction = generated["prediction"].detach()
                if not all(math.isfinite(value) for value in step_losses.values()):
                    break   # stepped on a nan: the networks now refuse their nan outputs
        networks = {"generator": generator_full.generator, "kp_detector": generator_full.kp_extractor,
                    "discriminator": generator_full.discriminator}
        weights = {name: torch.cat([p.detach().flatten() for p in network.parameters()])
                   for name, network in networks.items()}
        return {"raised": raised, "losses": losses, "prediction": prediction, **weights}

    return summary


def check_train_step(fn: Callable) -> Callable:
    """Exercise 6.1: one iteration of the authors' loop (generator + detector step, then the discriminator's)."""
    from fomm_teach.train import NonFiniteLoss, train_step

    diverged = _training_setup(0)
    with torch.no_grad():
        list(diverged[0].generator.parameters())[-1][0] = float("nan")   # the prediction, so the losses, turn nan
    cases = [
        ("no GAN (synthetic-fast): two iterations", _training_setup(0), {}),
        ("GAN on (generator_gan 1): two iterations", _training_setup(1), {}),
        ("a generator weight is nan (a diverged run): nothing may be stepped", diverged, {}),
    ]

    def step_all(optimizers, names, clear=True):
        for name in names:
            optimizers[name].step()
            if clear:
                optimizers[name].zero_grad()

    def discriminator_step(discriminator_full, optimizers, x, generated, losses, clear=True):
        if clear:
            optimizers["discriminator"].zero_grad()
        loss = sum(value.mean() for value in discriminator_full(x, generated).values())
        losses["disc_gan"] = float(loss.detach())
        loss.backward()
        step_all(optimizers, ["discriminator"])

    def variant(clear_generator=True, clear_discriminator=True, detector=True, discriminator="gan", weighted=False,
                finite_check=True):
        def wrong_train_step(generator_full, discriminator_full, optimizers, x, scaler=None):
            losses_generator, generated = generator_full(x)
            weights = generator_full.loss_weights
            values = {name: value.mean() * (_first(weights[name]) if weighted else 1)
                      for name, value in losses_generator.items()}
            losses = {name: float(value.detach()) for name, value in values.items()}
            if finite_check and not all(math.isfinite(value) for value in losses.values()):
                raise NonFiniteLoss(losses)
            sum(values.values()).backward()
            step_all(optimizers, ["generator", "kp_detector"] if detector else ["generator"], clear_generator)
            if discriminator == "always" or (discriminator == "gan" and weights["generator_gan"] != 0):
                discriminator_step(discriminator_full, optimizers, x, generated, losses, clear_discriminator)
            return losses, generated

        return wrong_train_step

    hints = [
        Hint("clear the generator's and the keypoint detector's gradients after their step (zero_grad): backward "
             "adds to .grad, so the next iteration would step on the sum of both iterations' gradients.",
             variant(clear_generator=False)),
        Hint("clear the discriminator's gradients before its own backward: the generator's GAN and feature-matching "
             "losses left gradients in it, and its step must follow its own loss only.",
             variant(clear_discriminator=False)),
        Hint("step the keypoint detector's optimiser too: the generator's losses train both networks.",
             variant(detector=False)),
        Hint("with loss_weights['generator_gan'] == 0 the authors neither run nor step the discriminator.",
             variant(discriminator="always")),
        Hint("the losses of generator_full are already weighted: sum them as they are.", variant(weighted=True)),
        Hint("check that every loss is finite before backward, and raise NonFiniteLoss(losses) if one is not: "
             "one nan step spreads nan into every weight.", variant(finite_check=False)),
    ]
    return check_function(fn, train_step, cases, name="train_step", adapt=_two_iterations, hints=hints,
                          timeout=max(CALL_TIMEOUT_S, 30))


def _first(weight):
    """A loss weight as one number (the pyramid weights are lists; the first stands for all)."""
    return weight[0] if isinstance(weight, (list, tuple)) else weight


def check_linear_fit_r2(fn: Callable) -> Callable:
    """Exercise 6.2: least squares with a bias on the fit rows, R² = 1 − SS_res / SS_tot on the scored rows."""
    from fomm_teach.evaluate import linear_fit_r2

    generator = seeded_generator(62)
    features = torch.randn(40, 6, generator=generator)                                            # (N, F)
    mixing = torch.randn(6, 4, generator=generator)                                               # (F, D)
    offset = torch.tensor([3.0, -2.0, 0.5, 1.0])
    targets = features @ mixing + offset + 0.3 * torch.randn(40, 4, generator=generator)         # (N, D)
    scaled = targets * torch.tensor([1.0, 10.0, 0.1, 1.0])                                        # columns of other spread
    cases = [
        ("linear targets with an offset and noise", (features[:24], targets[:24], features[24:], targets[24:]), {}),
        ("columns with very different spreads", (features[:24], scaled[:24], features[24:], scaled[24:]), {}),
        ("unrelated targets (R² near or below 0)",
         (features[:24], torch.randn(24, 2, generator=generator), features[24:], torch.randn(16, 2, generator=generator)),
         {}),
    ]

    def no_bias(features_fit, targets_fit, features_score, targets_score):
        weights = torch.linalg.lstsq(features_fit.double(), targets_fit.double()).solution
        prediction = features_score.double() @ weights
        targets = targets_score.double()
        total = ((targets - targets.mean(0, keepdim=True)) ** 2).sum()
        return float(1 - ((targets - prediction) ** 2).sum() / total), prediction.float()

    def scored_on_fit_rows(features_fit, targets_fit, features_score, targets_score):
        return linear_fit_r2(features_fit, targets_fit, features_fit, targets_fit)

    def one_mean(features_fit, targets_fit, features_score, targets_score):
        r2, prediction = linear_fit_r2(features_fit, targets_fit, features_score, targets_score)
        targets = targets_score.double()
        residual = ((targets - prediction.double()) ** 2).sum()
        return float(1 - residual / ((targets - targets.mean()) ** 2).sum()), prediction

    def ratio(features_fit, targets_fit, features_score, targets_score):
        r2, prediction = linear_fit_r2(features_fit, targets_fit, features_score, targets_score)
        return 1 - r2, prediction

    hints = [
        Hint("append a column of ones to the features (a bias): the parts' positions are not 0 where the "
             "keypoints are 0.", no_bias),
        Hint("score on the held-out rows (features_score, targets_score), not on the rows the map was fitted on.",
             scored_on_fit_rows),
        Hint("SS_tot is about each target column's own mean (mean over rows, dim 0), not one mean of everything.",
             one_mean),
        Hint("R² = 1 − SS_res / SS_tot: you returned the ratio itself.", ratio),
    ]
    return check_function(fn, linear_fit_r2, cases, name="linear_fit_r2", atol=1e-4, rtol=1e-4, hints=hints)


# --- chapter 07 ---


def _point_sets(generator: torch.Generator) -> list[torch.Tensor]:
    """Point sets whose hull areas are known or random: a unit square with an inside point, a line, ..."""
    square = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.4, 0.6]]])  # area 1
    return [square, torch.rand(3, 10, 2, generator=generator) * 2 - 1]


def check_convex_hull_area(fn: Callable) -> Callable:
    """Exercise 7.1: the area of each point set's convex hull (monotone chain + shoelace)."""
    from fomm_teach.animate import convex_hull_area

    square, random_sets = _point_sets(seeded_generator(71))
    cases = [
        ("a unit square with one point inside (area 1)", (square,), {}),
        ("three random sets of 10 keypoints", (random_sets,), {}),
        ("a triangle given clockwise", (torch.tensor([[[0.0, 0.0], [0.0, 2.0], [3.0, 0.0]]]),), {}),
        ("points on one line (area 0)", (torch.tensor([[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [-1.0, -1.0]]]),), {}),
        ("two points (area 0)", (torch.tensor([[[0.0, 0.0], [1.0, 0.5]]]),), {}),
        ("repeated points", (torch.tensor([[[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]]),), {}),
    ]

    def polygon_area_in_given_order(points):
        areas = []
        for point_set in points.double().tolist():
            twice = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(point_set, point_set[1:] + point_set[:1]))
            areas.append(abs(twice) / 2)
        return torch.tensor(areas, dtype=points.dtype)

    hints = [
        Hint("this is the shoelace formula over the points in the order given: only the hull's vertices, in "
             "order around the hull, make the polygon whose area we want.", polygon_area_in_given_order),
        Hint("the shoelace sum is twice the area: divide by 2.", lambda points: 2 * convex_hull_area(points)),
    ]
    return check_function(fn, convex_hull_area, cases, name="convex_hull_area", hints=hints)


def check_normalize_kp(fn: Callable) -> Callable:
    """Exercise 7.2: absolute, relative and relative-with-scale keypoints (the authors' normalize_kp)."""
    from fomm_teach.animate import normalize_kp

    generator = seeded_generator(72)
    kp_source, kp_initial = _keypoints(generator, 1, 5, True), _keypoints(generator, 1, 5, True)
    kp_driving = _keypoints(generator, 3, 5, True)
    small_source = {"value": 0.5 * kp_source["value"], "jacobian": kp_source["jacobian"]}
    relative = {"use_relative_movement": True, "use_relative_jacobian": True}
    cases = [
        ("absolute: the driving keypoints as they are", (kp_source, kp_driving, kp_initial), {}),
        ("relative values and Jacobians", (kp_source, kp_driving, kp_initial), relative),
        ("relative, with movement-scale adaptation (a source half the size)",
         (small_source, kp_driving, kp_initial), {**relative, "adapt_movement_scale": True}),
        ("relative values only (use_relative_jacobian=False)", (kp_source, kp_driving, kp_initial),
         {"use_relative_movement": True}),
        ("no motion: the driving frame is the initial one", (kp_source, kp_initial, kp_initial), relative),
        ("a detector without Jacobians", ({"value": kp_source["value"]}, {"value": kp_driving["value"]},
                                          {"value": kp_initial["value"]}), relative),
        ("a scale per batch element: two sources, the second half the size of the first",
         ({key: torch.cat([value, value]) for key, value in small_source.items()} | {
             "value": torch.cat([kp_source["value"], small_source["value"]])},
          {key: value[:2] for key, value in kp_driving.items()}, kp_initial),
         {**relative, "adapt_movement_scale": True}),
    ]

    def with_jacobian(product):
        def wrong(kp_source, kp_driving, kp_driving_initial, **flags):
            out = normalize_kp(kp_source, kp_driving, kp_driving_initial, **flags)
            if flags.get("use_relative_movement") and flags.get("use_relative_jacobian") and "jacobian" in kp_driving:
                out["jacobian"] = product(kp_source["jacobian"], kp_driving["jacobian"], kp_driving_initial["jacobian"])
            return out
        return wrong

    def scaled_both_ways(kp_source, kp_driving, kp_driving_initial, **flags):
        out = normalize_kp(kp_source, kp_driving, kp_driving_initial, **flags)
        if flags.get("adapt_movement_scale") and flags.get("use_relative_movement"):
            flipped = normalize_kp(kp_driving_initial, kp_driving, kp_source, **flags)  # scale area(p_d0)/area(p_s)
            out["value"] = kp_source["value"] + (flipped["value"] - kp_driving_initial["value"])
        return out

    def unshaped_scale(kp_source, kp_driving, kp_driving_initial, **flags):
        out = normalize_kp(kp_source, kp_driving, kp_driving_initial, **flags)
        if flags.get("adapt_movement_scale") and flags.get("use_relative_movement"):
            from fomm_teach.animate import movement_scale
            displacement = kp_driving["value"] - kp_driving_initial["value"]                       # (B, K, 2)
            scale = movement_scale(kp_source, kp_driving_initial)                                  # (B,)
            if scale.shape[0] in (1, displacement.shape[-1]):
                out["value"] = kp_source["value"] + displacement * scale                          # wrong broadcast
        return out

    def first_element_scale(kp_source, kp_driving, kp_driving_initial, **flags):
        first = {key: value[:1] for key, value in kp_source.items()}
        out = normalize_kp(kp_source, kp_driving, kp_driving_initial, **flags)
        if flags.get("adapt_movement_scale") and flags.get("use_relative_movement"):
            from fomm_teach.animate import movement_scale
            scale = movement_scale(first, kp_driving_initial)[:, None, None]                       # (1, 1, 1)
            out["value"] = kp_source["value"] + scale * (kp_driving["value"] - kp_driving_initial["value"])
        return out

    def scaled_jacobians(kp_source, kp_driving, kp_driving_initial, **flags):
        out = normalize_kp(kp_source, kp_driving, kp_driving_initial, **flags)
        if flags.get("adapt_movement_scale") and flags.get("use_relative_movement") and "jacobian" in out:
            from fomm_teach.animate import movement_scale
            out["jacobian"] = out["jacobian"] * movement_scale(kp_source, kp_driving_initial)[:, None, None, None]
        return out

    hints = [
        Hint("the Jacobian product is in the wrong order: (J_d · J_d0⁻¹) · J_s, the driving change applied "
             "on the left of the source's Jacobian.",
             with_jacobian(lambda j_s, j_d, j_0: j_s @ j_d @ torch.inverse(j_0))),
        Hint("J_d0 must be inverted: the change since the initial frame is J_d · J_d0⁻¹.",
             with_jacobian(lambda j_s, j_d, j_0: j_d @ j_0 @ j_s)),
        Hint("the displacement is p_d − p_d0 (driving minus initial), added to p_s.",
             lambda kp_source, kp_driving, kp_driving_initial, **flags: {
                 **normalize_kp(kp_source, kp_driving, kp_driving_initial, **flags),
                 **({"value": kp_source["value"] - (kp_driving["value"] - kp_driving_initial["value"])}
                    if flags.get("use_relative_movement") else {})}),
        Hint("the scale is sqrt(area(hull(p_s)) / area(hull(p_d0))): source over initial driving frame.",
             scaled_both_ways),
        Hint("the scale is one number per batch element: reshape s (B,) to (B, 1, 1) before multiplying the "
             "(B, K, 2) displacement.", unshaped_scale),
        Hint("the scale is read from batch element 0 only (as the authors do): compute it for every element.",
             first_element_scale),
        Hint("the scale multiplies the displacement only: a Jacobian has no size, leave it unscaled.",
             scaled_jacobians),
    ]
    return check_function(fn, normalize_kp, cases, name="normalize_kp", hints=hints)


def _tiny_generator(seed: int):
    """A small OcclusionAwareGenerator (16×16 frames, 3 keypoints) with seeded weights, in eval mode."""
    from fomm_teach.generator import OcclusionAwareGenerator

    torch.manual_seed(seed)
    generator = OcclusionAwareGenerator(
        num_channels=3, num_kp=3, block_expansion=8, max_features=32, num_down_blocks=2,
        num_bottleneck_blocks=1, estimate_occlusion_map=True,
        dense_motion_params={"block_expansion": 8, "max_features": 32, "num_blocks": 2, "scale_factor": 0.5})
    return generator.eval()


def check_generate_frames(fn: Callable) -> Callable:
    """Exercise 7.3: the generator's per-frame steps from a source encoded once."""
    from fomm_teach.animate import generate_frames, prepare_source

    generator = seeded_generator(73)
    model = _tiny_generator(73)
    source = torch.rand(1, 3, 16, 16, generator=generator)
    with torch.no_grad():
        cache = prepare_source(model, source)
    kp_source, kp_norm = _keypoints(generator, 1, 3, True), _keypoints(generator, 4, 3, True)
    cases = [
        ("4 driving keypoint sets, one source", (model, cache, kp_source, kp_norm), {}),
        ("1 driving keypoint set", (model, cache, kp_source, {key: v[:1] for key, v in kp_norm.items()}), {}),
    ]

    def without_occlusion(model, cache, kp_source, kp_norm):
        batch = kp_norm["value"].shape[0]
        kp_source = {key: value.expand(batch, *value.shape[1:]) for key, value in kp_source.items()}
        motion = model.dense_motion_network.predict_motion(cache["downsampled"].expand(batch, -1, -1, -1), kp_norm, kp_source)
        motion = {key: value for key, value in motion.items() if key != "occlusion_map"}
        return model.decode(model.warp_features(cache["features"].expand(batch, -1, -1, -1), motion))

    hints = [
        Hint("the occlusion map is not applied: warp_features applies it when the dense motion's dict has one.",
             without_occlusion),
    ]
    return check_function(fn, generate_frames, cases, name="generate_frames", atol=1e-5, hints=hints)
