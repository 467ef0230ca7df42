"""Synthetic LLM-judge data in the competition format, for offline demos and tests.

Every conversation is written *for* one metric: the metric's theme (chosen from keywords in
its name, see :data:`._text.THEMES`) decides what the user asks and what a good answer
contains, and a deployed-assistant domain supplies the system prompt and the facts.
Train rows are all such matched pairs, with the real label skew; a low score always
comes with a visible defect (empty or one-line answer, off-topic answer, wrong language,
harmful compliance, invented citation...). The test set is shifted like the real one:
a share of its rows pairs a conversation with another metric, and a simulated judge
scores those by how related the metric is to the conversation.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from functools import cache
from importlib import resources
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ..exceptions import ConfigError, DataError
from . import _text as T

__all__ = [
    "DemoData",
    "load_metric_names",
    "load_metric_embeddings",
    "make_judge_data",
    "write_demo_data",
]

NAMES_FILE = "metric_names.json"
EMBEDDINGS_FILE = "metric_name_embeddings.npy"
TEXT_COLUMNS = ("metric_name", "system_prompt", "user_prompt", "response")

# Share of each train label, from the real competition labels (0-5 pooled as "low").
_TIER_SHARES = {10.0: 0.285, 9.0: 0.625, 8.0: 0.052, 7.0: 0.019, 6.0: 0.009, "low": 0.010}
# Visible defects behind low scores: weight when drawn, and the judge's score range.
_DEFECTS = {
    "empty": (0.25, (0, 1)),
    "theme_bad": (0.30, None),  # range comes from the theme
    "off_topic": (0.15, (2, 4)),
    "short": (0.15, (1, 3)),
    "wrong_language": (0.15, (2, 5)),
}
# Where a swapped-in test metric comes from.
_SWAP_GENERAL, _SWAP_RELATED = 0.20, 0.25
_P_NULL_SYSTEM = 0.30
_P_NULL_EMPTY_RESPONSE = 0.30  # an empty answer is written as JSON null this often
_INDIC = ("hi", "ta", "bn", "mr")
_PROMPT_MIN, _PROMPT_MAX = 50, 600
# Themes whose good answer leads with a refusal or redirection, before any facts.
_DECLINE_FIRST = frozenset({"harmful", "jailbreak", "toxicity", "privacy", "scope", "awareness"})


# --------------------------------------------------------------------------- packaged files


@cache
def _packaged_bytes(name: str) -> bytes:
    try:
        return resources.files(__package__).joinpath(name).read_bytes()
    except (FileNotFoundError, OSError) as exc:
        raise DataError(
            f"the packaged file is missing or unreadable ({exc}); reinstall gbscore",
            file=f"gbscore/datasets/{name}",
        ) from None


def load_metric_names() -> list[str]:
    """Return the 145 real competition metric names packaged with gbscore.

    Returns
    -------
    list of str
        Names in file order; ``names[i]`` matches row ``i`` of
        :func:`load_metric_embeddings`. A new list on every call.

    Examples
    --------
    >>> from gbscore.datasets import load_metric_names
    >>> names = load_metric_names()
    >>> len(names), names[0]
    (145, 'inclusivity/gender_inclusivity')
    """
    return list(json.loads(_packaged_bytes(NAMES_FILE).decode("utf-8")))


def load_metric_embeddings() -> np.ndarray:
    """Return the real competition metric-name embeddings packaged with gbscore.

    Returns
    -------
    ndarray of shape (145, 768), dtype float32
        Row ``i`` embeds ``load_metric_names()[i]`` (unit norm). A new array on every
        call, so callers may modify it.
    """
    array = np.load(BytesIO(_packaged_bytes(EMBEDDINGS_FILE)), allow_pickle=False)
    return array.astype(np.float32, copy=True)


# --------------------------------------------------------------------------- metric table


def _theme_of(name: str) -> str:
    """Theme of a metric: the first theme with a keyword occurring in its name."""
    for theme, spec in T.THEMES.items():
        if any(keyword in name for keyword in spec["keywords"]):
            return theme
    return "general"


def _is_general(name: str) -> bool:
    """Whether a judge would score this metric fairly high on any conversation."""
    return name in T.GENERAL_EXACT or any(k in name for k in T.GENERAL_KEYWORDS)


def _humanize(name: str) -> str:
    """``privacy_leakage/prompt_based_pii_leakage`` -> ``prompt based pii leakage``."""
    return " ".join(name.rsplit("/", 1)[-1].replace("_", " ").split())


class _Metrics:
    """Themes, families and swap pools of the metric list."""

    def __init__(self, names: list[str]):
        self.names = names
        self.themes = [_theme_of(n) for n in names]
        self.families = [n.split("/", 1)[0] for n in names]
        self.general = [_is_general(n) for n in names]
        self.related, self.unrelated, self.general_pool = [], [], []
        for i in range(len(names)):
            rel, unrel, gen = [], [], []
            for j in range(len(names)):
                if j == i:
                    continue
                if self.general[j]:
                    gen.append(j)
                elif self.families[j] == self.families[i] or self.themes[j] == self.themes[i]:
                    rel.append(j)
                else:
                    unrel.append(j)
            self.related.append(rel)
            self.unrelated.append(unrel)
            self.general_pool.append(gen)


# --------------------------------------------------------------------------- random helpers


class _Draw:
    """Small conveniences over one ``RandomState``; every draw goes through it."""

    def __init__(self, rng: np.random.RandomState):
        self.rng = rng

    def pick(self, seq):
        return seq[self.rng.randint(len(seq))]

    def chance(self, p: float) -> bool:
        return self.rng.random_sample() < p

    def sample(self, seq, k: int) -> list:
        k = max(0, min(k, len(seq)))
        return [seq[i] for i in self.rng.permutation(len(seq))[:k]]

    def between(self, lo: int, hi: int) -> int:
        return int(self.rng.randint(lo, hi + 1))

    def weighted(self, options: dict):
        keys = list(options)
        p = np.asarray([options[k] for k in keys], dtype=float)
        return keys[self.rng.choice(len(keys), p=p / p.sum())]


def _quota(n: int, shares: dict, d: _Draw) -> list:
    """``n`` labels in the given shares (largest remainder), in random order."""
    keys = list(shares)
    raw = np.asarray([shares[k] for k in keys]) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    labels = [k for k, c in zip(keys, counts, strict=True) for _ in range(c)]
    return [labels[i] for i in d.rng.permutation(n)]


# --------------------------------------------------------------------------- text pieces


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym or a name."""
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def _list_block(d: _Draw, heading: str | None, items: list[str], markdown: bool) -> str:
    if not markdown:
        return " ".join(items)
    bullet = d.pick(("- ", "* ", "\u2022 ", "1. "))
    lines = [
        (f"{i}. " if bullet == "1. " else bullet) + item for i, item in enumerate(items, start=1)
    ]
    if heading:
        lines.insert(0, d.pick(("### {}", "**{}:**", "## {}", "**{}**")).format(heading))
    return "\n".join(lines)


def _typos(d: _Draw, text: str, rate: float) -> str:
    """Swap two inner letters in some words: the slips a fluency judge marks down."""
    words = text.split(" ")
    for i, word in enumerate(words):
        if len(word) > 4 and word.isalpha() and d.chance(rate):
            j = d.between(1, len(word) - 3)
            words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    return " ".join(words)


def _calculation(d: _Draw, domain: str) -> dict:
    """A small worked sum for the reasoning theme: question, steps, answer, a wrong answer."""
    if domain == "agriculture":
        acres, dose = d.between(2, 9), d.pick((25, 30, 40, 45, 50))
        total = acres * dose
        return {
            "calc": f"how much urea I need for {acres} acres at {dose} kg per acre, applied in "
            "two equal splits",
            "steps": [
                f"Total urea = {acres} acres x {dose} kg = {total} kg.",
                f"Two equal splits means {total} / 2 = {total / 2:g} kg per application.",
                f"Therefore you need {total} kg in all, {total / 2:g} kg each time.",
            ],
            "answer": f"{total} kg",
            "wrong": f"{total + dose} kg",
        }
    if domain == "banking":
        principal = d.pick((20000, 50000, 75000, 100000, 150000))
        rate, years = d.pick((7, 8, 9, 10, 12)), d.between(1, 5)
        yearly = principal * rate // 100
        interest = yearly * years
        return {
            "calc": f"the simple interest on a loan of \u20b9{principal:,} at {rate}% a year "
            f"for {years} years",
            "steps": [
                f"Interest for one year = \u20b9{principal:,} x {rate}/100 = \u20b9{yearly:,}.",
                f"Over {years} years: \u20b9{yearly:,} x {years} = \u20b9{interest:,}.",
                f"Therefore you repay \u20b9{principal:,} + \u20b9{interest:,} = "
                f"\u20b9{principal + interest:,} in total.",
            ],
            "answer": f"\u20b9{interest:,}",
            "wrong": f"\u20b9{interest * 2:,}",
        }
    if domain == "transport":
        people, fare, off = d.between(2, 6), d.pick((450, 620, 780, 1250)), d.pick((10, 25, 50))
        full = people * fare
        total = full * (100 - off) // 100
        return {
            "calc": f"the total fare for {people} passengers at \u20b9{fare} each with a {off}% "
            "concession",
            "steps": [
                f"Full fare = {people} x \u20b9{fare} = \u20b9{full:,}.",
                f"The concession is {off}%, so you pay {100 - off}% of it.",
                f"Therefore the total is \u20b9{full:,} x {100 - off}/100 = \u20b9{total:,}.",
            ],
            "answer": f"\u20b9{total:,}",
            "wrong": f"\u20b9{full:,}",
        }
    goal, per_month = d.pick((12000, 18000, 25000, 30000, 45000)), d.pick((1500, 2000, 2500))
    months = math.ceil(goal / per_month)
    return {
        "calc": f"how many months it takes to save \u20b9{goal:,} if I put aside "
        f"\u20b9{per_month:,} a month",
        "steps": [
            f"Divide the goal by the monthly saving: {goal:,} / {per_month:,} = "
            f"{goal / per_month:.2f}.",
            f"Round up, because a part-month still needs a full month's saving: {months} months.",
            f"Therefore you reach \u20b9{goal:,} after {months} months, with "
            f"\u20b9{months * per_month - goal:,} to spare.",
        ],
        "answer": f"{months} months",
        "wrong": f"{months - 1} months",
    }


# --------------------------------------------------------------------------- conversations


def _slots(d: _Draw, domain: str, metric: str, lang: str, entry: int | None = None) -> dict:
    """Everything a template may ask for. ``entry`` picks an Indic question of the domain."""
    dom = T.DOMAINS[domain]
    if entry is None:
        topic = d.pick(tuple(dom["topics"]))
    else:
        topic = T.INDIC_TOPICS[domain][entry]
    fact, other_fact = d.sample(dom["topics"][topic], 2)
    calc = _calculation(d, domain)
    native = ""
    if entry is not None and lang in T.LANGUAGES:
        native = T.LANGUAGES[lang]["domains"][domain][entry][0]
    return {
        "entry": entry,
        "topic": topic,
        "Topic": topic[0].upper() + topic[1:],
        "place": d.pick(T.PLACES),
        "persona": d.pick(T.PERSONAS),
        "person": d.pick(T.PERSONS),
        "group": d.pick(T.GROUPS),
        "harm": d.pick(dom["harms"]),
        "offscope": d.pick(T.OFFSCOPE),
        "offscope_answer": d.pick(T.OFFSCOPE_ANSWERS),
        "domain_noun": dom["noun"],
        "fact": fact,
        "other_fact": other_fact,
        "digits": f"{d.between(1000, 9999)}",
        "concern": _humanize(metric),
        "lname": T.LANGUAGES[lang]["name"] if lang in T.LANGUAGES else "English",
        "q_en": d.pick(T.THEMES["general"]["prompts"]).format(
            topic=topic, place="my district", persona="beginner"
        ),
        "q_native": native,
        **calc,
    }


def _facts(d: _Draw, domain: str, topic: str, n: int) -> list[str]:
    """``n`` facts for an answer on ``topic``: its own first, then the domain's, then more."""
    dom = T.DOMAINS[domain]
    others = [f for t, facts in dom["topics"].items() if t != topic for f in facts]
    ordered = [
        *d.sample(dom["topics"][topic], len(dom["topics"][topic])),
        *d.sample(dom["facts"], len(dom["facts"])),
        *d.sample(others, len(others)),
    ]
    return ordered[: max(1, n)]


def _system_prompt(d: _Draw, domain: str, theme: str, slots: dict, lang: str) -> str:
    dom = T.DOMAINS[domain]
    head = f"You are {d.pick(dom['assistants'])}, {dom['role']} for {d.pick(dom['audiences'])}."
    rules = d.sample(dom["rules"], d.between(1, 3))
    extra = []
    if d.chance(0.8):
        extra.append(d.pick(T.THEMES[theme]["rules"]))
    if d.chance(0.45):
        extra.append(d.pick(T.SYSTEM_CONCERN).format(**slots))
    if d.chance(0.6 if lang != "en" else 0.2):
        extra.append(d.pick(T.SYSTEM_LANGUAGE))
    parts = [head, *rules, *extra]
    while len(" ".join(parts)) > _PROMPT_MAX and len(parts) > 1:
        parts.pop(1)
    return " ".join(parts)


def _with_context(d: _Draw, core: str, contexts, slots: dict, english: bool) -> str:
    """Add the user's circumstances around the question; the result has 50-600 characters."""
    pool = list(contexts) + (list(T.STORY) if english else [])
    pool = [c.format(**slots) for c in d.sample(pool, len(pool))]
    wanted = d.between(3, 7) if d.chance(0.15) else d.between(0, 2)
    before, after = [], []
    while pool and (len(before) + len(after) < wanted or len(" ".join([core, *before])) < 60):
        (before if d.chance(0.6) else after).append(pool.pop())
    text = " ".join([*before, core, *after])
    while len(text) > _PROMPT_MAX and (before or after):
        (before or after).pop()
        text = " ".join([*before, core, *after])
    if len(text) < _PROMPT_MIN:  # every context used and still short: ask for detail
        text += " Please explain in detail."
    return text[:_PROMPT_MAX]


def _english_answer(d: _Draw, theme: str, domain: str, slots: dict, quality: float,
                    calc: bool) -> str:  # fmt: skip
    spec, dom = T.THEMES[theme], T.DOMAINS[domain]
    strong = quality >= 9 or (quality == 8 and d.chance(0.5))
    opener = d.pick(spec["openers"]) if strong and spec.get("openers") else None
    blocks = [(opener or d.pick(T.WEAK_OPENERS)).format(**slots)]
    markdown = d.chance(0.7)

    n_facts = int(np.clip(round(d.rng.lognormal(np.log(7.0), 0.55)), 1, 15))
    if quality <= 7:
        n_facts = min(n_facts, d.between(1, 3))
    if theme == "reasoning" and calc:
        steps = slots["steps"] if quality >= 8 else slots["steps"][-1:]
        body = _list_block(d, d.pick(spec["headings"]), steps, markdown)
    elif theme == "reasoning":
        markers = ("First, ", "Next, ", "Because of this, ", "Also, ", "Finally, ")
        facts = _facts(d, domain, slots["topic"], min(n_facts + 1, len(markers)))
        body = _list_block(
            d,
            d.pick(spec["headings"]),
            [m + _lower_first(f) for m, f in zip(markers, facts, strict=False)],
            markdown,
        )
    else:
        heading = d.pick(T.FACT_HEADINGS).format(**slots)
        body = _list_block(d, heading, _facts(d, domain, slots["topic"], n_facts), markdown)

    n_tips = {10.0: d.between(2, 4), 9.0: d.between(2, 3), 8.0: d.between(0, 1)}.get(quality, 0)
    section = None
    if n_tips and spec["tips"]:
        tips = [t.format(**slots) for t in d.sample(spec["tips"], n_tips)]
        heading = d.pick([h for h in spec["headings"] if h not in body])
        section = _list_block(d, heading.format(**slots), tips, markdown)
    if theme in _DECLINE_FIRST:
        blocks += [b for b in (section, body) if b]
    else:
        blocks += [b for b in (body, section) if b]

    if quality >= 9 and d.chance(0.25):
        blocks.append(
            _list_block(d, d.pick(T.GENERIC_HEADINGS), d.sample(T.GENERIC, d.between(2, 6)), True)
        )
    if quality >= 9 and d.chance(0.06):  # the long tail: a very thorough answer
        every = [f for facts in dom["topics"].values() for f in facts]
        blocks.append(_list_block(d, "More detail", every, True))
        blocks.append(_list_block(d, d.pick(T.GENERIC_HEADINGS), list(T.GENERIC), True))
    if quality == 10 or (quality >= 8 and d.chance(0.5)):
        blocks.append(d.pick(T.CLOSINGS) + (" " + dom["help"] if d.chance(0.5) else ""))
    text = "\n\n".join(blocks)
    if quality == 6:
        text = _typos(d, text, 0.08)
    elif quality == 7 and d.chance(0.5):
        text = _typos(d, text, 0.03)
    return text


def _indic_answer(d: _Draw, lang: str, theme: str, domain: str, slots: dict,
                  quality: float) -> str:  # fmt: skip
    lines = T.LANGUAGES[lang]
    entries = lines["domains"][domain]
    entry = slots["entry"]
    if entry is None and slots["topic"] in T.INDIC_TOPICS[domain]:
        entry = T.INDIC_TOPICS[domain].index(slots["topic"])
    if entry is None:  # a theme prompt (a jailbreak, a privacy probe...): any domain facts
        facts = [f for _, group in entries for f in group]
    else:
        facts = [*entries[entry][1], *(f for q, group in entries if q is None for f in group)]
    # A refusal-style opening only fits the theme's own prompt, not a plain domain question.
    keys = T.THEME_PHRASES.get(theme, ("greet",))
    if slots["entry"] is not None and theme in T.THEME_PROMPT_DOMAINS:
        keys = ("greet",)
    blocks = [" ".join(lines[key] for key in keys)]
    if quality <= 7 and d.chance(0.5):  # a half-English answer reads as less natural
        blocks.insert(0, d.pick(T.WEAK_OPENERS))
    chosen = d.sample(facts, len(facts) if quality >= 9 else d.between(1, 2))
    blocks.append(_list_block(d, lines["points"], chosen, d.chance(0.6)))
    if quality >= 9 and d.chance(0.6):  # code-mixed answers often add English detail
        details = _facts(d, domain, slots["topic"], d.between(3, 6))
        blocks.append(_list_block(d, "More details", details, True))
    if quality == 10 or (quality >= 9 and d.chance(0.5)):
        blocks.append(lines["closing"])
    return "\n\n".join(blocks)


def _answer(d: _Draw, lang: str, theme: str, domain: str, slots: dict, quality: float,
            calc: bool) -> str:  # fmt: skip
    if lang == "en":
        # The language theme has no English answer style of its own.
        english_theme = "general" if theme == "multilingual" else theme
        return _english_answer(d, english_theme, domain, slots, quality, calc)
    return _indic_answer(d, lang, theme, domain, slots, quality)


def _conversation(d: _Draw, metric: str, theme: str, quality: float, defect: str | None) -> dict:
    """One row written for ``metric``: system prompt, user prompt, answer and metadata."""
    # Who writes in which language, and about which domain.
    entry, theme_prompt = None, False
    if theme == "multilingual":
        lang = d.weighted({"hi": 0.3, "ta": 0.2, "bn": 0.2, "mr": 0.2, "hinglish": 0.1})
        domain = d.pick(T.INDIC_DOMAINS)
        entry = d.between(0, len(T.INDIC_TOPICS[domain]) - 1)
    else:
        lang = d.weighted(T.LANGUAGE_WEIGHTS)
        if lang == "en":
            domain = d.pick(tuple(T.DOMAINS))
        else:
            theme_prompt = theme in T.THEME_PROMPT_DOMAINS and d.chance(0.8)
            domain = (T.THEME_PROMPT_DOMAINS.get(theme) if theme_prompt else None) or d.pick(
                T.INDIC_DOMAINS
            )
            if not theme_prompt:
                entry = d.between(0, len(T.INDIC_TOPICS[domain]) - 1)
    slots = _slots(d, domain, metric, lang, entry)
    spec = T.THEMES[theme]

    # The user's message.
    if theme == "multilingual":
        template = d.pick(spec["prompts"])
        prompt_lang = lang if "{q_native}" in template else "en"
        core = template.format(**slots)
        contexts = T.DOMAINS[domain]["contexts"]
    elif lang == "en":
        template = d.pick(spec["prompts"])
        core, prompt_lang = template.format(**slots), "en"
        contexts = T.DOMAINS[domain]["contexts"]
    else:
        template = ""
        lines = T.LANGUAGES[lang]
        core = lines["theme_prompts"][theme] if theme_prompt else slots["q_native"]
        prompt_lang, contexts = lang, lines["contexts"]
    user_prompt = _with_context(d, core, contexts, slots, prompt_lang == "en")
    calc = "{calc}" in template

    system_prompt = (
        None if d.chance(_P_NULL_SYSTEM) else _system_prompt(d, domain, theme, slots, lang)
    )

    # The answer, good or with the defect behind a low score.
    answer_lang = lang
    null_response = False
    if defect is None:
        response = _answer(d, lang, theme, domain, slots, quality, calc)
    elif defect == "empty":
        response, null_response = "", d.chance(_P_NULL_EMPTY_RESPONSE)
    elif defect == "short":
        response, answer_lang = d.pick(T.SHORT_RESPONSES), "en"
    elif defect == "off_topic":
        indic = lang != "en"
        other = d.pick(tuple(x for x in (T.INDIC_DOMAINS if indic else T.DOMAINS) if x != domain))
        other_entry = d.between(0, len(T.INDIC_TOPICS[other]) - 1) if indic else None
        other_slots = _slots(d, other, metric, lang, other_entry)
        response = _answer(d, lang, "general", other, other_slots, 9.0, False)
    elif defect == "wrong_language":
        answer_domain, answer_slots = domain, slots
        if lang == "en" or d.chance(0.3):
            answer_lang = d.pick(tuple(x for x in (*_INDIC, "hinglish") if x != lang))
            if domain not in T.INDIC_DOMAINS:
                answer_domain = d.pick(T.INDIC_DOMAINS)
                answer_slots = _slots(d, answer_domain, metric, answer_lang)
        else:
            answer_lang = "en"
        response = _answer(d, answer_lang, theme, answer_domain, answer_slots, 9.0, calc)
    else:  # theme_bad: the theme's own failure, e.g. complying with a jailbreak
        response, answer_lang = d.pick(spec["bad"]).format(**slots), "en"

    return {
        "system_prompt": system_prompt,
        "user_prompt": user_prompt,
        "response": None if null_response else response,
        "theme": theme,
        "domain": domain,
        "prompt_lang": prompt_lang,
        "answer_lang": answer_lang,
        "defect": defect,
    }


def _low_row(d: _Draw, theme: str, force_empty: bool) -> tuple[str, float]:
    """Pick the visible defect behind a low score, and the score it earns."""
    defect = "empty" if force_empty else d.weighted({k: w for k, (w, _) in _DEFECTS.items()})
    if defect == "theme_bad" and "bad" not in T.THEMES[theme]:
        defect = "wrong_language"
    lo, hi = _DEFECTS[defect][1] or T.THEMES[theme]["bad_scores"]
    score = 0 if defect == "empty" and d.chance(0.8) else d.between(lo, hi)
    return defect, float(score)


def _rows(d: _Draw, metrics: _Metrics, n: int, weights: np.ndarray, *, allow_half: bool):
    """``n`` matched rows: conversations written for their metric, with judge scores."""
    picks = d.rng.choice(len(metrics.names), size=n, p=weights)
    tiers = _quota(n, _TIER_SHARES, d)
    if allow_half and n >= 50:  # the real train labels hold exactly one 9.5
        tiers[tiers.index(9.0)] = 9.5
    rows, first_low = [], True
    for idx, tier in zip(picks, tiers, strict=True):
        name, theme = metrics.names[idx], metrics.themes[idx]
        if tier == "low":
            defect, score = _low_row(d, theme, first_low)
            first_low = False
            quality = 9.0
        else:
            defect, score = None, float(tier)
            quality = 9.0 if tier == 9.5 else float(tier)
        row = _conversation(d, name, theme, quality, defect)
        row.update(metric=int(idx), score=score, quality=quality)
        rows.append(row)
    return rows


def _judge_swap(d: _Draw, row: dict, kind: str) -> float:
    """The simulated judge's score for a conversation paired with another metric."""
    broken = row["defect"] is not None
    if kind == "general":
        if broken:
            return float(d.between(0, 3))
        return float(d.pick((5, 6, 7, 7, 8, 8, 9)) - (1 if row["quality"] <= 7 else 0))
    if kind == "related":
        return float(d.between(0, 3) if broken else d.pick((3, 4, 5, 5, 6, 6, 7)))
    if d.chance(0.04):  # judges are not perfectly consistent
        return float(d.between(5, 8))
    return float(d.pick((0, 0, 1, 1, 2, 2, 3, 3, 4, 5)))


def _generate(n_train, n_test, random_state, mismatch_fraction):
    """Raw records (JSON nulls kept) and metadata; the public functions format them."""
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ConfigError(f"{name} must be a positive integer; got {value!r}")
    if (
        isinstance(mismatch_fraction, bool)
        or not isinstance(mismatch_fraction, numbers.Real)
        or not 0.0 <= float(mismatch_fraction) <= 1.0
    ):
        raise ConfigError(
            f"mismatch_fraction must be a number in [0, 1]; got {mismatch_fraction!r}"
        )
    try:
        d = _Draw(check_random_state(random_state))
    except ValueError:
        raise ConfigError(
            f"random_state must be None, an int or a numpy RandomState; got {random_state!r}"
        ) from None

    metrics = _Metrics(load_metric_names())
    # Some metrics are rated more often than others, as in the real data.
    weights = d.rng.gamma(2.0, size=len(metrics.names))
    weights /= weights.sum()

    train = _rows(d, metrics, int(n_train), weights, allow_half=True)
    test = _rows(d, metrics, int(n_test), weights, allow_half=False)
    n_swap = round(float(mismatch_fraction) * len(test))
    swapped = set(d.rng.permutation(len(test))[:n_swap].tolist())
    for i, row in enumerate(test):
        source = row["metric"]
        row["source_metric"], row["kind"] = source, "matched"
        if i not in swapped:
            continue
        u = d.rng.random_sample()
        if u < _SWAP_GENERAL and metrics.general_pool[source]:
            row["metric"], judged = d.pick(metrics.general_pool[source]), "general"
        elif u < _SWAP_GENERAL + _SWAP_RELATED and metrics.related[source]:
            row["metric"], judged = d.pick(metrics.related[source]), "related"
        else:
            row["metric"], judged = d.pick(metrics.unrelated[source]), "unrelated"
        row["score"] = _judge_swap(d, row, judged)
        row["kind"] = "general" if judged == "general" else "mismatched"
    for row in (*train, *test):
        row["metric_name"] = metrics.names[row["metric"]]
    return train, test, metrics.names


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True, eq=False)
class DemoData:
    """A generated demo dataset in tidy form.

    Attributes
    ----------
    train : DataFrame
        Columns ``metric_name, system_prompt, user_prompt, response`` (str, ``""`` for
        null) and ``score`` (float64).
    test : DataFrame
        The same text columns, no score; row ``i`` has submission ID ``i + 1``.
    test_labels : DataFrame
        Columns ``ID`` (int64, 1..N), ``score`` (float64) and ``kind`` (one of
        ``"matched"``, ``"general"``, ``"mismatched"``).
    metric_names : list of str
        The packaged real metric names.
    metric_embeddings : ndarray of shape (145, 768), float32
        The packaged real metric-name embeddings.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    test_labels: pd.DataFrame
    metric_names: list[str]
    metric_embeddings: np.ndarray

    def __repr__(self) -> str:
        return (
            f"DemoData(train={len(self.train)} rows, test={len(self.test)} rows, "
            f"metrics={len(self.metric_names)})"
        )


def _tidy(rows: list[dict], *, with_score: bool) -> pd.DataFrame:
    frame = pd.DataFrame(
        {col: [row[col] or "" for row in rows] for col in TEXT_COLUMNS}, dtype=object
    )
    for col in TEXT_COLUMNS:
        frame[col] = frame[col].astype(str)
    if with_score:
        frame["score"] = np.asarray([row["score"] for row in rows], dtype=np.float64)
    return frame


def _labels(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ID": np.arange(1, len(rows) + 1, dtype=np.int64),
            "score": np.asarray([row["score"] for row in rows], dtype=np.float64),
            "kind": [row["kind"] for row in rows],
        }
    )


def make_judge_data(
    n_train: int = 1000,
    n_test: int = 500,
    *,
    random_state=0,
    mismatch_fraction: float = 0.6,
) -> DemoData:
    """Generate synthetic LLM-judge data shaped like the competition's.

    Conversations are written for a metric: a deployed assistant (farming, health,
    banking, education, welfare schemes, legal aid, wellbeing, transport) answers a user
    whose question exercises the metric's concern (a jailbreak attempt for jailbreak
    metrics, a request for someone's phone number for privacy metrics, a reply wanted
    in Tamil for language metrics...). Text is mostly English, with Hindi, Tamil,
    Bengali and Marathi in their scripts and romanised Hindi; answers are often markdown.

    Train labels follow the real skew (about 63% 9s, 28% 10s, a few 6-8, about 1% of 0-5
    and one 9.5); every low score comes with a visible defect. In the test set about
    ``mismatch_fraction`` of rows pair a conversation with another metric, scored by a
    simulated judge: low (0-5) for an unrelated metric, middling (3-7) for one of the
    same family or theme, fairly high (5-9) for metrics that apply to any conversation
    such as fluency or relevance (``kind="general"``).

    Parameters
    ----------
    n_train : int, default=1000
        Number of training rows (at least 1).
    n_test : int, default=500
        Number of test rows (at least 1).
    random_state : int, RandomState instance or None, default=0
        Seed; the same seed gives the same data.
    mismatch_fraction : float, default=0.6
        Share of test rows whose metric is swapped for another one, in [0, 1].

    Returns
    -------
    DemoData
        Tidy train and test tables, the test labels with their kind, and the packaged
        metric names and embeddings.

    Raises
    ------
    ConfigError
        If a size is not a positive integer, ``mismatch_fraction`` is outside [0, 1] or
        ``random_state`` is not a valid seed.

    Examples
    --------
    >>> from gbscore.datasets import make_judge_data
    >>> data = make_judge_data(n_train=200, n_test=100, random_state=0)
    >>> data.train.shape, data.test.shape
    ((200, 5), (100, 4))
    >>> sorted(data.test_labels["kind"].unique())
    ['general', 'matched', 'mismatched']
    """
    train, test, names = _generate(n_train, n_test, random_state, mismatch_fraction)
    return DemoData(
        train=_tidy(train, with_score=True),
        test=_tidy(test, with_score=False),
        test_labels=_labels(test),
        metric_names=list(names),
        metric_embeddings=load_metric_embeddings(),
    )


def _dump_json(records: list[dict]) -> str:
    # The real files escape "/" as "\/"; "/" only ever occurs inside JSON strings, so a
    # plain replacement keeps the document valid.
    return json.dumps(records, ensure_ascii=False, indent=2).replace("/", "\\/") + "\n"


def write_demo_data(
    directory,
    *,
    n_train: int = 1000,
    n_test: int = 500,
    random_state=0,
    mismatch_fraction: float = 0.6,
) -> Path:
    """Generate demo data and write it as competition files.

    Writes ``train_data.json`` (``score`` as a string such as ``"9.0"``, ``system_prompt``
    null in about 30% of rows, a few empty or null responses), ``test_data.json`` (no
    score), ``metric_names.json`` and ``metric_name_embeddings.npy`` (the packaged real
    files, byte for byte) and ``test_labels.csv`` (``ID,score,kind``). The same
    arguments always give the same bytes.

    Parameters
    ----------
    directory : str or path-like
        Output directory; created (with parents) if needed. Existing files of the same
        names are overwritten.
    n_train, n_test, random_state, mismatch_fraction
        As in :func:`make_judge_data`; the tables written are the ones it returns.

    Returns
    -------
    Path
        ``directory``.

    Raises
    ------
    ConfigError
        For invalid arguments (see :func:`make_judge_data`) or when ``directory`` is an
        existing file.

    Examples
    --------
    >>> from gbscore.datasets import write_demo_data
    >>> path = write_demo_data("demo-data", n_train=200, n_test=100)  # doctest: +SKIP
    >>> sorted(p.name for p in path.iterdir())  # doctest: +SKIP
    ['metric_name_embeddings.npy', 'metric_names.json', 'test_data.json', 'test_labels.csv',
     'train_data.json']
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is an existing file; expected a directory to write into")
    train, test, _ = _generate(n_train, n_test, random_state, mismatch_fraction)
    train_records = [
        {
            "metric_name": row["metric_name"],
            "score": f"{row['score']:.1f}",
            "user_prompt": row["user_prompt"],
            "response": row["response"],
            "system_prompt": row["system_prompt"],
        }
        for row in train
    ]
    test_records = [
        {
            "metric_name": row["metric_name"],
            "user_prompt": row["user_prompt"],
            "response": row["response"],
            "system_prompt": row["system_prompt"],
        }
        for row in test
    ]
    labels = "".join(
        f"{i},{row['score']:.1f},{row['kind']}\n" for i, row in enumerate(test, start=1)
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "train_data.json": _dump_json(train_records).encode("utf-8"),
        "test_data.json": _dump_json(test_records).encode("utf-8"),
        NAMES_FILE: _packaged_bytes(NAMES_FILE),
        EMBEDDINGS_FILE: _packaged_bytes(EMBEDDINGS_FILE),
        "test_labels.csv": ("ID,score,kind\n" + labels).encode("utf-8"),
    }
    for name, payload in files.items():
        (directory / name).write_bytes(payload)
    return directory
