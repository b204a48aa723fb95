"""Every paper claim the book tests, the one rule that turns measurements into a verdict, and
the records of the verdicts each chapter measured.

* ``CLAIMS``: id -> :class:`Claim` (paper, the claim in words, chapter and section label).
* the rule, written once: :func:`effect` (one ordering on one metric: the gap against the
  seed-to-seed noise -> "reproduced", "reproduced (small effect)", "tie / within noise",
  "reversed", or "cannot tell (one seed)") and :func:`combine` (several metrics or orderings:
  the weakest part, "mixed" for a win beside a reversal); ``verdict(results, order, metrics)``
  applies both. The book explains it once, in chapters/summary.md, label ``summary-verdict-rule``.
* ``check(claim_id, results, order, metrics, dataset)``: apply the rule to a chapter's numbers,
  write the record (verdict, evidence in full, dataset, runs per result) and return it;
  ``record(claim_id, verdict, evidence, dataset)`` writes one directly.
* ``table(chapter=None)``: the recorded verdicts, one column per dataset (built-in
  "synthetic" and "movielens-100k" always); a claim without a record says which chapter to
  run. ``html_table`` is the same for a book page.

Records are small JSON files, one per (claim, dataset), in ``claims_dir()``: ``$RECBOOK_CLAIMS``
when set, else ``<recbook data cache>/claims`` (``recbook.data.fetch.cache_dir``, itself moved
by ``$RECBOOK_DATA``). A book build executes the chapters in docname order, so the model
chapters write their records before chapters/summary reads them.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPRODUCED = "reproduced"
SMALL = "reproduced (small effect)"
TIE = "tie / within noise"
REVERSED = "reversed"
MIXED = "mixed"
ONE_SEED = "cannot tell (one seed)"
VERDICTS = (REPRODUCED, SMALL, TIE, REVERSED, MIXED, ONE_SEED)
BEYOND = 2.0  # the gap must exceed this many standard errors of the gap to count
LARGE = 3.0   # ... and this many seed standard deviations to be a large effect
ENV_VAR = "RECBOOK_CLAIMS"
DATASETS = {"synthetic": "built-in", "movielens-100k": "MovieLens-100K"}  # always shown


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str  # bib key in chapters/references.bib
    text: str
    chapter: str  # chapter file stem: chapters/<chapter>.md
    label: str  # MyST label of the section that tests it

    @property
    def link(self) -> str:
        """The section's address in the built HTML book (relative to a chapter page)."""
        return f"{self.chapter}.html#{self.label}"


def _claims(*rows) -> dict[str, Claim]:
    return {r[0]: Claim(*r) for r in rows}


CLAIMS: dict[str, Claim] = _claims(
    ("din.beats_base", "zhou2018din", "DIN beats the Base model (AUC, GAUC)", "din", "din-claims"),
    ("din.attention_relevant", "zhou2018din",
     "DIN's activation weights pick the behaviours related to the ad", "din", "din-claims"),
    ("din.dice_beats_prelu", "zhou2018din", "Dice beats PReLU", "din", "din-claims"),
    ("din.mba_helps", "zhou2018din", "mini-batch aware regularisation improves DIN",
     "din", "din-claims"),
    ("din.raw_beats_softmax", "zhou2018din",
     "unnormalised weights (no softmax) beat normalised ones", "din", "din-claims"),
    ("dien.beats_din", "zhou2019dien", "DIEN beats DIN (AUC)", "dien", "dien-claims"),
    ("dien.aux_helps", "zhou2019dien", "the auxiliary loss improves DIEN", "dien", "dien-claims"),
    ("dien.augru_best", "zhou2019dien", "AUGRU beats AIGRU and AGRU", "dien", "dien-claims"),
    ("bst.beats_din", "chen2019bst", "BST beats DIN (AUC)", "bst", "bst-claims"),
    ("bst.one_block_best", "chen2019bst", "one Transformer block (b = 1) beats two",
     "bst", "bst-claims"),
    ("bst.time_positions", "chen2019bst",
     "time-gap positions beat index positions and no positions", "bst", "bst-claims"),
    ("gru4rec.beats_baselines", "hidasi2016gru4rec",
     "GRU4Rec beats item-kNN, which beats most popular (Recall@20, MRR@20)",
     "gru4rec", "gru4rec-claims"),
    ("gru4rec.xe_samples_best", "hidasi2018topk",
     "cross-entropy with extra samples beats TOP1 and BPR on mini-batch negatives",
     "gru4rec", "gru4rec-claims"),
    ("mind.beats_youtube", "li2019mind", "MIND beats YouTube DNN", "mind", "mind-claims"),
    ("mind.several_interests", "li2019mind", "several interests (K = 4) beat one (K = 1)",
     "mind", "mind-claims"),
    ("mind.label_aware_p", "li2019mind",
     "label-aware attention: p = 2 beats p = 0 (a mean of the interests)", "mind", "mind-claims"),
    ("mind.capsules_cluster", "li2019mind",
     "the capsules cluster a user's behaviours by interest (NMI above chance)",
     "mind", "mind-claims"),
    ("comirec.dr_beats_mind", "cen2020comirec", "ComiRec-DR beats MIND (Recall@50)",
     "comirec", "comirec-claims"),
    ("comirec.sa_beats_mind", "cen2020comirec", "ComiRec-SA beats MIND (Recall@50)",
     "comirec", "comirec-claims"),
    ("comirec.mind_beats_youtube", "cen2020comirec", "MIND beats YouTube DNN (Recall@50)",
     "comirec", "comirec-claims"),
    ("comirec.controllable_dr", "cen2020comirec",
     "ComiRec-DR: a larger λ raises diversity (Diversity@50)", "comirec", "comirec-claims"),
    ("comirec.controllable_sa", "cen2020comirec",
     "ComiRec-SA: a larger λ raises diversity (Diversity@50)", "comirec", "comirec-claims"),
    # The same orderings measured across chapters in the comparison chapter: one dataset and
    # split per family, one budget, 3 seeds. Their own ids, because their experiment differs
    # from the chapter's (a record never overwrites the chapter's verdict).
    ("summary.din_beats_base", "zhou2018din", "DIN beats Base (one budget, 3 seeds)",
     "summary", "summary-ranking"),
    ("summary.dien_beats_din", "zhou2019dien", "DIEN beats DIN (one budget, 3 seeds)",
     "summary", "summary-ranking"),
    ("summary.bst_beats_din", "chen2019bst", "BST beats DIN (one budget, 3 seeds)",
     "summary", "summary-ranking"),
    ("summary.gru4rec_beats_baselines", "hidasi2016gru4rec",
     "GRU4Rec beats item-kNN, which beats most popular (ComiRec's protocol, 3 seeds)",
     "summary", "summary-retrieval"),
    ("summary.mind_beats_youtube", "li2019mind", "MIND beats YouTube DNN (3 seeds)",
     "summary", "summary-retrieval"),
    ("summary.comirec_dr_beats_mind", "cen2020comirec", "ComiRec-DR beats MIND (3 seeds)",
     "summary", "summary-retrieval"),
    ("summary.comirec_sa_beats_mind", "cen2020comirec", "ComiRec-SA beats MIND (3 seeds)",
     "summary", "summary-retrieval"),
)

# Ids from before ComiRec-DR and ComiRec-SA got a row each. ``check`` still accepts them so an
# older chapter runs: a split map sends each (better, worse) pair to the row of the model it
# names; ``None`` (the values pool both models, nothing to split by) records under the old id,
# which no table shows.
LEGACY: dict[str, dict | None] = {
    "comirec.beats_mind": {"ComiRec-DR": "comirec.dr_beats_mind",
                           "ComiRec-SA": "comirec.sa_beats_mind"},
    "summary.comirec_beats_mind": {"ComiRec-DR": "summary.comirec_dr_beats_mind",
                                   "ComiRec-SA": "summary.comirec_sa_beats_mind"},
    "comirec.controllable": None,
}
_LEGACY_CLAIMS = _claims(
    ("comirec.beats_mind", "cen2020comirec", "ComiRec (DR or SA) beats MIND (Recall@50)",
     "comirec", "comirec-claims"),
    ("summary.comirec_beats_mind", "cen2020comirec",
     "ComiRec-DR and ComiRec-SA beat MIND (3 seeds)", "summary", "summary-retrieval"),
    ("comirec.controllable", "cen2020comirec",
     "a larger λ raises diversity (Diversity@50; DR and SA pooled)", "comirec", "comirec-claims"),
)

CHAPTER_TITLES = {"din": "DIN", "dien": "DIEN", "bst": "BST", "gru4rec": "GRU4Rec",
                  "mind": "MIND", "comirec": "ComiRec", "summary": "Comparison"}


def claim(claim_id: str) -> Claim:
    if claim_id in _LEGACY_CLAIMS:
        return _LEGACY_CLAIMS[claim_id]
    if claim_id not in CLAIMS:
        raise ValueError(f"unknown claim id {claim_id!r}; known: {', '.join(CLAIMS)}")
    return CLAIMS[claim_id]


# --------------------------------------------------------------------------------- the rule

@dataclass(frozen=True)
class Effect:
    """One ordering on one metric: ``gap`` = mean(better) - mean(worse); ``sd``: the pooled
    seed standard deviation; ``se``: the standard error of the gap; ``d = gap / sd`` (the gap in
    seed standard deviations) and ``t = gap / se``; ``label``: the verdict (see :func:`effect`).
    With an explicit ``noise`` the gap is compared with it instead (``sd`` and ``d`` are nan);
    ``large``: the gap from which a win counted as large, when the caller set it."""
    metric: str
    better: str
    worse: str
    mean_better: float
    mean_worse: float
    gap: float
    sd: float
    se: float
    d: float
    t: float
    n_better: int
    n_worse: int
    noise: float | None
    label: str
    large: float | None = None

    def text(self) -> str:
        """e.g. "DIN − Base +0.0291 = 8.2 seed sd, 10.0 s.e. → reproduced"."""
        head = f"{self.better} − {self.worse} {self.gap:+.4f}"
        if self.large is not None:
            head += f" (large from {self.large:+.4f})"
        if self.label == ONE_SEED:
            return f"{head}: one run a side, no seed spread → {self.label}"
        if self.noise is not None:
            return f"{head} vs noise {self.noise:.4f} → {self.label}"
        if self.sd == 0:
            return f"{head}, no spread over seeds → {self.label}"
        return f"{head} = {self.d:.1f} seed sd, {self.t:.1f} s.e. → {self.label}"


def _values(side: dict, m: str, name: str) -> np.ndarray:
    if m not in side or len(np.atleast_1d(side[m])) == 0:
        raise ValueError(f"no values of metric {m!r} on the {name} side")
    v = np.atleast_1d(np.asarray(side[m], dtype=float)).ravel()
    if not np.isfinite(v).all():
        raise ValueError(f"metric {m!r} on the {name} side has non-finite values: {v.tolist()}")
    return v


def effect(better, worse, metric: str = "", noise: float | None = None,
           names=("better", "worse"), large: float | None = None) -> Effect:
    """The rule, on one metric: does ``better`` (values per seed) beat ``worse``?

    Seed noise: the pooled standard deviation ``sd`` of the two sides (ddof=1, so one run
    adds no spread; a side with one run is assumed as noisy as the other) and the standard
    error of the gap ``se = sd * sqrt(1/n_better + 1/n_worse)``. Then:

    * **reproduced**: gap > BEYOND (2) standard errors and gap >= LARGE (3) seed sd: a large,
      consistent win (one run of each would show it about 98 % of the time);
    * **reproduced (small effect)**: gap > 2 standard errors but under 3 seed sd: consistent
      over the seeds, but single runs can disagree;
    * **tie / within noise**: |gap| <= 2 standard errors;
    * **reversed**: gap < -2 standard errors;
    * **cannot tell (one seed)**: one run a side and no ``noise``: no spread to compare with.

    ``noise`` (e.g. two standard errors over test rows, for a single model against its
    baseline) replaces the seeds: beyond the noise when |gap| > noise, large when gap > 2 * noise.
    ``large`` (optional) replaces the size test: a win beyond the noise is large when
    gap >= large. For a model against its chance baseline, a target such as "at least 2× chance"
    reads ``large = (2 - 1) * baseline``. Zero spread (deterministic runs): any gap is beyond
    it."""
    a = _values({metric: better}, metric, names[0])
    b = _values({metric: worse}, metric, names[1])
    gap = float(a.mean() - b.mean())
    nan = float("nan")
    if noise is not None:
        noise = float(noise)
        if not noise > 0:
            raise ValueError(f"noise for {metric!r} must be > 0, got {noise}")
        t = 2 * gap / noise
        big = gap >= large if large is not None else gap > 2 * noise
        label = (REPRODUCED if gap > noise and big else SMALL if gap > noise
                 else REVERSED if gap < -noise else TIE)
        return Effect(metric, *names, float(a.mean()), float(b.mean()), gap, nan, noise / 2,
                      nan, t, len(a), len(b), noise, label, large)
    if len(a) + len(b) < 3:
        return Effect(metric, *names, float(a.mean()), float(b.mean()), gap, nan, nan, nan, nan,
                      len(a), len(b), None, ONE_SEED)
    ss = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
    sd = float(np.sqrt(ss / (len(a) + len(b) - 2)))
    se = sd * float(np.sqrt(1 / len(a) + 1 / len(b)))
    if sd <= 1e-12 * max(1.0, abs(a.mean()), abs(b.mean())):  # no spread at all
        sd = se = 0.0
        d = t = float(np.sign(gap) * np.inf) if gap else 0.0
    else:
        d, t = gap / sd, gap / se
    big = gap >= large if large is not None else d >= LARGE
    label = (REPRODUCED if t > BEYOND and big else SMALL if t > BEYOND
             else REVERSED if t < -BEYOND else TIE)
    return Effect(metric, *names, float(a.mean()), float(b.mean()), gap, sd, se, d, t,
                  len(a), len(b), None, label, large)


def combine(verdicts) -> str:
    """One label for several parts of a claim (its metrics, or its orderings A > B and B > C):
    the weakest part (reproduced > small effect > tie > reversed), since a claim holds only as
    far as every part holds; "mixed" when one part holds beyond the noise and another is
    reversed beyond it; "cannot tell (one seed)" when any part has no spread to judge by."""
    verdicts = list(verdicts)
    for v in verdicts:
        if v not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {v!r}")
    if not verdicts:
        raise ValueError("no verdict to combine")
    if ONE_SEED in verdicts:
        return ONE_SEED
    if MIXED in verdicts or (REVERSED in verdicts and ({REPRODUCED, SMALL} & set(verdicts))):
        return MIXED
    return max(verdicts, key=(REPRODUCED, SMALL, TIE, REVERSED).index)


def effects(results: dict, order, metrics, noise: dict | None = None,
            large: dict | None = None) -> list[Effect]:
    """:func:`effect` for every (better, worse) pair of ``order`` and every metric
    (``noise``, ``large``: {metric: value}, optional)."""
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        raise ValueError("metrics must name at least one metric")
    order = list(order)
    if not order:
        raise ValueError("order must give at least one (better, worse) pair")
    for pair in order:
        if len(pair) != 2:
            raise ValueError(f"order must hold (better, worse) pairs, got {pair!r}")
        for name in pair:
            if name not in results:
                raise ValueError(f"{name!r} (in order) has no results; have {list(results)}")
    out = []
    for a, b in order:
        for m in metrics:
            _values(results[a], m, "better")  # the error names the side
            _values(results[b], m, "worse")
            out.append(effect(results[a][m], results[b][m], m,
                              None if noise is None else noise.get(m), names=(a, b),
                              large=None if large is None else large.get(m)))
    return out


def pair_verdict(better: dict, worse: dict, metrics, noise: dict | None = None,
                 large: dict | None = None) -> str:
    """Does ``better`` beat ``worse``? Each maps a metric to its values (one per seed; higher is
    better). Every metric gets :func:`effect`'s label; the claim gets :func:`combine` of them."""
    return combine(e.label for e in effects({"better": better, "worse": worse},
                                            [("better", "worse")], metrics, noise, large))


def verdict(results: dict, order, metrics, noise: dict | None = None,
            large: dict | None = None) -> str:
    """``results``: {name: {metric: values}}; ``order``: pairs (better, worse) the paper claims."""
    return combine(e.label for e in effects(results, order, metrics, noise, large))


def _runs(results: dict, names) -> dict:
    return {n: int(max(len(np.atleast_1d(v)) for v in results[n].values())) for n in names}


def seeds_text(seeds: dict) -> str:
    """{name: runs} -> "3 seeds", "1 seed", or "3/1 seeds" when the sides differ."""
    counts = sorted(set(seeds.values()), reverse=True)
    return "/".join(map(str, counts)) + (" seed" if counts == [1] else " seeds")


def evidence_text(results: dict, order, metrics, noise: dict | None = None,
                  large: dict | None = None) -> str:
    """The numbers behind a verdict, in full: per metric, mean ± std (ddof=1) of each named
    result, then each ordering's gap in seed standard deviations and its label; then the runs."""
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    names = list(dict.fromkeys(n for pair in order for n in pair))
    found = effects(results, order, metrics, noise, large)
    parts = []
    for m in metrics:
        cells = []
        for n in names:
            v = _values(results[n], m, n)
            spread = f" ± {v.std(ddof=1):.4f}" if len(v) > 1 else ""
            cells.append(f"{n} {v.mean():.4f}{spread}")
        gaps = "; ".join(e.text() for e in found if e.metric == m)
        parts.append(f"{m}: " + ", ".join(cells) + f" ({gaps})")
    return "; ".join(parts) + f" ({seeds_text(_runs(results, names))})"


# ------------------------------------------------------------------------------ the records

def _usable(path: Path) -> bool:
    """Whether records can be written in ``path`` (created if missing)."""
    probe = path / f".probe.{uuid.uuid4().hex}.tmp"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
        return True
    except OSError:
        return False


def claims_dir(directory=None) -> Path:
    """Where records live: ``directory``, else $RECBOOK_CLAIMS, else <data cache>/claims.

    The default needs no writable data cache: when ``$RECBOOK_DATA`` is read-only (a shared
    dataset folder) or not a folder, the records go to ``<temp dir>/recbook-claims`` with a
    warning, so a chapter's claims cell runs on the built-in data all the same. A folder
    named explicitly (argument or $RECBOOK_CLAIMS) must be writable: its error names it."""
    named = directory if directory is not None else os.environ.get(ENV_VAR)
    if named is not None:
        path = Path(named).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OSError(e.errno, f"the claims folder {path} cannot be created "
                          f"({e.strerror or e}); set ${ENV_VAR} to a writable folder") from e
        return path
    from recbook.data.fetch import cache_dir
    try:
        path = cache_dir() / "claims"
        reason = "" if _usable(path) else f"{path} is not writable"
    except OSError as e:  # $RECBOOK_DATA names a file, or cannot be created
        reason = str(e)
    if not reason:
        return path
    import tempfile
    import warnings
    fallback = Path(tempfile.gettempdir()) / "recbook-claims"
    fallback.mkdir(parents=True, exist_ok=True)
    warnings.warn(f"claim records go to {fallback}: {reason} (set ${ENV_VAR} to choose)",
                  stacklevel=2)
    return fallback


def _commit() -> str | None:
    """The git commit of a source checkout, read from .git without running git (cheap)."""
    git = Path(__file__).resolve().parent.parent / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()[:12]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:12]
    except OSError:
        pass
    return None


def _path(directory: Path, claim_id: str, dataset: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    return directory / f"{claim_id}@{safe}.json"


def record(claim_id: str, verdict: str, evidence: str, dataset: str, directory=None,
           seeds: dict | int | None = None) -> dict:
    """Write the verdict of ``claim_id`` on ``dataset`` (atomically: a reader never sees half a
    file) and return the record. ``seeds``: runs per compared result ({name: n}) or one n."""
    import recbook

    claim(claim_id)
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    if not dataset or not isinstance(dataset, str):
        raise ValueError(f"dataset must be a non-empty string, got {dataset!r}")
    if isinstance(seeds, (int, np.integer)):
        seeds = {"all": int(seeds)}
    rec = {"claim": claim_id, "verdict": verdict, "evidence": str(evidence), "dataset": dataset,
           "seeds": seeds, "recbook": recbook.__version__, "commit": _commit(),
           "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    path = _path(claims_dir(directory), claim_id, dataset)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(rec, indent=1, ensure_ascii=False))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return rec


def check(claim_id: str, results: dict, order, metrics, dataset: str, noise: dict | None = None,
          note: str = "", directory=None, large: dict | None = None):
    """Apply the rule to measured ``results`` ({name: {metric: values per seed}}; ``order``:
    the (better, worse) pairs the paper claims; ``metrics``: one name or several, the paper's
    first; ``noise``/``large``: {metric: value}, see :func:`effect`), record the verdict with
    its evidence, dataset and runs, and return the record.

    A pre-split id that pooled ComiRec-DR and ComiRec-SA (``LEGACY``) records one row per model
    and returns the list of records."""
    split = LEGACY.get(claim_id)
    if split:
        out = []
        for pair in order:
            hits = [i for key, i in split.items() if key in pair]
            if len(hits) != 1:
                raise ValueError(f"{claim_id!r} is split into {sorted(split.values())}: each pair "
                                 f"must name one of {sorted(split)}, got {pair!r}")
            out.append(check(hits[0], results, [pair], metrics, dataset, noise, note, directory,
                             large))
        return out
    claim(claim_id)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    v = verdict(results, order, metrics, noise, large)
    text = evidence_text(results, order, metrics, noise, large) + (f"; {note}" if note else "")
    names = list(dict.fromkeys(n for pair in order for n in pair))
    return record(claim_id, v, text, dataset, directory, seeds=_runs(results, names))


def records(directory=None) -> list[dict]:
    """Every readable record of a claim in ``CLAIMS`` with a verdict of this rule (records of
    unknown or pre-split ids, or from an older rule, e.g. "partly", are skipped)."""
    out = []
    for path in sorted(claims_dir(directory).glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(rec, dict) and rec.get("claim") in CLAIMS and rec.get("verdict") in VERDICTS:
            out.append(rec)
    return out


def missing_text(claim_id: str, dataset: str = "synthetic") -> str:
    c = claim(claim_id)
    if dataset not in DATASETS:
        return "—"
    title = CHAPTER_TITLES.get(c.chapter, c.chapter)
    if dataset == "synthetic":
        return f"run chapter {title} ({c.chapter}.ipynb)"
    # worded apart from "run chapter": a book build (tests/test_book.py) checks that no built-in
    # verdict is missing, while a real-data section may not exist yet
    return f"not measured on {DATASETS[dataset]} yet ({title} chapter)"


class ClaimsTable(pd.DataFrame):
    """A DataFrame that a notebook shows in full: evidence strings are never cut with "…"."""

    @property
    def _constructor(self):
        return ClaimsTable

    def _repr_html_(self):
        with pd.option_context("display.max_colwidth", None, "display.max_columns", None):
            return super()._repr_html_()

    def __repr__(self):
        with pd.option_context("display.max_colwidth", None, "display.max_columns", None,
                               "display.width", None):
            return super().__repr__()


def _cell(rec: dict | None) -> tuple[str, str]:
    if rec is None:
        return "", ""
    seeds = rec.get("seeds")
    return rec["verdict"], (seeds_text(seeds) if isinstance(seeds, dict) and seeds else "")


def table(chapter: str | None = None, evidence: bool = False, directory=None) -> pd.DataFrame:
    """One row per claim (of ``chapter`` when given); one verdict column per dataset: always
    "synthetic" (built-in) and "movielens-100k", then any other dataset with a record. A cell
    reads "<verdict> · <n> seeds"; a claim without a record says which chapter to run.
    ``evidence=True`` adds the numbers behind each verdict ("<dataset>: evidence"), in full."""
    if chapter is not None and chapter not in {c.chapter for c in CLAIMS.values()}:
        raise ValueError(f"no claims for chapter {chapter!r}; chapters: "
                         f"{sorted({c.chapter for c in CLAIMS.values()})}")
    ids = [i for i, c in CLAIMS.items() if chapter is None or c.chapter == chapter]
    recs = [r for r in records(directory) if r["claim"] in ids]
    datasets = list(DATASETS) + sorted({r["dataset"] for r in recs} - set(DATASETS))
    found = {(r["claim"], r["dataset"]): r for r in recs}
    rows = []
    for i in ids:
        c = CLAIMS[i]
        row = {"claim": c.text, "paper": c.paper, "chapter": c.chapter}
        for d in datasets:
            r = found.get((i, d))
            v, seeds = _cell(r)
            row[d] = (f"{v} · {seeds}" if seeds else v) if r else missing_text(i, d)
            if evidence:
                row[f"{d}: evidence"] = r["evidence"] if r else ""
        rows.append(row)
    return ClaimsTable(rows, index=pd.Index(ids, name="id"))


def html_table(chapter: str | None = None, evidence: bool = False, directory=None) -> str:
    """``table`` for a reader: the claim, a link to the section that tests it, one verdict
    column per dataset ("built-in", "MovieLens-100K", ...; the runs under each verdict) and,
    with ``evidence``, the numbers behind them, never cut. (The ids and bib keys stay in
    ``table``: on a book page they only push the verdict columns past the right edge.)"""
    import html

    df = table(chapter, evidence, directory)
    recs = {(r["claim"], r["dataset"]): r for r in records(directory)}
    datasets = [c for c in df.columns if c not in ("claim", "paper", "chapter")
                and not c.endswith(": evidence")]
    out = pd.DataFrame(index=df.index)
    out["claim"] = [html.escape(t) for t in df["claim"]]
    out["tested in"] = [f'<a href="{CLAIMS[i].link}">{CHAPTER_TITLES.get(c, c)}</a>'
                        for i, c in zip(df.index, df["chapter"])]
    for d in datasets:
        head = DATASETS.get(d, d)
        cells = []
        for i in df.index:
            r = recs.get((i, d))
            if r is None:
                cells.append(f"<small>{html.escape(df.loc[i, d])}</small>")
                continue
            v, seeds = _cell(r)
            cells.append(f"<b>{html.escape(v)}</b>"
                         + (f"<br><small>{html.escape(seeds)}</small>" if seeds else ""))
        out[head] = cells
        if evidence:
            out[f"{head}: evidence"] = [html.escape(t) for t in df[f"{d}: evidence"]]
    with pd.option_context("display.max_colwidth", None):
        return out.to_html(escape=False, index=False)
