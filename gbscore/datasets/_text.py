"""Text banks for the demo generator, read from the packaged ``phrasebooks.json``.

The file is pure data; this module loads it once, on first use, and exposes each of its
top-level keys as an upper-case module attribute (``_text.THEMES`` is the ``"themes"``
key), with every JSON array turned into a tuple. Templates use ``str.format`` slots that
``_generator._slots`` fills: ``{topic} {Topic} {fact} {other_fact} {place} {persona}
{person} {group} {harm} {offscope} {offscope_answer} {calc} {answer} {wrong}
{domain_noun} {lname} {q_en} {q_native} {digits} {concern}``. All content was written for
gbscore; facts are simplified public information about Indian services and may be out of
date, which is fine for demo data.

What the keys hold:

- ``PLACES``, ``PERSONAS``, ``PERSONS``, ``GROUPS``, ``OFFSCOPE``: slot fillers.
- ``DOMAINS``: one kind of deployed assistant each. ``topics`` maps what users ask about
  to the facts a good answer gives; ``facts`` are domain-wide extras for longer answers.
- ``STORY``: what users add about themselves, whatever the domain; long prompts use
  several. ``GENERIC``: lines any long answer may borrow, whatever the domain.
- ``FACT_HEADINGS``, ``GENERIC_HEADINGS``, ``CLOSINGS``, ``WEAK_OPENERS``,
  ``SHORT_RESPONSES``, ``OFFSCOPE_ANSWERS``, ``SYSTEM_CONCERN``, ``SYSTEM_LANGUAGE``: pieces
  of answers and system prompts.
- ``THEMES``: ordered; a metric takes the first theme whose keyword occurs in its name.
  Safety themes come before the language theme so code-switched toxicity stays a toxicity
  metric. ``bad`` is the visible failure a judge scores low; ``bad_scores`` its score range.
- ``GENERAL_KEYWORDS``, ``GENERAL_EXACT``: metrics a judge applies to any conversation
  have one of these words in their name. Language-specific names are excluded: fluency
  *in Indian languages* needs Indic text.
- ``INDIC_TOPICS``: domains with Indic text. Per language, each domain in ``LANGUAGES``
  holds ``(question, facts)`` entries whose English topics are listed here in the same
  order; an entry with no question holds facts for any answer in that domain. Prompts
  under ``theme_prompts`` carry their own domain, given by ``THEME_PROMPT_DOMAINS``.
  ``INDIC_DOMAINS`` (not in the file) is ``tuple(INDIC_TOPICS)``.
- ``THEME_PHRASES``: which phrasebook lines open a non-English answer, per theme.
- ``LANGUAGES``: the phrasebook of each non-English language.
- ``LANGUAGE_WEIGHTS``: language of the user prompt outside the language theme; most
  rows are English.
"""

from __future__ import annotations

import json
from functools import cache

from ._packaged import packaged_bytes

PHRASEBOOKS_FILE = "phrasebooks.json"


def _frozen(value):
    """JSON arrays as tuples, recursively, so the shared banks cannot be changed by accident."""
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        return {key: _frozen(item) for key, item in value.items()}
    return value


@cache
def phrasebooks() -> dict:
    """Every text bank by its upper-case name; read from the package once per process."""
    banks = json.loads(packaged_bytes(PHRASEBOOKS_FILE).decode("utf-8"))
    banks.pop("description", None)
    banks = {key.upper(): _frozen(value) for key, value in banks.items()}
    banks["INDIC_DOMAINS"] = tuple(banks["INDIC_TOPICS"])
    return banks


def __getattr__(name: str):
    # PEP 562: ``_text.THEMES`` reads the bank on first use rather than at import.
    banks = phrasebooks() if name.isupper() else {}
    if name in banks:
        return banks[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
