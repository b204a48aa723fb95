"""What the book's notebooks need: framework cell magics, `use`, and `show_source`.

Importing this module inside IPython registers the cell magics `%%pytorch` and `%%tensorflow`.
A framework cell runs its body in the user namespace (so its variables persist, exactly as a plain
cell); when that framework is turned off (`use("pytorch")` or the environment variable
`RECBOOK_FRAMEWORKS=pytorch`) the cell prints one line saying it was skipped and how to turn it on.

`to_numpy(x)` turns a tensor of either framework, on any device, into a numpy array (a model
trained on a GPU is inspected without moving it). Importing this module also prepares the kernel
for both frameworks (recbook/frameworks.py): torch._dynamo before TensorFlow where triton is
installed, and TensorFlow's GPU memory growth.

`show_source(obj)` renders the source of a recbook function, class or method straight from the
installed package, so the book never keeps a second copy of tested code.
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import html
import importlib
import inspect
import os
import sys
from pathlib import Path
from typing import Callable

from recbook import frameworks
from recbook.arrays import to_numpy  # noqa: F401  (the chapters' one way from a tensor to numpy)

# Before a chapter's first TensorFlow cell: TF's GPU memory grows on demand (TensorFlow reads this
# when it initialises a GPU), and torch._dynamo comes before TensorFlow where triton is installed.
os.environ.setdefault(frameworks.GROWTH_ENV, "true")
frameworks.torch_first()

FRAMEWORKS = ("pytorch", "tensorflow")
_LABELS = {"pytorch": "PyTorch", "tensorflow": "TensorFlow"}
ENV_VAR = "RECBOOK_FRAMEWORKS"

_enabled: set[str] | None = None  # None: not chosen in this session, read the environment


def _parse(names) -> set[str]:
    chosen = set()
    for name in names:
        for part in str(name).replace(",", " ").split():
            part = part.strip().lower()
            if part in ("all", "both"):
                chosen.update(FRAMEWORKS)
            elif part in FRAMEWORKS:
                chosen.add(part)
            else:
                raise ValueError(
                    f"unknown framework {part!r}: expected one of {', '.join(FRAMEWORKS)} or 'all'"
                )
    if not chosen:
        raise ValueError(f"no framework given: expected one of {', '.join(FRAMEWORKS)} or 'all'")
    return chosen


def use(*frameworks: str) -> tuple[str, ...]:
    """Run only these frameworks' cells: `use("pytorch")`, `use("tensorflow")`, `use("all")`.

    Returns the frameworks now enabled. Overrides the environment variable RECBOOK_FRAMEWORKS.
    """
    global _enabled
    _enabled = _parse(frameworks)
    return enabled()


def enabled() -> tuple[str, ...]:
    """The frameworks whose cells run: set by `use`, else by RECBOOK_FRAMEWORKS, else both."""
    if _enabled is not None:
        chosen = _enabled
    else:
        raw = os.environ.get(ENV_VAR, "").strip()
        try:
            chosen = _parse([raw]) if raw else set(FRAMEWORKS)
        except ValueError as err:
            raise ValueError(f"environment variable {ENV_VAR}={raw!r}: {err}") from None
    return tuple(f for f in FRAMEWORKS if f in chosen)


def skip_message(framework: str) -> str:
    """The one line a switched-off framework cell prints instead of running."""
    others = " and ".join(_LABELS[f] for f in enabled()) or "nothing"
    return (
        f"[recbook] {_LABELS[framework]} cell skipped (running {others} only); "
        f'turn it on with recbook.book.use("all") or unset {ENV_VAR}.'
    )


def run_framework_cell(framework: str, cell: str, shell=None):
    """Run `cell` as if it were a plain cell, unless `framework` is switched off.

    The body goes through IPython's input transformers (so `%time` and friends work), runs in the
    user namespace, and the value of a trailing expression is returned so that IPython displays
    it as a normal cell's `Out[...]`. Exceptions propagate, so a failing framework cell fails the
    notebook (and the book build) just like a plain cell.
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}: expected one of {FRAMEWORKS}")
    if framework not in enabled():
        print(skip_message(framework))
        return None
    if framework == "tensorflow":
        frameworks.prepare_tensorflow()  # import order and GPU memory growth, before the cell's first op
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    code = shell.transform_cell(cell) if shell is not None else cell
    namespace = shell.user_ns if shell is not None else sys.modules["__main__"].__dict__
    # Register the source with linecache so that tracebacks show the reader's lines.
    filename = shell.compile.cache(code) if shell is not None else f"<{framework} cell>"
    tree = ast.parse(code, filename=filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec"), namespace)
    if last is not None:
        return eval(compile(last, filename, "eval"), namespace)
    return None


def _pytorch(line, cell):
    return run_framework_cell("pytorch", cell)


def _tensorflow(line, cell):
    return run_framework_cell("tensorflow", cell)


def load_ipython_extension(shell) -> None:
    """Register `%%pytorch` and `%%tensorflow` (also what `%load_ext recbook.book` calls)."""
    shell.register_magic_function(_pytorch, magic_kind="cell", magic_name="pytorch")
    shell.register_magic_function(_tensorflow, magic_kind="cell", magic_name="tensorflow")


def _register_in_running_ipython() -> None:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return
    shell = ipython.get_ipython()
    if shell is not None:
        load_ipython_extension(shell)


def inference(model):
    """A context for scoring ``model`` in a cell that serves both frameworks: ``torch.no_grad()``
    for a PyTorch module (no autograd graph), nothing for a Keras model (eager calls build none).
    torch is imported only for a PyTorch model, so a TensorFlow-only notebook never loads it."""
    if hasattr(model, "parameters") and hasattr(model, "state_dict"):  # a torch.nn.Module
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()


TWINS = {"PyTorch": "torch", "TensorFlow": "tf"}  # a Framework's name -> its package


@dataclasses.dataclass
class Framework:
    """What a chapter's training runs need from one framework, so that one function serves
    both twins (the chapters' ``PT`` and ``TF``; ``FW`` is the one a shared cell uses): its
    ``build`` (``recbook.torch.build`` or ``recbook.tf.build``), ``fit``, ``predict`` and
    seeding function, the optimiser a chapter passes to ``fit`` where it is not Adam
    (GRU4Rec's ``adagrad_m``), and optionally a chapter's headline model and its history."""
    name: str  # "PyTorch" or "TensorFlow"
    build: Callable
    fit: Callable
    predict: Callable | None = None
    seed: Callable | None = None
    optimizer: Callable | None = None
    model: object = None
    history: object = None

    def __post_init__(self):
        if self.name not in TWINS:
            raise ValueError(f"Framework name must be 'PyTorch' or 'TensorFlow', got "
                             f"{self.name!r}")

    @classmethod
    def of(cls, twin: str) -> "Framework":
        """The Framework of a twin named as its package, "torch" or "tf", imported from that
        twin only: its build, fit, predict and seed_everything, and GRU4Rec's ``adagrad_m``
        as the optimiser (what ``recbook.compare`` runs every model with)."""
        if twin not in TWINS.values():
            raise ValueError(f"framework must be one of {tuple(TWINS.values())}, got {twin!r}")
        name = next(k for k, v in TWINS.items() if v == twin)
        train = importlib.import_module(f"recbook.{twin}.train")
        return cls(name, importlib.import_module(f"recbook.{twin}").build, train.fit,
                   train.predict, train.seed_everything,
                   optimizer=importlib.import_module(f"recbook.{twin}.gru4rec").adagrad_m)

    def module(self, name: str):
        """This twin's module ``recbook.<torch|tf>.<name>``, e.g. ``module("youtube_dnn")``."""
        return importlib.import_module(f"recbook.{TWINS[self.name]}.{name}")

    @property
    def workers(self) -> int | None:
        """For ``recbook.parallel``: PyTorch's runs side by side on a multi-core CPU (None: the
        default), TensorFlow's in turn (1: its runtime does not survive a fork)."""
        return None if self.name == "PyTorch" else 1


# ---------------------------------------------------------------------------------------- source

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the folder that holds recbook/


class Source:
    """A piece of recbook's source: `path` (relative to the package's parent), first line, text.

    Renders highlighted HTML in a notebook (`_repr_html_`) and plain numbered text elsewhere.
    """

    def __init__(self, path: str, first_line: int, code: str, qualname: str):
        self.path, self.first_line, self.code, self.qualname = path, first_line, code, qualname

    @property
    def last_line(self) -> int:
        return self.first_line + len(self.code.splitlines()) - 1

    @property
    def header(self) -> str:
        return f"{self.path}, lines {self.first_line}-{self.last_line} ({self.qualname})"

    def __str__(self) -> str:
        width = len(str(self.last_line))
        body = "\n".join(
            f"{n:>{width}} | {text}"
            for n, text in enumerate(self.code.splitlines(), start=self.first_line)
        )
        return f"# {self.header}\n{body}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        # Inline styles (noclasses) so the colours survive Colab, Jupyter and the book alike.
        formatter = HtmlFormatter(
            noclasses=True, linenos="inline", linenostart=self.first_line, style="friendly"
        )
        code = highlight(self.code, PythonLexer(), formatter)
        return (
            '<div class="recbook-source">'
            f'<div class="recbook-source-header"><code>{html.escape(self.header)}</code></div>'
            f"{code}</div>"
        )


def source_of(obj, lines: tuple[int, int] | None = None) -> Source:
    """The source of a recbook function, class or method, from the installed package.

    `lines=(first, last)` keeps part of it: 1-based and inclusive, counted from the object's first
    line (the `def`/`class` line, or its first decorator, is line 1).
    """
    target = inspect.unwrap(getattr(obj, "__func__", obj))
    if isinstance(target, property):
        target = target.fget
    module = inspect.getmodule(target)
    name = getattr(module, "__name__", "")
    if not (name == "recbook" or name.startswith("recbook.")):
        raise TypeError(
            f"show_source shows recbook's own code; got {obj!r} from module {name or 'unknown'!r}"
        )
    try:
        code_lines, start = inspect.getsourcelines(target)
    except (OSError, TypeError) as err:
        raise TypeError(f"no source available for {obj!r}: {err}") from None
    start = max(start, 1)  # a module's source starts at line 0 in inspect's count
    if lines is not None:
        first, last = lines
        if not (1 <= first <= last <= len(code_lines)):
            raise ValueError(
                f"lines={lines!r} out of range: {getattr(target, '__qualname__', name)} has "
                f"{len(code_lines)} lines, so 1 <= first <= last <= {len(code_lines)}"
            )
        code_lines, start = code_lines[first - 1 : last], start + first - 1
    file = Path(inspect.getsourcefile(target)).resolve()
    try:
        path = file.relative_to(_PACKAGE_ROOT).as_posix()
    except ValueError:  # installed as a regular (non-editable) package elsewhere
        path = file.as_posix()[file.as_posix().rfind("recbook/") :]
    qualname = getattr(target, "__qualname__", name)
    return Source(path, start, "".join(code_lines).rstrip("\n"), f"{name}.{qualname}")


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def show_source(obj, lines: tuple[int, int] | None = None) -> None:
    """Show a recbook object's source: highlighted in a notebook, numbered text in a terminal."""
    src = source_of(obj, lines)
    if _in_notebook():
        from IPython.display import display

        display(src)
    else:
        print(src)


_register_in_running_ipython()
