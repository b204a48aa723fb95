"""The built-in dataset: an event log with PLANTED structure and its ground truth.

Real datasets need the internet; the book and the tests must not. This generator plants what
each paper claims to capture and returns the truth, so a chapter can show a model finding it:

* items belong to categories; popularity within a category is Zipf (``zipf``);
* a user's profile (``gender`` 1..2, ``age`` 1..7) shifts a prior over categories, from which the
  user draws 1..``max_interests`` interest categories with Dirichlet weights;
* a timeline of sessions: within a session the active interest stays with probability ``rho``,
  else it is redrawn from the user's weights; at each new session one interest is replaced with
  probability ``drift`` (DIEN's interest evolution);
* short-range order: every item has ``n_successors`` successors in its category; the next item is
  a successor of the previous one with probability ``gamma`` (GRU4Rec, BST), else a popular item
  of the active category; with probability ``noise`` it is a random popular item (off-interest);
* CTR impressions: at a user's event time ``t`` a page of ``candidates`` items (from the user's
  current interests, from categories in the history, a successor of the last item, random) each
  gets a click logit
  ``bias + w_relevant * log1p(sum_i exp(-gap_i / tau)) + w_successor * succ + w_affinity * aff``
  where the sum runs over the RELEVANT history positions: the last ``max_len`` behaviours that
  share the candidate's category and lie at most ``horizon`` seconds before ``t`` (DIN's local
  activation; the rest of the history is noise to a model). ``succ`` = the candidate is a
  successor of the last behaviour; ``aff`` = the profile's log prior of the category relative to
  uniform. The label is Bernoulli(sigmoid(logit)), so no model reaches AUC 1.

``generate(size="default", seed=0, **overrides)`` is deterministic given its arguments.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd

from .batches import history_index
from .meta import Meta

DAY = 86400.0


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of the generator (the defaults are the ``"default"`` size)."""

    n_users: int = 2000
    n_items: int = 1000
    n_cats: int = 20
    max_len: int = 50             # Meta.max_len, and the click model's memory (in behaviours)
    min_events: int = 20          # events per user ~ uniform on [min_events, max_events]
    max_events: int = 80
    zipf: float = 1.0             # popularity ~ 1 / rank**zipf within a category
    n_successors: int = 3
    profile_strength: float = 1.0  # scale of the gender/age shift of the category prior
    max_interests: int = 4
    dirichlet: float = 1.0        # concentration of the interest weights
    session_len: float = 5.0      # mean events per session (geometric)
    session_gap: float = DAY      # mean extra seconds between sessions (on top of 30 minutes)
    event_gap: float = 120.0      # mean seconds between events of a session
    rho: float = 0.8              # P(active interest stays) at each step of a session
    gamma: float = 0.5            # P(next item is a successor of the previous one)
    drift: float = 0.3            # P(one interest is replaced) at each new session
    noise: float = 0.05           # P(an event is a random popular item)
    impressions_per_user: int = 8
    candidates: int = 4           # candidates per impression (a page)
    candidate_mix: tuple = (0.35, 0.25, 0.1, 0.3)  # current interest, history cat, successor, random
    horizon: float = 3 * DAY      # a same-category behaviour older than this is not relevant
    tau: float = DAY              # time decay of a relevant behaviour's weight
    bias: float = -2.0
    w_relevant: float = 2.0
    w_successor: float = 1.5
    w_affinity: float = 0.5


SIZES = {
    "tiny": dict(n_users=60, n_items=80, n_cats=5, max_len=12, min_events=6, max_events=20,
                 impressions_per_user=3, candidates=2),
    "default": {},
    "large": dict(n_users=20000, n_items=5000, n_cats=50, max_len=100, min_events=20,
                  max_events=150),
}


@dataclass
class SyntheticData:
    """The generated data and its ground truth.

    events: DataFrame sorted by user then time: user, item, cat, time (int64 seconds), session
        (global id from 1, chronological within a user), interest (the active category, which
        differs from ``cat`` only for noise events).
    users: DataFrame: user, gender, age.
    impressions: DataFrame sorted by user then time: user, time, page (id of the impression),
        item, cat, label (0/1), logit (the true click logit), source ("interest", "history",
        "successor", "random").
    interests: DataFrame: user, session, slot, cat, weight: the interest set held in each session.
    successors: int64 [n_items + 1, n_successors]; row 0 is zeros.
    prior: float64 [n_users + 1, n_cats + 1], each user's profile prior over categories.
    """

    events: pd.DataFrame
    users: pd.DataFrame
    impressions: pd.DataFrame
    interests: pd.DataFrame
    successors: np.ndarray
    prior: np.ndarray
    meta: Meta
    config: SyntheticConfig

    def relevance(self, hist_cats, hist_gaps, hist_len, target_cat) -> np.ndarray:
        """Ground-truth relevant positions [B, T]: same category as the target, within horizon."""
        hist_cats = np.asarray(hist_cats)
        mask = np.arange(hist_cats.shape[1])[None, :] < np.asarray(hist_len)[:, None]
        return (mask & (hist_cats == np.asarray(target_cat)[:, None])
                & (np.asarray(hist_gaps) <= self.config.horizon))

    def held_interests(self, users, times) -> tuple[np.ndarray, np.ndarray]:
        """The interest set each user held at each time: ``(cats, weights)``, [B, max_interests].

        ``cats`` is 0 in unused slots. A time before the user's first event gets the first set.
        """
        k = self.config.max_interests
        sess = self.events.groupby("session").agg(user=("user", "first"), start=("time", "min"))
        users = np.asarray(users, dtype=np.int64)
        times = np.asarray(times, dtype=np.int64)
        out_s = np.empty(len(users), dtype=np.int64)
        for u in np.unique(users):
            s = sess[sess.user == u]
            rows = users == u
            pos = np.searchsorted(s.start.to_numpy(), times[rows], side="right") - 1
            out_s[rows] = s.index.to_numpy()[np.maximum(pos, 0)]
        table = self.interests.set_index(["session", "slot"])
        idx = pd.MultiIndex.from_product([out_s, range(k)])
        got = table.reindex(idx)
        cats = got.cat.fillna(0).to_numpy(np.int64).reshape(-1, k)
        weights = got.weight.fillna(0.0).to_numpy().reshape(-1, k)
        return cats, weights


def _gumbel_topk(logp: np.ndarray, k: int, rng) -> np.ndarray:
    """k distinct indices per row, drawn without replacement with probabilities exp(logp)."""
    g = logp - np.log(-np.log(rng.random(logp.shape)))
    return np.argsort(-g, axis=-1)[..., :k]


def _draw_rows(cdf: np.ndarray, rng) -> np.ndarray:
    """One index per row of a cumulative distribution [N, m]."""
    u = rng.random(len(cdf))[:, None] * cdf[:, -1:]
    return np.minimum((cdf < u).sum(1), cdf.shape[1] - 1)


def generate(size: str = "default", seed: int = 0, **overrides) -> SyntheticData:
    """Generate the built-in dataset. ``size``: "tiny" (tests), "default" or "large".

    ``overrides`` set any field of :class:`SyntheticConfig` (e.g. ``n_users=500, gamma=0.8``).
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; available: {sorted(SIZES)}")
    names = {f.name for f in fields(SyntheticConfig)}
    unknown = set(overrides) - names
    if unknown:
        raise TypeError(f"generate() got unknown settings {sorted(unknown)}; see SyntheticConfig")
    cfg = replace(SyntheticConfig(), **{**SIZES[size], **overrides})
    if cfg.n_items < cfg.n_cats * (cfg.n_successors + 1):
        raise ValueError("need n_items >= n_cats * (n_successors + 1) so that every category "
                         "holds an item and its successors")
    if not 1 <= cfg.min_events <= cfg.max_events:
        raise ValueError("need 1 <= min_events <= max_events")
    rng = np.random.default_rng(seed)
    U, N, C, K = cfg.n_users, cfg.n_items, cfg.n_cats, cfg.max_interests

    # Items: equal-sized categories, ids shuffled; Zipf popularity by a random rank in the category.
    item_cat = np.zeros(N + 1, dtype=np.int64)
    item_cat[1:] = rng.permutation(np.arange(N) % C + 1)
    m = -(-N // C)
    cat_items = np.zeros((C + 1, m), dtype=np.int64)
    cat_logp = np.full((C + 1, m), -np.inf)
    for c in range(1, C + 1):
        its = rng.permutation(np.flatnonzero(item_cat == c))
        cat_items[c, :len(its)] = its
        cat_logp[c, :len(its)] = -cfg.zipf * np.log(np.arange(1, len(its) + 1))
    cat_logp[1:] -= np.log(np.exp(cat_logp[1:]).sum(1, keepdims=True))
    cat_cdf = np.cumsum(np.exp(cat_logp), 1)
    item_pop = np.zeros(N + 1)
    item_pop[cat_items[1:][cat_items[1:] > 0]] = np.exp(cat_logp[1:][cat_items[1:] > 0]) / C
    pop_cdf = np.cumsum(item_pop)

    # Successors: n_successors distinct items of the same category, likelier when popular.
    S = cfg.n_successors
    successors = np.zeros((N + 1, S), dtype=np.int64)
    for c in range(1, C + 1):
        n_c = (cat_items[c] > 0).sum()
        logp = np.broadcast_to(cat_logp[c, :n_c], (n_c, n_c)).copy()
        np.fill_diagonal(logp, -np.inf)  # an item is not its own successor
        successors[cat_items[c, :n_c]] = cat_items[c, _gumbel_topk(logp, S, rng)]

    # Users: profile -> prior over categories -> interests with Dirichlet weights.
    gender = rng.integers(1, 3, U + 1)
    age = np.minimum(1 + rng.binomial(6, 0.4, U + 1), 7)
    g_eff = rng.normal(size=(3, C + 1))
    a_eff = rng.normal(size=(8, C + 1))
    logit = cfg.profile_strength * (g_eff[gender] + a_eff[age])
    logit[:, 0] = -np.inf
    prior = np.exp(logit - logit.max(1, keepdims=True))
    prior /= prior.sum(1, keepdims=True)
    prior[0] = 0.0
    log_prior = np.log(np.maximum(prior, 1e-300))
    log_prior[:, 0] = -np.inf
    n_int = rng.integers(1, K + 1, U + 1)
    held = _gumbel_topk(log_prior, K, rng)  # [U+1, K] categories
    slot_used = np.arange(K)[None, :] < n_int[:, None]
    held = np.where(slot_used, held, 0)
    weights = np.where(slot_used, rng.gamma(cfg.dirichlet, size=(U + 1, K)), 0.0)
    weights /= weights.sum(1, keepdims=True)

    # Timeline: all users step together, one event per step (vectorised over users).
    n_events = rng.integers(cfg.min_events, cfg.max_events + 1, U + 1)
    Lmax = cfg.max_events
    users_ix = np.arange(1, U + 1)
    items = np.zeros((U + 1, Lmax), dtype=np.int64)
    interest = np.zeros((U + 1, Lmax), dtype=np.int64)
    times = np.zeros((U + 1, Lmax), dtype=np.int64)
    new_sess = np.zeros((U + 1, Lmax), dtype=bool)
    held_log = np.zeros((U + 1, Lmax, K), dtype=np.int64)
    weight_log = np.zeros((U + 1, Lmax, K))
    t = rng.integers(0, 30 * int(DAY), U + 1)
    active = np.zeros(U + 1, dtype=np.int64)
    prev = np.zeros(U + 1, dtype=np.int64)
    u = users_ix
    for s in range(Lmax):
        start = np.ones(U, bool) if s == 0 else rng.random(U) < 1.0 / cfg.session_len
        drift = start & (s > 0) & (rng.random(U) < cfg.drift)
        if drift.any():
            du = u[drift]
            lp = log_prior[du].copy()
            np.put_along_axis(lp, held[du], -np.inf, axis=1)  # a new category, not one held
            lp[:, 0] = -np.inf
            new_cat = _gumbel_topk(lp, 1, rng)[:, 0]
            slot = (rng.random(len(du)) * n_int[du]).astype(np.int64)
            held[du, slot] = new_cat
        redraw = start | (rng.random(U) > cfg.rho)
        drawn = held[u, _draw_rows(np.cumsum(weights[u], 1), rng)]
        stay = ~redraw | (drawn == active[u])  # redrawn to the same category = stayed
        active[u] = np.where(redraw, drawn, active[u])
        item = cat_items[active[u], _draw_rows(cat_cdf[active[u]], rng)]
        # follow a successor only inside the active category (not after a noise event)
        succ = stay & ~start & (item_cat[prev[u]] == active[u]) & (rng.random(U) < cfg.gamma)
        item = np.where(succ, successors[prev[u], rng.integers(0, S, U)], item)
        noisy = rng.random(U) < cfg.noise
        if noisy.any():
            item[noisy] = 1 + np.minimum(
                np.searchsorted(pop_cdf[1:], rng.random(noisy.sum()) * pop_cdf[-1]), N - 1)
        gap = np.where(start, 1800 + rng.exponential(cfg.session_gap, U),
                       np.minimum(1 + rng.exponential(cfg.event_gap, U), 1799))
        if s > 0:
            t[u] += gap.astype(np.int64)
        items[u, s], interest[u, s], times[u, s], new_sess[u, s] = item, active[u], t[u], start
        held_log[u, s], weight_log[u, s] = held[u], weights[u]
        prev[u] = item

    valid = np.arange(Lmax)[None, :] < n_events[:, None]
    valid[0] = False
    uu = np.broadcast_to(np.arange(U + 1)[:, None], valid.shape)[valid]
    session = np.cumsum(new_sess[valid])
    events = pd.DataFrame({"user": uu, "item": items[valid], "cat": item_cat[items[valid]],
                           "time": times[valid], "session": session,
                           "interest": interest[valid]})
    first = new_sess[valid]
    hk, wk = held_log[valid][first], weight_log[valid][first]
    interests = pd.DataFrame({
        "user": np.repeat(uu[first], K), "session": np.repeat(session[first], K),
        "slot": np.tile(np.arange(K), first.sum()), "cat": hk.ravel(), "weight": wk.ravel()})
    interests = interests[interests.cat > 0].reset_index(drop=True)
    users = pd.DataFrame({"user": np.arange(1, U + 1), "gender": gender[1:], "age": age[1:]})
    meta = Meta(n_users=U, n_items=N, n_cats=C, item_cat=item_cat,
                profile={"gender": 2, "age": 7}, max_len=cfg.max_len)

    data = SyntheticData(events=events, users=users, impressions=pd.DataFrame(),
                         interests=interests, successors=successors, prior=prior, meta=meta,
                         config=cfg)
    data.impressions = _impressions(data, held_log, weight_log, n_events, cat_items, cat_cdf,
                                    pop_cdf, rng)
    return data


def _impressions(data: SyntheticData, held_log, weight_log, n_events, cat_items, cat_cdf,
                 pop_cdf, rng) -> pd.DataFrame:
    """Pages of candidates at random event times of each user, with true logits and labels."""
    cfg, ev = data.config, data.events
    U, P, Cn = cfg.n_users, cfg.impressions_per_user, cfg.candidates
    # P distinct positions p in 1..n_events-1 per user (the history is the p events before).
    keys = rng.random((U + 1, cfg.max_events))
    keys[:, 0] = np.inf
    keys[np.arange(cfg.max_events)[None, :] >= n_events[:, None]] = np.inf
    pos = np.sort(np.argsort(keys, 1)[1:, :P], 1)
    ok = np.take_along_axis(keys[1:], pos, 1) < np.inf
    user = np.broadcast_to(np.arange(1, U + 1)[:, None], pos.shape)[ok]
    pos = pos[ok]
    starts = np.searchsorted(ev.user.to_numpy(), np.arange(U + 2))
    row = starts[user] + pos  # the event at the impression time
    page = np.arange(1, len(user) + 1)
    # one row per candidate
    user, pos, row, page = (np.repeat(a, Cn) for a in (user, pos, row, page))
    B = len(user)
    t = ev.time.to_numpy()[row]
    idx, hlen, mask = history_index(starts[user], row, cfg.max_len)
    h_items = np.where(mask, ev.item.to_numpy()[idx], 0)
    h_cats = np.where(mask, ev.cat.to_numpy()[idx], 0)
    h_gaps = np.where(mask, t[:, None] - ev.time.to_numpy()[idx], 0)
    last = ev.item.to_numpy()[row - 1]

    source = rng.choice(4, size=B, p=np.asarray(cfg.candidate_mix) / sum(cfg.candidate_mix))
    held = held_log[user, pos]
    w = weight_log[user, pos]
    cat = np.where(source == 0, held[np.arange(B), _draw_rows(np.cumsum(w, 1), rng)], 0)
    pick = (rng.random(B) * hlen).astype(np.int64)
    cat = np.where(source == 1, h_cats[np.arange(B), pick], cat)
    item = np.zeros(B, dtype=np.int64)
    by_cat = source <= 1
    item[by_cat] = cat_items[cat[by_cat], _draw_rows(cat_cdf[cat[by_cat]], rng)]
    sc = source == 2
    item[sc] = data.successors[last[sc], rng.integers(0, cfg.n_successors, sc.sum())]
    rd = source == 3
    item[rd] = 1 + np.minimum(np.searchsorted(pop_cdf[1:], rng.random(rd.sum()) * pop_cdf[-1]),
                              cfg.n_items - 1)
    cat = data.meta.item_cat[item]

    rel = data.relevance(h_cats, h_gaps, hlen, cat)
    decayed = (rel * np.exp(-h_gaps / cfg.tau)).sum(1)
    is_succ = (data.successors[last] == item[:, None]).any(1)
    aff = np.log(data.prior[user, cat] * cfg.n_cats)
    logit = (cfg.bias + cfg.w_relevant * np.log1p(decayed) + cfg.w_successor * is_succ
             + cfg.w_affinity * aff)
    label = (rng.random(B) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    names = np.array(["interest", "history", "successor", "random"])
    df = pd.DataFrame({"user": user, "time": t, "page": page, "item": item, "cat": cat,
                       "label": label, "logit": logit, "source": names[source]})
    # a page shows an item once (two draws may coincide)
    return df.drop_duplicates(["page", "item"]).reset_index(drop=True)
