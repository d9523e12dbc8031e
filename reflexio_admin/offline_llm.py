"""The offline provider: deterministic heuristics in place of a model.

It recognises plain first-person statements of fact and preference in user
turns ("I work night shifts" becomes "Works night shifts"), plain corrections
and confirmations of the agent (which become playbook rules), and embeds text
with feature hashing. That is enough for a meaningful demo and for testing
everything above the LLM. It reads no settings and makes no network calls.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from reflexio_admin.llm import (
    ClusterDecision,
    Extraction,
    Fact,
    Rule,
    Turn,
    Usage,
    estimate_tokens,
)

logger = logging.getLogger(__name__)

DIMENSIONS = 256
NEAR_IDENTICAL = 0.9
# What the instructions of a real prompt would add to each request, so that
# offline operations report realistic token usage.
_PROMPT_OVERHEAD_TOKENS = 300

# Text helpers

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalise(text: str) -> str:
    """Lower-case TEXT and reduce it to its words, for comparing short texts."""
    return " ".join(re.findall(r"\w+", text.translate(_QUOTES).lower()))


def _tidy(text: str) -> str:
    """Collapse spaces, capitalise, and drop a final full stop."""
    return _capitalise(" ".join(text.split()).rstrip(" ."))


def _words(text: str) -> list[str]:
    return text.split()


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def _truncate_words(text: str, limit: int) -> str:
    words = text.split()
    return " ".join(words[:limit])


def _swap(text: str, replacements: Sequence[tuple[re.Pattern[str], str]]) -> str:
    for pattern, replacement in replacements:
        text = pattern.sub(replacement, text)
    return text


def _pronoun_table(
    pairs: Sequence[tuple[str, str]],
) -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(rf"\b{old}\b", re.IGNORECASE), new) for old, new in pairs]


_USER_TO_THIRD = _pronoun_table(
    [
        ("i am", "they are"),
        ("i was", "they were"),
        ("i'm", "they're"),
        ("i've", "they've"),
        ("i'd", "they'd"),
        ("i'll", "they'll"),
        ("myself", "themselves"),
        ("mine", "theirs"),
        ("my", "their"),
        ("me", "them"),
        ("i", "they"),
    ]
)
_AGENT_TO_THIRD = _pronoun_table(
    [
        ("you're", "they're"),
        ("you've", "they've"),
        ("you'll", "they'll"),
        ("yourself", "themselves"),
        ("yours", "theirs"),
        ("your", "their"),
        (
            r"you(?= (?:can|could|should|will|would|need|have|are|were|may|might|"
            r"must|want|get|see|find)\b)",
            "they",
        ),
        ("you", "them"),
        ("i've", "the agent has"),
        ("i'll", "the agent will"),
        ("i'm", "the agent is"),
        ("i", "the agent"),
    ]
)


def _third_person(text: str) -> str:
    """Rewrite the user's first person ("my order") as third ("their order")."""
    return _swap(text, _USER_TO_THIRD)


# Facts about the user

_TIMES_TO_LIVE = (
    ("one_day", r"\b(?:today|tonight|this (?:morning|afternoon|evening))\b"),
    ("one_week", r"\b(?:tomorrow|this week(?:end)?|next week|next few days)\b"),
    ("one_month", r"\b(?:this month|next month|for a few weeks)\b"),
    ("one_year", r"\b(?:this year|next year|this semester|this season)\b"),
)

_LANGUAGES = _words(
    "english spanish french german italian portuguese dutch polish swedish "
    "norwegian danish finnish greek turkish russian ukrainian arabic hebrew hindi "
    "bengali urdu chinese mandarin cantonese japanese korean vietnamese thai "
    "indonesian malay catalan czech hungarian romanian swahili tagalog"
)
_NATIONALITIES = _words(
    "american british english scottish welsh irish canadian australian german "
    "french spanish italian dutch polish swedish norwegian danish finnish "
    "portuguese greek turkish swiss austrian belgian russian ukrainian indian "
    "chinese japanese korean mexican brazilian argentinian colombian chilean "
    "nigerian kenyan egyptian"
)
_DIETS = _words(
    "vegetarian vegan pescatarian pescetarian flexitarian omnivore carnivore keto paleo"
)
_OCCUPATIONS = set(
    _words(
        "accountant actor architect artist attorney baker barista carpenter cashier "
        "chef cleaner clerk coach consultant cook dentist designer developer doctor "
        "driver economist editor electrician engineer farmer firefighter founder "
        "freelancer gardener hairdresser journalist judge lawyer lecturer librarian "
        "manager mechanic midwife musician nurse officer paramedic pharmacist "
        "photographer physician physiotherapist pilot plumber professor programmer "
        "psychologist researcher retiree salesperson scientist secretary "
        "student surgeon teacher technician therapist translator tutor veterinarian "
        "waiter waitress writer"
    )
)
_STATES = _words(
    "retired unemployed self-employed freelance pregnant left-handed right-handed "
    "colorblind colourblind colour-blind color-blind deaf blind diabetic celiac "
    "coeliac introverted extroverted"
)
_MARITAL = _words("married single divorced engaged widowed")
_ALLERGY_STATES = ["lactose intolerant", "gluten intolerant"]

# Verbs whose first-person statements are facts ("I cook", "I speak German").
_FACT_VERBS = _words(
    "attend avoid belong bike care celebrate code collect commute cook cycle "
    "design develop dislike drink drive eat enjoy exercise fast follow freelance "
    "grow hate hike homeschool jog knit know lead like listen live love manage "
    "meditate observe own paint play practice practise pray prefer program raise "
    "read rent ride run sing sleep smoke speak study support swim take teach "
    "track train travel use volunteer wake walk watch wear work write"
)
_INTRANSITIVE = set(
    _words(
        "commute cook cycle exercise freelance hike jog knit meditate paint run sing "
        "smoke swim travel volunteer walk"
    )
)
_KEPT_ADVERBS = set(
    _words(
        "usually mostly mainly generally normally typically always often sometimes "
        "only rarely"
    )
)
_ADVERB_WORDS = (
    "really|actually|also|still|just|now|currently|definitely|totally|usually|"
    "mostly|mainly|generally|normally|typically|always|often|sometimes|only|rarely"
)
_ADVERBS = rf"(?P<adv>(?:(?:{_ADVERB_WORDS}) )*)"
_ANY_ADVERBS = rf"(?:(?:{_ADVERB_WORDS}) )*"
_I_AM = r"(?:i'm|i am)"
_VERB_ALT = "|".join(_FACT_VERBS)
_LANG_ALT = "|".join(_LANGUAGES)

_SENTENCE_BREAK = re.compile(r"(?<=[.!?;])\s+|\n+")
_CLAUSE_BREAK = re.compile(
    r"\s*,\s*(?:(?:and|but|so|also|plus)\s+)?(?=(?:i|my|please|call me)\b)"
    r"|\s+(?:and|but|so|also|plus)\s+(?=(?:i|my|please|call me)\b)",
    re.IGNORECASE,
)
_VERB_CONTINUATION = re.compile(rf"\s+and\s+(?=(?:{_VERB_ALT})\b)", re.IGNORECASE)
_LEADING_FILLER = re.compile(
    r"^(?:(?:oh|well|also|btw|by the way|anyway|actually|fyi|just so you know|"
    r"for context|for the record|as i said|as i mentioned|and|but|so|hi|hello|"
    r"hey|ok|okay|yes|yeah|yep|no|nope|sorry|oops|um|uh|sure|right|honestly|"
    r"again|remember|oh and)\b[\s,!.:;-]*)+",
    re.IGNORECASE,
)
_QUESTION_START = re.compile(
    r"^(?:can|could|would|will|do|does|did|is|are|am|was|were|what|why|how|when|"
    r"where|who|which|should|shall|may|might)\b",
    re.IGNORECASE,
)
_OBJECT_CUT = re.compile(
    r"\s*(?:[,:;(]|\s-\s|\b(?:because|since|so that|so|but|which|although|"
    r"though|if|when|whereas|and then)\b).*$",
    re.IGNORECASE,
)
_TRAILING_FILLER = re.compile(
    r"\s+(?:now|nowadays|these days|currently|at the moment|right now|by the way|"
    r"btw|too|as well|though|anyway|actually|lol|haha|thanks|thank you|please|"
    r"recently|lately|for now|yesterday|last (?:week|month|year)|"
    r"(?:a|one|two|three|a few|several|\d+) (?:days?|weeks?|months?|years?) ago)$",
    re.IGNORECASE,
)
_NOT_AN_OBJECT = re.compile(
    r"^(?:you|it|that|this|those|these|so|if|what|how|why|when|to know|no idea|"
    r"(?:a|an|another|one|some|a quick|a few|a couple of) "
    r"(?:question|problem|issue|query|request|doubt|concern|idea)s?)\b",
    re.IGNORECASE,
)


def _clean_object(text: str) -> str | None:
    """Trim a statement's object to the part worth keeping, or None."""
    text = _OBJECT_CUT.sub("", text).strip(" .!?\"'")
    previous = None
    while previous != text:
        previous = text
        text = _TRAILING_FILLER.sub("", text).strip(" .!?\"'")
    if not text or _NOT_AN_OBJECT.match(text):
        return None
    if len(text.split()) > 12:
        return None
    return _third_person(text)


def _third_person_verb(verb: str) -> str:
    verb = verb.lower()
    irregular = {"have": "has", "do": "does", "go": "goes", "be": "is"}
    if verb in irregular:
        return irregular[verb]
    if re.search(r"(?:s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def _kept_adverb(adverbs: str | None) -> str:
    for word in (adverbs or "").split():
        if word.lower() in _KEPT_ADVERBS:
            return word.lower() + " "
    return ""


def _person_name(text: str) -> str | None:
    words = []
    for word in text.split():
        if not re.fullmatch(r"[^\W\d_][\w'-]*", word) or word.lower() in {
            "and",
            "but",
            "please",
            "from",
            "by",
            "the",
            "here",
            "btw",
        }:
            break
        words.append(word[:1].upper() + word[1:])
        if len(words) == 3:
            break
    return " ".join(words) or None


def _name_fact(match: re.Match[str]) -> str | None:
    name = _person_name(match["x"])
    return f"Name is {name}" if name else None


def _called_fact(match: re.Match[str]) -> str | None:
    name = _person_name(match["x"])
    return f"Prefers to be called {name}" if name else None


def _object_fact(template: str) -> Callable[[re.Match[str]], str | None]:
    def build(match: re.Match[str]) -> str | None:
        obj = _clean_object(match["x"])
        if obj is None:
            return None
        adverb = _kept_adverb(match.groupdict().get("adv"))
        return _capitalise(adverb + template.format(x=obj))

    return build


def _lang_fact(match: re.Match[str]) -> str | None:
    return f"Wants answers in {match['lang'].capitalize()}"


def _always_fact(match: re.Match[str]) -> str | None:
    language = re.match(
        rf"(?:answer|reply|respond|write|talk|speak)(?: to me)? in ({_LANG_ALT})\b",
        match["x"],
        re.IGNORECASE,
    )
    if language:
        return f"Wants answers in {language[1].capitalize()}"
    obj = _clean_object(match["x"])
    return f"Wants the agent to always {obj}" if obj else None


def _standing_fact(match: re.Match[str]) -> str | None:
    fact = _always_fact(match)
    return fact.replace(" to always ", " to ") if fact else None


def _never_fact(match: re.Match[str]) -> str | None:
    obj = _clean_object(match["x"])
    return f"Does not want the agent to {obj}" if obj else None


def _i_am_word(match: re.Match[str]) -> str | None:
    word = match["x"]
    if word.lower() in _NATIONALITIES:
        return f"Is {word.capitalize()}"
    if word[:1].isupper() and word.lower() not in _COMMON_STATES:
        return f"Name is {word}"
    return None


_COMMON_STATES = set(
    _words(
        "ready sure fine good ok okay back here done sorry new tired happy busy "
        "confused lost hungry glad excited stuck late early home away off available "
        "free in out curious interested"
    )
)


def _have_fact(match: re.Match[str]) -> str | None:
    first = match["x"].split()[0].lower() if match["x"].split() else ""
    participles = {"been", "seen", "done", "tried", "gone", "made", "heard", "read"}
    skipped = {"to", "got", "had", "never", "already", "just", "no"} | participles
    if first in skipped and not re.match(r"no \w", match["x"], re.IGNORECASE):
        return None
    if first.endswith("ed"):
        return None
    return _object_fact("has {x}")(match)


def _negated_fact(match: re.Match[str]) -> str | None:
    obj = _clean_object(match["x"])
    if obj is None:
        return None
    verb = match["v"].lower()
    if verb == "like":
        return f"Dislikes {obj}"
    if match["neg"].lower() == "never":
        return f"Never {_third_person_verb(verb)} {obj}"
    return f"Does not {verb} {obj}"


def _verb_fact(match: re.Match[str]) -> str | None:
    verb = match["v"].lower()
    rest = match["x"].strip()
    adverb = _kept_adverb(match["adv"])
    if not rest:
        if verb not in _INTRANSITIVE:
            return None
        return _capitalise(adverb + _third_person_verb(verb))
    obj = _clean_object(rest)
    if obj is None:
        return None
    return _capitalise(f"{adverb}{_third_person_verb(verb)} {obj}")


_RELATIVES = (
    "partner|wife|husband|daughter|son|mother|father|mom|mum|dad|sister|brother|"
    "kids|children|kid|child|dog|cat|boss|baby"
)


def _my_attribute_fact(match: re.Match[str]) -> str | None:
    obj = _clean_object(match["x"])
    if obj is None:
        return None
    key = match["key"].lower()
    verb = match["verb"].lower()
    if re.fullmatch(_RELATIVES, key):
        return f"Their {key} {verb} {obj}"
    return f"{_capitalise(key)} {verb} {obj}"


_Builder = Callable[[re.Match[str]], str | None]


def _rule(pattern: str, build: _Builder) -> tuple[re.Pattern[str], _Builder]:
    return (re.compile(pattern, re.IGNORECASE), build)


# The first pattern that yields a fact wins, so specific statements come
# before generic ones.
_FACT_PATTERNS = [
    _rule(r"^my name(?:'s| is) (?P<x>.+)$", _name_fact),
    _rule(rf"^{_I_AM} called (?P<x>.+)$", _name_fact),
    _rule(r"^(?:please |you can )?call me (?P<x>.+)$", _called_fact),
    _rule(r"^i go by (?P<x>.+)$", _called_fact),
    _rule(
        rf"^{_I_AM} {_ADVERBS}allergic to (?P<x>.+)$",
        _object_fact("is allergic to {x}"),
    ),
    _rule(
        rf"^(?:{_I_AM}|i just turned|i turned) (?P<x>\d{{1,3}})(?: years? old)?$",
        lambda m: f"Is {m['x']} years old",
    ),
    _rule(rf"^{_I_AM} {_ADVERBS}from (?P<x>.+)$", _object_fact("is from {x}")),
    _rule(
        rf"^(?:{_I_AM} {_ANY_ADVERBS}(?:based|living|located) in|"
        rf"i {_ANY_ADVERBS}(?:live|reside) in|"
        r"i(?:'ve| have)? (?:just |recently |finally |now )?(?:moved|relocated) "
        r"(?:back )?to) (?P<x>.+)$",
        _object_fact("lives in {x}"),
    ),
    _rule(r"^i was born in (?P<x>.+)$", _object_fact("was born in {x}")),
    _rule(
        rf"^{_I_AM} {_ADVERBS}(?:an? )?(?P<x>{'|'.join(_DIETS)})$",
        lambda m: f"Is {m['x'].lower()}",
    ),
    _rule(
        rf"^{_I_AM} {_ADVERBS}(?P<x>{'|'.join(_MARITAL)})\b.*$",
        lambda m: f"Is {m['x'].lower()}",
    ),
    _rule(
        rf"^{_I_AM} {_ADVERBS}(?P<x>{'|'.join(_STATES + _ALLERGY_STATES)})$",
        lambda m: f"Is {m['x'].lower()}",
    ),
    _rule(
        rf"^{_I_AM} {_ADVERBS}(?P<v>learning|studying|training for|preparing for|"
        r"saving for|recovering from|trying to|working on|planning to|renovating|"
        r"writing|building|raising|caring for|taking care of|expecting) (?P<x>.+)$",
        lambda m: _object_fact(f"is {m['v'].lower()} {{x}}")(m),
    ),
    _rule(
        rf"^{_I_AM} {_ADVERBS}(?P<x>an? (?!(?:bit|little|lot|question|problem)\b).+)$",
        _object_fact("is {x}"),
    ),
    _rule(rf"^{_I_AM} (?P<x>[^\W\d_]+)$", _i_am_word),
    _rule(rf"^i {_ADVERBS}work as (?P<x>an? .+)$", _object_fact("works as {x}")),
    _rule(
        rf"^i {_ADVERBS}work (?P<p>at|for) (?P<x>.+)$",
        lambda m: _object_fact(f"works {m['p'].lower()} {{x}}")(m),
    ),
    _rule(
        r"^(?:please )?(?:always )?(?:answer|reply|respond|write|talk|speak)"
        rf"(?: to me)? in (?P<lang>{_LANG_ALT})\b.*"
        r"(?:from now on|going forward|in (?:the )?future|always).*$",
        _lang_fact,
    ),
    _rule(
        r"^i(?:'d| would) (?:like|prefer|want) (?:you to )?(?:answer|reply|respond|"
        rf"write)s? in (?P<lang>{_LANG_ALT})\b.*$",
        _lang_fact,
    ),
    _rule(r"^(?:please )?always (?P<x>.+)$", _always_fact),
    _rule(
        r"^(?:from now on|going forward|in (?:the )?future),? (?:please )?"
        r"(?:always )?(?P<x>.+)$",
        _standing_fact,
    ),
    _rule(r"^(?:please )?(?:never|don't ever|do not ever) (?P<x>.+)$", _never_fact),
    _rule(
        rf"^i {_ADVERBS}(?:hate|dislike|can't stand|cannot stand) (?P<x>.+)$",
        _object_fact("dislikes {x}"),
    ),
    _rule(
        rf"^i {_ADVERBS}(?P<neg>don't|do not|never) (?:really )?"
        rf"(?P<v>{_VERB_ALT}|have) (?P<x>.+)$",
        _negated_fact,
    ),
    _rule(r"^i(?:'d| would) rather (?P<x>.+)$", _object_fact("would rather {x}")),
    _rule(r"^i(?:'d| would) prefer (?P<x>.+)$", _object_fact("prefers {x}")),
    _rule(rf"^(?:i've got|i have got|i've|i {_ADVERBS}have) (?P<x>.+)$", _have_fact),
    _rule(rf"^i {_ADVERBS}(?P<v>{_VERB_ALT})\b(?P<x>.*)$", _verb_fact),
    _rule(
        r"^my (?P<key>(?:favou?rite \w+|birthday|time ?zone|native language|first "
        r"language|pronouns|job|job title|role|budget|goal|diet|height|hometown|"
        rf"company|employer|team|shift|schedule|level|{_RELATIVES})) "
        r"(?P<verb>is|are) (?P<x>.+)$",
        _my_attribute_fact,
    ),
]


def time_to_live(text: str) -> str:
    """Guess how long a statement stays true from its time words."""
    for ttl, pattern in _TIMES_TO_LIVE:
        if re.search(pattern, text, re.IGNORECASE):
            return ttl
    return "infinity"


_STANDING = re.compile(r"^(?:from now on|going forward|in (?:the )?future)$", re.I)


def _clauses(text: str) -> list[str]:
    """Split a message into short clauses that each may state one fact."""
    clauses: list[str] = []
    for sentence in _SENTENCE_BREAK.split(text.translate(_QUOTES)):
        for clause in _CLAUSE_BREAK.split(sentence):
            first, *rest = _VERB_CONTINUATION.split(clause.strip())
            if clauses and _STANDING.match(clauses[-1]):
                # "From now on, please ..." is one statement, not two.
                first = f"{clauses.pop()}, {first}"
            clauses.append(first)
            clauses.extend(f"I {part}" for part in rest)
    return [clause.strip() for clause in clauses if clause.strip()]


def fact_from_statement(clause: str) -> str | None:
    """Rewrite one first-person statement as a third-person fact, or None."""
    text = _LEADING_FILLER.sub("", clause.strip()).strip()
    if not text or text.endswith("?") or _QUESTION_START.match(text):
        return None
    text = text.rstrip(" .!")
    for pattern, build in _FACT_PATTERNS:
        match = pattern.match(text)
        if match:
            fact = build(match)
            if fact:
                return " ".join(fact.split())
    return None


# Slot keys: two facts with the same key say different things about the same
# attribute, so the later one replaces the earlier one ("Lives in Berlin",
# "Lives in Munich"). Facts without a key never replace each other.

_IRREGULAR_PLURALS = {"children": "child", "people": "person", "men": "man"}
_HEAD_CUT = re.compile(
    r"\s+\b(?:for|in|on|with|at|of|over|than|to|instead|rather|when|during|"
    r"because|from|about|as)\b.*$"
)
_TIME_WORDS = re.compile(
    r"\s+(?:today|tonight|tomorrow|(?:this|next) (?:morning|afternoon|evening|week|"
    r"weekend|month|year))$"
)
_NUMBER_WORDS = (
    r"(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|\d+|no|any|several|"
    r"many|some|a few|a couple of)"
)


def _singular(word: str) -> str:
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _head(phrase: str) -> str:
    """Return the head noun of a noun phrase, singular."""
    if phrase.startswith("to "):
        return " ".join(phrase.split()[:2])
    phrase = _TIME_WORDS.sub("", phrase).strip() or phrase
    core = _HEAD_CUT.sub("", phrase).strip() or phrase
    return _singular(core.split()[-1])


_BASE_VERBS = {_third_person_verb(verb): verb for verb in _FACT_VERBS}
_SLOT_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(
            r"^(?:lives|resides|is based|is living|is located|has moved|moved|"
            r"relocated) (?:in|to) "
        ),
        lambda m: "residence",
    ),
    (re.compile(r"^(?:name is|is called|is named) "), lambda m: "name"),
    (re.compile(r"^(?:prefers to be called|goes by) "), lambda m: "preferred_name"),
    (
        re.compile(
            r"^(?:wants|prefers|likes) (?:answers|replies|responses|messages)"
            rf"(?: to be)? in (?:{_LANG_ALT})\b|^prefers (?:{_LANG_ALT})$"
        ),
        lambda m: "language",
    ),
    (re.compile(r"^is \d+(?: years? old)?$"), lambda m: "age"),
    (re.compile(r"^is from "), lambda m: "origin"),
    (re.compile(r"^was born in "), lambda m: "birthplace"),
    (re.compile(rf"^is (?:an? )?(?:{'|'.join(_DIETS)})$"), lambda m: "diet"),
    (re.compile(rf"^is (?:{'|'.join(_MARITAL)})\b"), lambda m: "marital_status"),
    (re.compile(rf"^is (?:{'|'.join(_NATIONALITIES)})$"), lambda m: "nationality"),
    (
        re.compile(r"^(?:is|works as) (?:an? )?(?P<x>.+)$"),
        lambda m: "occupation" if _is_occupation(m["x"]) else "",
    ),
    (re.compile(r"^works (?:at|for) "), lambda m: "employer"),
    (re.compile(r"^(?:time ?zone is|is in the .+ time ?zone)"), lambda m: "timezone"),
    (re.compile(r"^is allergic to (?P<x>.+)$"), lambda m: f"allergy:{m['x']}"),
    (re.compile(r"^prefers (?P<x>.+)$"), lambda m: f"prefers:{_head(m['x'])}"),
    (
        re.compile(
            r"^(?:likes|loves|enjoys|dislikes|hates|does not like|doesn t like) "
            r"(?P<x>.+)$"
        ),
        lambda m: f"likes:{m['x']}",
    ),
    (
        re.compile(
            rf"^(?:has|does not have|doesn t have|has no) (?:{_NUMBER_WORDS} )?"
            r"(?P<x>.+)$"
        ),
        lambda m: f"has:{_head(m['x'])}",
    ),
    (
        re.compile(r"^(?:does not|doesn t|never) (?P<v>\w+) (?P<x>.+)$"),
        lambda m: f"{m['v']}:{m['x']}",
    ),
    (re.compile(r"^works (?P<x>.+)$"), lambda m: f"work:{_head(m['x'])}"),
    (
        re.compile(r"^(?P<v>\w+) (?P<x>.+)$"),
        lambda m: f"{_BASE_VERBS[m['v']]}:{m['x']}" if m["v"] in _BASE_VERBS else "",
    ),
    (
        re.compile(r"^(?:their )?(?P<key>(?:\w+ ){0,3}?\w+) (?:is|are) "),
        lambda m: f"attribute:{m['key']}",
    ),
]
_SUBJECT = re.compile(r"^(?:the user|user|they|he|she) ")
_LEADING_ADVERB = re.compile(rf"^(?:{'|'.join(sorted(_KEPT_ADVERBS))}|now|also) ")


def _is_occupation(phrase: str) -> bool:
    words = phrase.split()
    if phrase in {"retired", "unemployed", "self employed", "freelance", "student"}:
        return True
    core = _HEAD_CUT.sub("", phrase).split() or words
    return _singular(core[-1]) in _OCCUPATIONS


def fact_slot(fact: str) -> str | None:
    """Return the attribute a third-person fact is about, or None.

    "Lives in Berlin" and "Lives in Munich" share the slot "residence";
    "Prefers metric units" and "Prefers imperial units" share "prefers:unit".
    """
    text = _SUBJECT.sub("", normalise(fact))
    text = _LEADING_ADVERB.sub("", text)
    for pattern, key in _SLOT_PATTERNS:
        match = pattern.match(text)
        slot = key(match) if match else ""
        if slot:
            return slot
    return None


def _fact_key(content: str) -> str:
    return fact_slot(content) or "text:" + normalise(content)


# Playbook rules

_CORRECTION = re.compile(
    r"^(?:no\b(?! (?:problem|worries|rush)\b)|nope\b|wrong\b|incorrect\b|"
    r"that(?:'s| is) (?:not|wrong|incorrect)\b|this is (?:not|wrong)\b|"
    r"not what i (?:asked|wanted|meant|said)\b|i said\b|i asked\b|i meant\b|"
    r"i told you\b|(?:please )?stop\b|(?:please )?(?:don't|do not)\b(?! worry)|"
    r"you (?:forgot|missed|ignored|didn't)\b|that (?:doesn't|didn't) work\b|"
    r"it (?:doesn't|didn't) work\b|actually\b)",
    re.IGNORECASE,
)
_CORRECTION_LEAD = re.compile(
    r"^(?:(?:no|nope|wrong|incorrect|actually|sorry|hmm|ugh|again|"
    r"that(?:'s| is) (?:not (?:right|correct|it|what i (?:asked|wanted|meant|said)"
    r"(?: for)?)|wrong|incorrect)|this is (?:not right|wrong)|"
    r"not what i (?:asked|wanted|meant|said)(?: for)?)\b[\s,!.:;-]*)+",
    re.IGNORECASE,
)
_CONFIRMATION = re.compile(
    r"\b(?:that|it|this) (?:worked|works|did it|did the trick|fixed it|helped|"
    r"solved it)\b|\bworks now\b|\b(?:perfect|exactly|spot on|nailed it|"
    r"brilliant|excellent|awesome)\b|^(?:great|thanks|thank you)\b.*\b(?:worked|"
    r"helped|fixed|solved)\b",
    re.IGNORECASE,
)
_NEGATIVE = re.compile(
    r"\b(?:not|didn't|doesn't|don't|isn't|wasn't|but|still|no)\b", re.IGNORECASE
)
_IMPERATIVES = set(
    _words(
        "use answer reply respond give show include write keep make check ask send "
        "quote list explain be put convert add remove start tell mention link cite "
        "format provide offer confirm double-check try look search book cancel "
        "refund escalate summarize summarise translate round sort focus skip wait "
        "call email stick switch only avoid always never follow open click go "
        "restart reset install update clear enable disable set run read verify "
        "describe compare recommend suggest plan find"
    )
)
_PLEASANTRY = re.compile(
    r"^(?:(?:sure|of course|certainly|absolutely|great question|happy to help|"
    r"no problem|okay|ok|alright|got it|sorry|apologies|thanks)\b[\s,!.]*)+",
    re.IGNORECASE,
)


_FEELING = re.compile(
    r"^(?:i'm|i am|we're|we are)\s+(?:so\s+|very\s+|really\s+)?"
    r"(?:sorry|happy|glad|afraid)\b",
    re.IGNORECASE,
)


def _is_user(turn: Turn) -> bool:
    return turn.role.strip().lower() in {"user", "human", "customer"}


def _first_sentence(text: str) -> str:
    sentences = [s for s in _SENTENCE_BREAK.split(text.strip()) if s.strip()]
    return sentences[0].strip() if sentences else ""


def _situation(request: str) -> str:
    """Describe the situation a request puts the agent in, in the third person."""
    text = _LEADING_FILLER.sub("", _first_sentence(request.translate(_QUOTES)))
    text = re.sub(r"^please\s+", "", text, flags=re.IGNORECASE).rstrip(" ?.!")
    text = re.sub(r"(?:,?\s+(?:for me|for us|please|thanks|thank you))+$", "", text)
    text = _lower_first(text)
    lowered = text.lower()
    if not text:
        return "the user asks for help"

    patterns: list[tuple[str, str]] = [
        (
            r"^(?:can|could|would|will) you (?:please |kindly )?(?:help me )?(.+)",
            "the user asks to {}",
        ),
        (r"^help me (?:to )?(.+)", "the user asks for help to {}"),
        (r"^how (?:do|can|should|would) i (.+)", "the user asks how to {}"),
        (r"^i(?:'d| would) like to (.+)", "the user wants to {}"),
        (r"^i(?:'d| would) like (.+)", "the user asks for {}"),
        (r"^i (?:want|need) to (.+)", "the user wants to {}"),
        (r"^i (?:want|need) (.+)", "the user asks for {}"),
        (r"^((?:what|why|when|where|who|which|how)\b.+)", "the user asks {}"),
        (r"^(?:is|are|do|does|did|can|should|will) (.+)", "the user asks whether {}"),
        (r"^((?:i|my)\b.+)", "the user says {}"),
    ]
    for pattern, template in patterns:
        match = re.match(pattern, text, re.IGNORECASE)
        if match:
            return template.format(_truncate_words(_third_person(match[1]), 12))
    if lowered.split()[0] in _IMPERATIVES:
        return "the user asks to " + _truncate_words(
            _third_person(_lower_first(text)), 12
        )
    return "the user asks about " + _truncate_words(
        _third_person(_lower_first(text)), 12
    )


def _instead(match: re.Match[str]) -> str:
    if match[1].split()[0].lower() in _IMPERATIVES:
        return match[0]
    return f"use {match[1]} instead"


def _instruction_from_correction(text: str) -> str | None:
    """Turn the user's pushback into what the agent should do instead."""
    rest = _CORRECTION_LEAD.sub("", text.translate(_QUOTES).strip())
    sentence = _first_sentence(rest).rstrip(" .!?")
    if not sentence:
        return None
    sentence = re.sub(r"^please\s+|,?\s+please$", "", sentence, flags=re.IGNORECASE)

    patterns: list[tuple[str, Callable[[re.Match[str]], str]]] = [
        (r"^(?:stop|quit) (\w+ing\b.*)", lambda m: f"avoid {m[1]}"),
        (r"^(?:stop|quit) (.+)", lambda m: f"do not {m[1]}"),
        (r"^(?:don't|do not|never)(?: ever)? (.+)", lambda m: f"do not {m[1]}"),
        (
            r"^i (?:asked|told|wanted) you to (.+)",
            lambda m: f"{m[1]}, as the user asked",
        ),
        (
            r"^i (?:asked for|wanted|need|needed|want) (.+)",
            lambda m: f"provide {m[1]}, as the user asked",
        ),
        (
            r"^i (?:said|meant) (?:that )?(.+)",
            lambda m: f"go with {m[1]}, as the user said",
        ),
        (r"^you forgot (?:to )?(.+)", lambda m: f"remember to {m[1]}"),
        (r"^you (?:didn't|did not) (.+)", lambda m: f"make sure to {m[1]}"),
        (r"^you (?:should|need to|must) (?!have\b)(.+)", lambda m: m[1]),
        (r"^(.+) instead$", _instead),
        (
            r"^it(?:'s| is| should be| was supposed to be) (.+)",
            lambda m: f"make sure it is {m[1]}",
        ),
    ]
    for pattern, build in patterns:
        match = re.match(pattern, sentence, re.IGNORECASE)
        if match:
            return _truncate_words(_third_person(build(match)), 25)
    if sentence.split()[0].lower() in _IMPERATIVES:
        return _truncate_words(_third_person(_lower_first(sentence)), 25)
    return "take into account that " + _truncate_words(
        _third_person(_lower_first(sentence)), 20
    )


def _agent_summary(answer: str) -> str | None:
    """Pick the agent's first substantive sentence, in the third person."""
    sentences = [
        _PLEASANTRY.sub("", s).strip()
        for s in _SENTENCE_BREAK.split(answer.translate(_QUOTES).strip())
    ]
    sentences = [
        s.rstrip(" .!:")
        for s in sentences
        if len(s.split()) >= 3 and not _FEELING.match(s)
    ]
    if not sentences:
        return None
    imperative = [s for s in sentences if s.split()[0].lower() in _IMPERATIVES]
    chosen = (imperative or sentences)[0]
    return _truncate_words(_swap(_lower_first(chosen), _AGENT_TO_THIRD), 20)


def _previous(turns: Sequence[Turn], index: int, *, user: bool) -> int | None:
    for earlier in range(index - 1, -1, -1):
        if _is_user(turns[earlier]) == user:
            return earlier
    return None


def _request_before(turns: Sequence[Turn], index: int) -> int | None:
    """Find the user request an agent turn answered, skipping reactions."""
    candidate = _previous(turns, index, user=True)
    while candidate is not None:
        text = _LEADING_FILLER.sub("", turns[candidate].content.strip())
        if not (_CORRECTION.match(text) or _is_confirmation(text)):
            return candidate
        candidate = _previous(turns, candidate, user=True)
    return None


def _is_confirmation(text: str) -> bool:
    return (
        len(text.split()) <= 25
        and bool(_CONFIRMATION.search(text))
        and not _NEGATIVE.search(text)
    )


def _is_correction(text: str) -> bool:
    stripped = text.strip().translate(_QUOTES)
    if not _CORRECTION.match(stripped):
        return False
    # "Actually" also opens plain news ("actually I moved"); count it only
    # when the user is clearly pointing at what the agent did.
    rest = re.sub(r"^actually\b[\s,!.]*", "", stripped, flags=re.IGNORECASE)
    if rest != stripped:
        return bool(
            _CORRECTION.match(rest)
            or re.search(r"\b(?:you|instead|should|wrong)\b", rest, re.IGNORECASE)
        )
    return True


def _rule_from_reaction(turns: Sequence[Turn], index: int) -> Rule | None:
    """Learn a rule from a user turn that reacts to the agent turn just before."""
    text = turns[index].content.strip()
    agent_index = index - 1
    if agent_index < 0 or _is_user(turns[agent_index]):
        return None
    request_index = _request_before(turns, agent_index)
    request = turns[request_index].content if request_index is not None else ""
    trigger = "When " + _situation(request)
    sources = tuple(i for i in (request_index, agent_index, index) if i is not None)

    if _is_correction(text):
        instruction = _instruction_from_correction(text)
        if instruction is None:
            return None
        rationale = (
            "The user pushed back on the agent's answer and said what they "
            "wanted instead."
        )
    elif _is_confirmation(text):
        # A confirmation of a corrected answer adds nothing to the correction.
        asked = _previous(turns, agent_index, user=True)
        if asked is not None and _is_correction(turns[asked].content):
            return None
        summary = _agent_summary(turns[agent_index].content)
        if summary is None:
            return None
        instruction = f"take the approach that worked before: {summary}"
        rationale = "The user confirmed that the agent's approach worked."
    else:
        return None

    content = f"{trigger}, {instruction.rstrip(' .!?,')}."
    return Rule(
        trigger=trigger,
        content=content,
        rationale=rationale,
        source_turns=sources,
    )


def _rule_text(rule: Rule) -> str:
    """The text that stands for a rule when comparing rules."""
    if not rule.trigger or normalise(rule.content).startswith(normalise(rule.trigger)):
        return rule.content
    return f"{rule.trigger}, {rule.content}"


# Embeddings

_STOPWORDS = set(
    _words(
        "a an the and or but of to in on at for with by from as is are was were be "
        "been it its this that these those i you he she we they them their my your "
        "our his her when what which who how do does did not no so if then than "
        "there here about into over under up out"
    )
)


@lru_cache(maxsize=200_000)
def _feature_position(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dimensions, 1.0 if value >> 63 else -1.0


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def embed_text(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """Embed TEXT deterministically by hashing words and character trigrams.

    Reworded sentences share most features and so have a high cosine;
    unrelated ones share few and land near zero. The vector is L2-normalised
    (all zeros for text without words).
    """
    vector = np.zeros(dimensions)
    for word in normalise(text).split():
        weight = 0.3 if word in _STOPWORDS else 1.0
        stem = _stem(word)
        position, sign = _feature_position("w:" + stem, dimensions)
        vector[position] += sign * weight

        padded = f"<{word}>"
        trigrams = [padded[i : i + 3] for i in range(len(padded) - 2)]
        share = weight * 0.8 / len(trigrams) ** 0.5
        for trigram in trigrams:
            position, sign = _feature_position("c:" + trigram, dimensions)
            vector[position] += sign * share

    norm = float(np.linalg.norm(vector))
    if norm:
        vector /= norm
    return vector.tolist()


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    va, vb = np.asarray(a), np.asarray(b)
    norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb / norm) if norm else 0.0


def _best_match(text: str, candidates: Sequence[str]) -> tuple[int | None, float]:
    """Return the index and cosine of the candidate most similar to TEXT."""
    if not candidates:
        return None, 0.0
    vector = np.asarray(embed_text(text))
    matrix = np.asarray([embed_text(candidate) for candidate in candidates])
    scores = matrix @ vector
    best = int(np.argmax(scores))
    return best, float(scores[best])


# The provider


def _usage(request: Any, answer: Any) -> Usage:
    return Usage(
        prompt_tokens=_PROMPT_OVERHEAD_TOKENS + estimate_tokens(_dump(request)),
        completion_tokens=estimate_tokens(_dump(answer)),
    )


def _dump(value: Any) -> str:
    return json.dumps(value, default=lambda o: o.__dict__, ensure_ascii=False)


@dataclass
class _Found:
    content: str
    time_to_live: str
    turns: list[int] = field(default_factory=list)


class OfflineProvider:
    """Deterministic provider for demos and tests: no network, no settings."""

    name = "offline"
    chat_model = "offline-heuristics"
    embedding_model = f"offline-hashing-{DIMENSIONS}"

    def __repr__(self) -> str:
        return "<OfflineProvider>"

    def extract_profiles(
        self,
        *,
        definition: str,
        context: str,
        turns: Sequence[Turn],
        known_facts: Sequence[str],
    ) -> Extraction[Fact]:
        """Find first-person statements in user turns and rewrite them as facts.

        The definition and context are not interpreted: every recognised
        statement counts. A fact that repeats a known fact is dropped; one
        with the same slot as known facts supersedes them.
        """
        found: dict[str, _Found] = {}
        for index, turn in enumerate(turns):
            if not _is_user(turn):
                continue
            for clause in _clauses(turn.content):
                content = fact_from_statement(clause)
                if content is None:
                    continue
                key = _fact_key(content)
                earlier = found.get(key)
                if earlier and normalise(earlier.content) == normalise(content):
                    earlier.turns.append(index)
                    continue
                # A later statement about the same attribute wins.
                found.pop(key, None)
                found[key] = _Found(content, time_to_live(clause), [index])

        known_texts = {normalise(text) for text in known_facts}
        known_keys = [fact_slot(text) for text in known_facts]
        facts = []
        for key, item in found.items():
            if normalise(item.content) in known_texts:
                continue
            supersedes = tuple(i for i, slot in enumerate(known_keys) if slot == key)
            facts.append(
                Fact(
                    content=item.content,
                    source_turns=tuple(sorted(set(item.turns))),
                    time_to_live=item.time_to_live,
                    supersedes=supersedes,
                )
            )

        request = [definition, context, turns, known_facts]
        return Extraction(items=facts, usage=_usage(request, facts))

    def consolidate_profiles(
        self, *, definition: str, facts: Sequence[str]
    ) -> Extraction[Fact]:
        """Deduplicate facts by text and slot; a later fact wins a conflict."""
        groups: dict[str, list[int]] = {}
        for index, text in enumerate(facts):
            if text.strip():
                groups.setdefault(_fact_key(text), []).append(index)

        merged = [
            Fact(
                content=_tidy(facts[indexes[-1]]),
                time_to_live=time_to_live(facts[indexes[-1]]),
                merged_from=tuple(indexes),
            )
            for indexes in groups.values()
        ]
        return Extraction(items=merged, usage=_usage([definition, facts], merged))

    def extract_playbooks(
        self,
        *,
        definition: str,
        context: str,
        turns: Sequence[Turn],
        known_rules: Sequence[str],
    ) -> Extraction[Rule]:
        """Learn rules from corrections and confirmed successes in the turns."""
        rules: list[Rule] = []
        seen = [normalise(text) for text in known_rules]
        for index, turn in enumerate(turns):
            if not _is_user(turn):
                continue
            rule = _rule_from_reaction(turns, index)
            if rule is None or normalise(rule.content) in seen:
                continue
            if known_rules and _best_match(rule.content, known_rules)[1] >= (
                NEAR_IDENTICAL
            ):
                continue
            seen.append(normalise(rule.content))
            rules.append(rule)

        request = [definition, context, turns, known_rules]
        return Extraction(items=rules, usage=_usage(request, rules))

    def consolidate_playbooks(
        self, *, definition: str, rules: Sequence[Rule]
    ) -> Extraction[Rule]:
        """Merge near-identical rules (cosine >= 0.9); a later rule wins."""
        groups: list[list[int]] = []
        vectors: list[list[float]] = []
        for index, rule in enumerate(rules):
            if not rule.content.strip():
                continue
            vector = embed_text(_rule_text(rule))
            for group, representative in zip(groups, vectors, strict=True):
                if cosine(vector, representative) >= NEAR_IDENTICAL:
                    group.append(index)
                    break
            else:
                groups.append([index])
                vectors.append(vector)

        merged = []
        for group in groups:
            latest = rules[group[-1]]
            merged.append(
                Rule(
                    trigger=latest.trigger,
                    content=latest.content,
                    rationale=latest.rationale,
                    merged_from=tuple(group),
                )
            )
        return Extraction(items=merged, usage=_usage([definition, rules], merged))

    def consolidate_cluster(
        self,
        *,
        rules: Sequence[Rule],
        existing: Sequence[str],
        rejected: Sequence[str],
    ) -> tuple[ClusterDecision, Usage]:
        """Generalise the cluster's most central rule, unless already covered.

        Near-identical means a cosine of at least 0.9 between offline
        embeddings; a rule near-identical to a rejected text is not proposed.
        """
        request = [rules, existing, rejected]
        if not rules:
            decision = ClusterDecision(None, None, "the cluster is empty")
            return decision, _usage(request, decision)

        texts = [_rule_text(rule) for rule in rules]
        matrix = np.asarray([embed_text(text) for text in texts])
        centroid = matrix.mean(axis=0)
        representative = rules[int(np.argmax(matrix @ centroid))]
        rule = _generalise(representative, len(rules))

        candidates = [_rule_text(representative), _rule_text(rule)]
        covered = max(
            (_best_match(text, existing) for text in candidates), key=lambda m: m[1]
        )
        refused = max(
            (_best_match(text, rejected) for text in candidates), key=lambda m: m[1]
        )
        if covered[0] is not None and covered[1] >= NEAR_IDENTICAL:
            decision = ClusterDecision(
                None, covered[0], "an existing agent playbook already covers it"
            )
        elif refused[0] is not None and refused[1] >= NEAR_IDENTICAL:
            decision = ClusterDecision(
                None, None, "an equivalent playbook was rejected before"
            )
        else:
            decision = ClusterDecision(
                rule, None, f"consolidated {len(rules)} similar user playbooks"
            )
        return decision, _usage(request, decision)

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], Usage]:
        vectors = [embed_text(text) for text in texts]
        tokens = sum(estimate_tokens(text) for text in texts)
        return vectors, Usage(prompt_tokens=tokens)


def _generalise(rule: Rule, size: int) -> Rule:
    """Word one user's rule for every user."""

    def general(text: str) -> str:
        text = re.sub(r"\bthe user\b", "a user", text, count=1)
        return re.sub(r"\bThe user\b", "A user", text, count=1)

    return Rule(
        trigger=general(rule.trigger),
        content=general(rule.content),
        rationale=(
            f"Learned from {size} user playbooks that share this lesson. "
            f"{rule.rationale}".strip()
        ),
        merged_from=tuple(range(size)),
    )
