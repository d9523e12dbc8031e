"""A hand-written review whose right answer is known, to measure pairing.

Each case is (scope, pending text, current text): both texts make a pair
that is unchanged or reworded (same subject, possibly a new value: a reviewer
wants "Uses an iPhone 12" shown as the old version of "Uses an iPhone 15");
a pending text alone is added; a current text alone is removed. Among them
are near-miss distractors: texts that share most words with another item
but state a different fact, and lone ones with no partner at all.
"""

from __future__ import annotations

from reflexio_admin.pairing import Label, normalise

CASES: list[tuple[str, str | None, str | None]] = [
    # ana: profile facts, mostly close rewordings.
    ("ana", "Works night shifts", "works night shifts."),
    ("ana", "Lives in Berlin", "Lives in Berlin"),
    ("ana", "Prefers metric units", "Prefers metric units."),
    ("ana", "Is allergic to peanuts", "Is allergic to peanuts"),
    ("ana", "Has two children, aged 4 and 7", "Has two kids aged 4 and 7"),
    ("ana", "Prefers replies in German", "Prefers answers in German"),
    (
        "ana",
        "Works as a nurse at a children's hospital",
        "Works as a nurse in a children's hospital",
    ),
    ("ana", "Drives an electric car, a Tesla Model 3", "Drives a Tesla Model 3"),
    (
        "ana",
        "Is training for the Berlin marathon in September",
        "Is training for the September Berlin marathon",
    ),
    ("ana", "Uses an iPhone 15", "Uses an iPhone 12"),
    ("ana", "Prefers email over phone calls", "Prefers phone calls over email"),
    ("ana", "Is learning Spanish", None),
    ("ana", "Prefers to be called Annie", None),
    # Distractor: shares "is allergic to" with a fact that has its own partner.
    ("ana", "Is allergic to cats", None),
    ("ana", None, "Plans a trip to Japan in May"),
    ("ana", None, "Is looking for a new apartment"),
    # Lone near-miss pair: same words, different fact (expected to fool
    # lexical embeddings).
    ("ana", "Has a brother named Max", None),
    ("ana", None, "Has a dog named Max"),
    # ben: rewordings that move words around, and semantic ones.
    ("ben", "Is vegetarian", "Is vegetarian"),
    ("ben", "Lives in Paris", "lives in paris"),
    ("ben", "Speaks French and English", "Speaks French and English."),
    (
        "ben",
        "Works remotely as a software engineer",
        "Is a software engineer working remotely",
    ),
    (
        "ben",
        "Prefers short answers without bullet points",
        "Prefers short answers, no bullet points",
    ),
    (
        "ben",
        "Has a weekly grocery budget of 50 euros",
        "Grocery budget is 50 euros per week",
    ),
    (
        "ben",
        "Is a fan of Paris Saint-Germain",
        "Supports the Paris Saint-Germain football club",
    ),
    ("ben", "Usually wakes up at 6 am", "Wakes up at 6 am every day"),
    (
        "ben",
        "Commutes to work by bicycle",
        "Cycles to work every day",
    ),
    ("ben", "Is colour-blind", "Cannot tell red from green"),
    ("ben", "Recently adopted a cat", None),
    ("ben", "Is saving to buy a house", None),
    ("ben", "Prefers dark mode in apps", None),
    ("ben", None, "Is preparing for a job interview"),
    ("ben", None, "Has a broken wrist"),
    # Distractor: shares "Paris" with an unchanged fact.
    ("ben", None, "Is moving from Paris to Lyon"),
    # cat: user playbooks as compared ("trigger: content").
    (
        "cat",
        "When the user asks for a refund: refund to the original card, not "
        "store credit",
        "When the user requests a refund: send the money back to their card "
        "instead of store credit",
    ),
    (
        "cat",
        "When the user asks about a delivery: give the tracking link first",
        "When the user asks about delivery: share the tracking link first",
    ),
    (
        "cat",
        "When the user writes in Spanish: answer in Spanish",
        "When the user writes in Spanish: reply in Spanish",
    ),
    (
        "cat",
        "When the user is angry: apologise once and move to a solution",
        "When the user is upset: apologise once, then offer a solution",
    ),
    (
        "cat",
        "When the user asks for an invoice: email a PDF invoice",
        "When the user asks for an invoice: email a PDF invoice",
    ),
    (
        "cat",
        "When the user asks for the price: quote prices in euros including VAT",
        "When the user asks for the price: quote prices in euros, including VAT.",
    ),
    (
        "cat",
        "When the user asks to cancel: confirm the cancellation date in writing",
        None,
    ),
    (
        "cat",
        "When the user mentions a discount code: check that it is still valid",
        None,
    ),
    ("cat", None, "When the user asks for help: list every feature"),
    # Distractor: same trigger as the refund pair above, different rule.
    ("cat", None, "When the user asks for a refund: quote the policy number first"),
    # dan: many facts share an opening ("Prefers", "Is", "Has", "Works",
    # "Lives"), so lone facts compete with paired ones.
    ("dan", "Prefers tea over coffee", "Prefers tea to coffee"),
    ("dan", "Is a vegan", "Is vegan"),
    ("dan", "Has a Labrador named Rex", "Has a dog, a Labrador called Rex"),
    ("dan", "Works at a bank in Frankfurt", "Works for a bank in Frankfurt"),
    ("dan", "Plays the guitar in a band", "Plays guitar in a local band"),
    ("dan", "Is 34 years old", "Is 33 years old"),
    ("dan", "Lives in Hamburg", "Lives in Munich"),
    (
        "dan",
        "Takes insulin for type 1 diabetes",
        "Has type 1 diabetes and takes insulin",
    ),
    ("dan", "Prefers appointments in the morning", "Prefers morning appointments"),
    ("dan", "Reads science fiction novels", "Enjoys reading science fiction"),
    ("dan", "Is married to Sofia", "Is married; his wife is Sofia"),
    ("dan", "Prefers to pay by credit card", "Pays by credit card"),
    ("dan", "Is lactose intolerant", "Is lactose-intolerant"),
    ("dan", "Does not speak German", "Speaks no German"),
    ("dan", "Has two cats", "Has two cats"),
    ("dan", "Works from home on Fridays", "Works from home on Fridays"),
    ("dan", "Prefers window seats on flights", None),
    ("dan", "Is a member of a climbing gym", None),
    ("dan", "Has a daughter starting school in August", None),
    ("dan", "Works on a novel in his spare time", None),
    ("dan", None, "Is recovering from a knee injury"),
    ("dan", None, "Has a meeting with his landlord next week"),
    ("dan", None, "Prefers to be contacted on WhatsApp"),
    ("dan", None, "Lives with two roommates"),
]


def expected_label(pending: str | None, current: str | None) -> Label:
    if pending is None:
        return Label.REMOVED
    if current is None:
        return Label.ADDED
    if normalise(pending) == normalise(current):
        return Label.UNCHANGED
    return Label.REWORDED
