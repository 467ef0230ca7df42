"""One conversation written for one metric: the user's message, a system prompt and an answer.

The metric's theme (see :data:`._text.THEMES`) decides what the user asks and what a good
answer contains; a deployed-assistant domain supplies the system prompt and the facts. An
answer is as good as the quality it is asked for, or carries the visible defect behind a
low score (empty or one-line answer, off-topic answer, wrong language, the theme's own
failure such as complying with a jailbreak). :class:`Draw` makes every random choice, so a
seed fixes the text.
"""

from __future__ import annotations

import math

import numpy as np

from . import _text as T

__all__ = ["Draw", "write_conversation"]

_P_NULL_SYSTEM = 0.30
_P_NULL_EMPTY_RESPONSE = 0.30  # an empty answer is written as JSON null this often
_INDIC = ("hi", "ta", "bn", "mr")
_PROMPT_MIN, _PROMPT_MAX = 50, 600
# Themes whose good answer leads with a refusal or redirection, before any facts.
_DECLINE_FIRST = frozenset({"harmful", "jailbreak", "toxicity", "privacy", "scope", "awareness"})


def _humanize(name: str) -> str:
    """``privacy_leakage/prompt_based_pii_leakage`` -> ``prompt based pii leakage``."""
    return " ".join(name.rsplit("/", 1)[-1].replace("_", " ").split())


class Draw:
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


# --------------------------------------------------------------------------- text pieces


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym or a name."""
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def _list_block(d: Draw, heading: str | None, items: list[str], markdown: bool) -> str:
    if not markdown:
        return " ".join(items)
    bullet = d.pick(("- ", "* ", "\u2022 ", "1. "))
    lines = [
        (f"{i}. " if bullet == "1. " else bullet) + item for i, item in enumerate(items, start=1)
    ]
    if heading:
        lines.insert(0, d.pick(("### {}", "**{}:**", "## {}", "**{}**")).format(heading))
    return "\n".join(lines)


def _typos(d: Draw, text: str, rate: float) -> str:
    """Swap two inner letters in some words: the slips a fluency judge marks down."""
    words = text.split(" ")
    for i, word in enumerate(words):
        if len(word) > 4 and word.isalpha() and d.chance(rate):
            j = d.between(1, len(word) - 3)
            words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    return " ".join(words)


def _calculation(d: Draw, domain: str) -> dict:
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


def _slots(d: Draw, domain: str, metric: str, lang: str, entry: int | None = None) -> dict:
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


def _facts(d: Draw, domain: str, topic: str, n: int) -> list[str]:
    """``n`` facts for an answer on ``topic``: its own first, then the domain's, then more."""
    dom = T.DOMAINS[domain]
    others = [f for t, facts in dom["topics"].items() if t != topic for f in facts]
    ordered = [
        *d.sample(dom["topics"][topic], len(dom["topics"][topic])),
        *d.sample(dom["facts"], len(dom["facts"])),
        *d.sample(others, len(others)),
    ]
    return ordered[: max(1, n)]


def _system_prompt(d: Draw, domain: str, theme: str, slots: dict, lang: str) -> str:
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


def _with_context(d: Draw, core: str, contexts, slots: dict, english: bool) -> str:
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


def _english_answer(d: Draw, theme: str, domain: str, slots: dict, quality: float,
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


def _indic_answer(d: Draw, lang: str, theme: str, domain: str, slots: dict,
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


def _answer(d: Draw, lang: str, theme: str, domain: str, slots: dict, quality: float,
            calc: bool) -> str:  # fmt: skip
    if lang == "en":
        # The language theme has no English answer style of its own.
        english_theme = "general" if theme == "multilingual" else theme
        return _english_answer(d, english_theme, domain, slots, quality, calc)
    return _indic_answer(d, lang, theme, domain, slots, quality)


def write_conversation(
    d: Draw, metric: str, theme: str, quality: float, defect: str | None
) -> dict:
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
