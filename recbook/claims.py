"""Every paper claim the book tests, the one rule that turns measurements into a verdict, and
the records of the verdicts each chapter measured.

* ``CLAIMS``: id -> :class:`Claim` (paper, the claim in words, chapter and section label).
* ``verdict(results, order, metrics)``: the rule, written once (see :func:`pair_verdict`).
* ``check(claim_id, results, order, metrics, dataset)``: apply the rule to a chapter's numbers,
  write the record and return it; ``record(claim_id, verdict, evidence, dataset)`` writes one
  directly.
* ``table(chapter=None)``: the recorded verdicts, one column per dataset; a claim without a
  record says which chapter to run.

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

VERDICTS = ("reproduced", "partly", "not")
ENV_VAR = "RECBOOK_CLAIMS"


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
    ("comirec.beats_mind", "cen2020comirec", "ComiRec (DR or SA) beats MIND (Recall@50)",
     "comirec", "comirec-claims"),
    ("comirec.mind_beats_youtube", "cen2020comirec", "MIND beats YouTube DNN (Recall@50)",
     "comirec", "comirec-claims"),
    ("comirec.controllable", "cen2020comirec",
     "a larger λ raises diversity (Diversity@50)", "comirec", "comirec-claims"),
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
    ("summary.comirec_beats_mind", "cen2020comirec",
     "ComiRec-DR and ComiRec-SA beat MIND (3 seeds)", "summary", "summary-retrieval"),
)

CHAPTER_TITLES = {"din": "DIN", "dien": "DIEN", "bst": "BST", "gru4rec": "GRU4Rec",
                  "mind": "MIND", "comirec": "ComiRec", "summary": "Comparison"}


def claim(claim_id: str) -> Claim:
    if claim_id not in CLAIMS:
        raise ValueError(f"unknown claim id {claim_id!r}; known: {', '.join(CLAIMS)}")
    return CLAIMS[claim_id]


# --------------------------------------------------------------------------------- the rule

def pair_verdict(better: dict, worse: dict, metrics, noise: dict | None = None) -> str:
    """Does ``better`` beat ``worse``? Each maps a metric to its values (one per seed; higher is
    better). The rule, on the first metric (the primary one) and the others:

    * **reproduced**: the means are ordered as the paper says on every metric, and on the
      primary one by more than the noise: ``noise[m]`` when given (e.g. twice a standard
      error), else the sum of the two sides' seed standard deviations, which needs at least
      two seeds a side (a single run has no spread, so it cannot reproduce a claim alone);
    * **not**: the primary metric is ordered the other way by more than the noise (a clear
      reversal outweighs a secondary metric that happens to agree), or the means are ordered
      the other way (or tie) on every metric;
    * **partly**: anything in between (ordered on some metrics, or only within the noise).
    """
    metrics = list(metrics)
    if not metrics:
        raise ValueError("metrics must name at least one metric")
    holds = []
    for m in metrics:
        for side, name in ((better, "better"), (worse, "worse")):
            if m not in side or len(np.atleast_1d(side[m])) == 0:
                raise ValueError(f"no values of metric {m!r} on the {name} side")
        a, b = np.atleast_1d(np.asarray(better[m], float)), np.atleast_1d(np.asarray(worse[m], float))
        holds.append(a.mean() > b.mean())
    m = metrics[0]
    a, b = np.atleast_1d(np.asarray(better[m], float)), np.atleast_1d(np.asarray(worse[m], float))
    if noise is not None and m in noise:
        margin = float(noise[m])
    elif len(a) >= 2 and len(b) >= 2:
        margin = float(a.std() + b.std())
    else:
        margin = None
    gap = a.mean() - b.mean()
    if all(holds) and margin is not None and gap > margin:
        return "reproduced"
    if margin is not None and -gap > margin:
        return "not"
    return "partly" if any(holds) else "not"


def combine(verdicts) -> str:
    """Several orderings of one claim (A > B and A > C; A > B > C): all reproduced ->
    reproduced, all not -> not, anything else -> partly."""
    verdicts = list(verdicts)
    for v in verdicts:
        if v not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {v!r}")
    if not verdicts:
        raise ValueError("no verdict to combine")
    if all(v == "reproduced" for v in verdicts):
        return "reproduced"
    return "not" if all(v == "not" for v in verdicts) else "partly"


def verdict(results: dict, order, metrics, noise: dict | None = None) -> str:
    """``results``: {name: {metric: values}}; ``order``: pairs (better, worse) the paper claims."""
    for pair in order:
        for name in pair:
            if name not in results:
                raise ValueError(f"{name!r} (in order) has no results; have {list(results)}")
    return combine(pair_verdict(results[a], results[b], metrics, noise) for a, b in order)


def evidence_text(results: dict, order, metrics) -> str:
    """The numbers behind a verdict: mean ± std (n runs) of each named result, per metric."""
    names = list(dict.fromkeys(n for pair in order for n in pair))
    parts = []
    for m in metrics:
        cells = []
        for n in names:
            v = np.atleast_1d(np.asarray(results[n][m], float))
            spread = f" ± {v.std():.4f}" if len(v) > 1 else ""
            cells.append(f"{n} {v.mean():.4f}{spread}")
        parts.append(f"{m}: " + ", ".join(cells))
    runs = {len(np.atleast_1d(results[n][metrics[0]])) for n in names}
    return "; ".join(parts) + f" ({'/'.join(map(str, sorted(runs)))} run(s) each)"


# ------------------------------------------------------------------------------ the records

def claims_dir(directory=None) -> Path:
    """Where records live: ``directory``, else $RECBOOK_CLAIMS, else <data cache>/claims."""
    if directory is None:
        directory = os.environ.get(ENV_VAR)
    if directory is None:
        from recbook.data.fetch import cache_dir
        directory = cache_dir() / "claims"
    path = Path(directory).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


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


def record(claim_id: str, verdict: str, evidence: str, dataset: str, directory=None) -> dict:
    """Write the verdict of ``claim_id`` on ``dataset`` (atomically: a reader never sees half a
    file) and return the record."""
    import recbook

    claim(claim_id)
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    if not dataset or not isinstance(dataset, str):
        raise ValueError(f"dataset must be a non-empty string, got {dataset!r}")
    rec = {"claim": claim_id, "verdict": verdict, "evidence": str(evidence), "dataset": dataset,
           "recbook": recbook.__version__, "commit": _commit(),
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
          note: str = "", directory=None) -> dict:
    """Apply the rule to measured ``results`` ({name: {metric: values}}), record and return it."""
    claim(claim_id)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    v = verdict(results, order, metrics, noise)
    text = evidence_text(results, order, metrics) + (f"; {note}" if note else "")
    return record(claim_id, v, text, dataset, directory)


def records(directory=None) -> list[dict]:
    """Every readable record (unknown claim ids, e.g. from an older recbook, are skipped)."""
    out = []
    for path in sorted(claims_dir(directory).glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if rec.get("claim") in CLAIMS and rec.get("verdict") in VERDICTS:
            out.append(rec)
    return out


def missing_text(claim_id: str) -> str:
    c = claim(claim_id)
    return f"run chapter {CHAPTER_TITLES.get(c.chapter, c.chapter)} ({c.chapter}.ipynb)"


def table(chapter: str | None = None, evidence: bool = False, directory=None) -> pd.DataFrame:
    """One row per claim (of ``chapter`` when given), one column per dataset with a record
    (always "synthetic", the built-in data); a claim without a record says what to run.
    ``evidence=True`` adds the numbers behind each verdict."""
    if chapter is not None and chapter not in {c.chapter for c in CLAIMS.values()}:
        raise ValueError(f"no claims for chapter {chapter!r}; chapters: "
                         f"{sorted({c.chapter for c in CLAIMS.values()})}")
    ids = [i for i, c in CLAIMS.items() if chapter is None or c.chapter == chapter]
    recs = [r for r in records(directory) if r["claim"] in ids]
    datasets = ["synthetic"] + sorted({r["dataset"] for r in recs} - {"synthetic"})
    found = {(r["claim"], r["dataset"]): r for r in recs}
    rows = []
    for i in ids:
        c = CLAIMS[i]
        row = {"claim": c.text, "paper": c.paper, "chapter": c.chapter}
        for d in datasets:
            r = found.get((i, d))
            row[d] = r["verdict"] if r else (missing_text(i) if d == "synthetic" else "—")
            if evidence:
                row[f"{d}: evidence"] = r["evidence"] if r else ""
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index(ids, name="id"))


def html_table(chapter: str | None = None, evidence: bool = False, directory=None) -> str:
    """``table`` for a reader: the claim, a link to the section that tests it, the verdicts.
    (The ids and bib keys stay in ``table``: on a book page they only push the verdict
    columns past the right edge.)"""
    import html

    df = table(chapter, evidence, directory).astype(str).map(html.escape)
    df["chapter"] = [f'<a href="{CLAIMS[i].link}">{CHAPTER_TITLES.get(c, c)}</a>'
                     for i, c in zip(df.index, df["chapter"])]
    df = df.drop(columns="paper").rename(columns={"chapter": "tested in"})
    return df.to_html(escape=False, index=False)
