"""Demo data: customers of an online kitchen store talking to its support agent.

`build_demo()` writes about three dozen customers of "Fresh Crate" (kitchen gear
and a weekly meal-kit subscription) with two months of conversations with the
support agent, under two agent versions and two sources, and then runs the
real operations over them so that every console page has something to show:
CURRENT, PENDING and ARCHIVED profiles, current and pending user playbooks,
and agent playbooks in every approval state.

The conversations are written for what the offline provider recognises:
plain first-person statements ("I live in Berlin", "I prefer metric units"),
plain corrections of the agent ("No, I asked for a refund to my card, not
store credit") and confirmations ("Thanks, that worked!"). Several customers
hit the same correction so that aggregation finds clusters. Everything comes
from one seeded `random.Random`, so the text is the same on every run; only
the timestamps follow the clock.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TextIO

from django.db import transaction
from django.db.models import Count
from django.test import override_settings
from django.utils import timezone

from playbooks.aggregation import agent_playbook_set_approval, run_playbook_aggregation
from playbooks.models import (
    DEFAULT_PLAYBOOK_EXTRACTOR,
    AgentPlaybook,
    Approval,
    PlaybookGeneration,
    UserPlaybook,
)
from playbooks.services import manual_playbook_generation, rerun_playbook_generation
from profiles.models import ProfileGeneration, UserProfile
from profiles.services import (
    manual_profile_generation,
    profile_add,
    profile_update,
    rerun_profile_generation,
)
from reflexio_admin.audit import audit_record
from reflexio_admin.models import (
    DeletedItem,
    ExtractionCursor,
    GenerationSettings,
    Interaction,
    Operation,
    OperationKind,
    OperationStatus,
    Request,
)
from reflexio_admin.status import Status

logger = logging.getLogger(__name__)

SEED = 7
AGENT_VERSIONS = ("support-v1", "support-v2")
SOURCES = ("chat", "email")
PLAYBOOK_NAME = DEFAULT_PLAYBOOK_EXTRACTOR
HISTORY_DAYS = 60
# support-v2 went out as a canary between these two days (counted back from
# today) and has served everyone since.
CANARY_START_DAYS = 30
CANARY_END_DAYS = 22

USER = "User"
AGENT = "Assistant"


class DemoError(Exception):
    """Building the demo stopped; the message says which step and why."""


# The customers

# user id, first name, city, time zone, currency, language they want answers in
_PEOPLE: list[tuple[str, str, str, str, str, str | None]] = [
    ("jonas.weber", "Jonas", "Berlin", "CET", "€", None),
    ("ana.garcia", "Ana", "Madrid", "CET", "€", "Spanish"),
    ("priya.nair", "Priya", "London", "GMT", "£", None),
    ("tom.becker", "Tom", "Hamburg", "CET", "€", None),
    ("sofia.rossi", "Sofia", "Milan", "CET", "€", "Italian"),
    ("lucas.martin", "Lucas", "Paris", "CET", "€", None),
    ("emma.johnson", "Emma", "Chicago", "CST", "$", None),
    ("noah.kim", "Noah", "Montreal", "EST", "$", "French"),
    ("mia.schneider", "Mia", "Vienna", "CET", "€", None),
    ("oliver.smith", "Oliver", "Manchester", "GMT", "£", None),
    ("lena.fischer", "Lena", "Hamburg", "CET", "€", None),
    ("david.chen", "David", "Seattle", "PST", "$", None),
    ("chloe.dubois", "Chloé", "Lyon", "CET", "€", "French"),
    ("ben.taylor", "Ben", "Edinburgh", "GMT", "£", None),
    ("hannah.meyer", "Hannah", "Zurich", "CET", "CHF ", "German"),
    ("ravi.patel", "Ravi", "Leicester", "GMT", "£", None),
    ("grace.okafor", "Grace", "Dublin", "GMT", "€", None),
    ("mateo.silva", "Mateo", "Lisbon", "WET", "€", "Portuguese"),
    ("julia.nowak", "Julia", "Warsaw", "CET", "€", "Polish"),
    ("lars.eriksson", "Lars", "Stockholm", "CET", "€", None),
    ("isabel.lopez", "Isabel", "Barcelona", "CET", "€", "Spanish"),
    ("finn.jansen", "Finn", "Amsterdam", "CET", "€", None),
    ("amara.diallo", "Amara", "Brussels", "CET", "€", "French"),
    ("ethan.brown", "Ethan", "Austin", "CST", "$", None),
    ("yuki.tanaka", "Yuki", "Toronto", "EST", "$", None),
    ("clara.hoffmann", "Clara", "Munich", "CET", "€", "German"),
    ("marco.bianchi", "Marco", "Rome", "CET", "€", "Italian"),
    ("sara.lindqvist", "Sara", "Oslo", "CET", "€", None),
    ("omar.haddad", "Omar", "Boston", "EST", "$", None),
    ("nina.petrova", "Nina", "Prague", "CET", "€", None),
    ("leo.dupont", "Léo", "Bordeaux", "CET", "€", None),
    ("zoe.williams", "Zoe", "Bristol", "GMT", "£", None),
    ("paula.costa", "Paula", "Porto", "WET", "€", "Portuguese"),
    ("felix.wagner", "Felix", "Cologne", "CET", "€", None),
    ("aisha.khan", "Aisha", "Birmingham", "GMT", "£", None),
    ("samuel.green", "Samuel", "Denver", "MST", "$", None),
]

_JOBS = {
    "night_nurse": "I'm a nurse and I work night shifts, so mornings before 10 "
    "are best.",
    "paramedic": "I'm a paramedic and I work night shifts, so mornings before 10 "
    "are best.",
    "teacher": "I'm a teacher, so weekday afternoons after 4 work best.",
    "developer": "I'm a software developer and I work from home, so any time is fine.",
    "chef": "I work as a chef, so I'm only home on Mondays.",
    "student": "I'm a student, so the cheaper boxes matter to me.",
    "retired": "I'm retired. Any weekday morning works.",
    "accountant": "I'm an accountant, so weekday evenings work best.",
    "architect": "I'm an architect and I work from home on Fridays.",
    "pharmacist": "I'm a pharmacist, so Saturday mornings work best.",
    "photographer": "I'm a freelance photographer, so my schedule changes a lot.",
}
_DIETS = {
    "vegetarian": "I'm vegetarian.",
    "vegan": "I'm vegan.",
    "pescatarian": "I'm pescatarian.",
    "peanuts": "I'm allergic to peanuts.",
    "lactose": "I'm lactose intolerant.",
    "gluten": "I'm gluten intolerant.",
}
_UNITS = {
    "metric": "I prefer metric units.",
    "imperial": "I prefer imperial units.",
}
_CONTACTS = {
    "email": "I prefer to be contacted by email.",
    "phone": "I prefer to be contacted by phone.",
    "text": "I prefer to be contacted by text message.",
}
_DEVICES = {
    "iphone": "I use the app on an iPhone.",
    "android": "I use the app on an Android phone.",
    "ipad": "I use the app on an iPad.",
}
_FAMILIES = {
    "two_kids": "I have two kids and my partner is vegan.",
    "alone": "I live alone.",
    "four": "I cook for a family of four.",
    "three_kids": "I have three kids.",
}
_ACCESS = {
    "screen_reader": "I use a screen reader.",
    "colorblind": "I'm colorblind.",
    "large_print": "Please always use large print in emails.",
}

# What the agent asks before the customer states a fact of each kind.
_QUESTIONS = {
    "city": "Just to double-check your delivery details: which city are we "
    "shipping to?",
    "job": "What delivery window suits you best?",
    "diet": "Any dietary needs I should note for your boxes?",
    "units": "Would you like your recipe cards in metric or imperial units?",
    "lang": "Which language would you like us to use with you?",
    "tz": "Which time zone should I use for your delivery notifications?",
    "contact": "How should we reach you if something goes wrong with a delivery?",
    "device": "Are you using our app? On which device?",
    "family": "How many people are you cooking for?",
    "access": "Is there anything that would make our emails easier for you to use?",
}
_ACKS = (
    "Thanks, I've noted that on your account.",
    "Got it, I've saved that to your profile.",
    "Noted, thank you!",
    "Thanks for letting me know, that's saved.",
)
# The agent's second try at a customer who wants another language.
_PAUSE_ANSWERS = {
    "Spanish": "Ve a Cuenta, luego a Suscripción, y toca Pausar.",
    "German": "Gehen Sie zu Konto, dann zu Abo, und tippen Sie auf Pausieren.",
    "French": "Allez dans Compte, puis Abonnement, et touchez Pause.",
    "Italian": "Vai su Account, poi su Abbonamento, e tocca Pausa.",
    "Portuguese": "Vá a Conta, depois a Assinatura, e toque em Pausar.",
    "Polish": "Przejdź do Konto, potem Subskrypcja, i dotknij Wstrzymaj.",
}
_CLOSINGS = (
    ("Great, thanks!", "You're welcome! Enjoy your next box."),
    ("Thank you!", "You're welcome! Enjoy your next box."),
    ("Sounds good.", "Great! Have a lovely day."),
    ("That's all, thanks.", "Happy to help. Have a lovely day."),
)

# The stories: a few customers change a fact after their profile was made.
# Changes marked "archived" happen before a second manual generation (so the
# old fact is ARCHIVED); those marked "review" happen just before the rerun,
# so PENDING differs from CURRENT and the review page has something to show.
_TRAITS: dict[str, dict[str, str]] = {
    "jonas.weber": {"job": "night_nurse"},
    "ana.garcia": {"contact": "email"},
    "priya.nair": {"job": "night_nurse"},
    "tom.becker": {"diet": "vegetarian"},
    "sofia.rossi": {"family": "two_kids"},
    "lucas.martin": {"units": "metric"},
    "noah.kim": {"device": "android"},
    "mia.schneider": {"units": "imperial"},
    "oliver.smith": {"device": "iphone", "access": ""},
    "emma.johnson": {"diet": "lactose"},
    "lena.fischer": {"contact": "email"},
    "david.chen": {"contact": "email"},
    "chloe.dubois": {"diet": "vegetarian"},
    "ben.taylor": {"job": "student"},
    "grace.okafor": {"device": "ipad"},
}
_ARCHIVED_CHANGES: dict[str, list[str]] = {
    "lena.fischer": ["I moved to Lisbon recently, so please change my address."],
    "david.chen": ["I prefer to be contacted by text message now."],
    "chloe.dubois": ["I'm now pescatarian."],
    "ben.taylor": ["I'm a software developer now."],
}
_REVIEW_CHANGES: dict[str, list[str]] = {
    "jonas.weber": [
        "I moved to Munich last month, so please update my delivery address."
    ],
    "ana.garcia": ["I prefer to be contacted by phone now, not email."],
    "priya.nair": ["I work day shifts now, so evening deliveries are best."],
    "tom.becker": ["I'm now vegan."],
    "sofia.rossi": ["We just had a baby, so I have three kids now."],
    "lucas.martin": ["I moved to Boston last month.", "My time zone is EST now."],
    "emma.johnson": ["I'm allergic to peanuts, so please keep them out of my boxes."],
    "noah.kim": ["Please always answer in English from now on."],
    "mia.schneider": ["I prefer metric units now."],
    "oliver.smith": ["I use a screen reader now, so please keep emails plain text."],
}
# Facts support staff typed in by hand, which no rerun can find again.
_SUPPORT_NOTES = {
    "hannah.meyer": "Wants deliveries left with the neighbour at number 12",
    "ravi.patel": "Asked for a callback before any plan change",
}
_SUPPORT_REWORDING = ("grace.okafor", "Uses the app on an iPad", "(older model)")


@dataclass
class Persona:
    user_id: str
    first_name: str
    city: str
    time_zone: str
    currency: str
    language: str | None
    facts: dict[str, str]
    email_share: float

    def statement(self, kind: str) -> str:
        """The customer's own words for one fact."""
        if kind == "city":
            return f"I live in {self.city}."
        if kind == "tz":
            return f"My time zone is {self.time_zone}."
        if kind == "lang":
            return f"Please always answer in {self.language}."
        tables = {
            "job": _JOBS,
            "diet": _DIETS,
            "units": _UNITS,
            "contact": _CONTACTS,
            "device": _DEVICES,
            "family": _FAMILIES,
            "access": _ACCESS,
        }
        return tables[kind][self.facts[kind]]

    @property
    def kinds(self) -> list[str]:
        kinds = ["city", "tz", *self.facts]
        return kinds + ["lang"] if self.language else kinds


def _personas(rng: random.Random) -> list[Persona]:
    personas = []
    for user_id, first, city, tz, currency, language in _PEOPLE:
        facts = {"job": rng.choice(list(_JOBS))}
        for kind, table, chance in (
            ("diet", _DIETS, 0.6),
            ("units", _UNITS, 0.5),
            ("contact", _CONTACTS, 0.7),
            ("device", _DEVICES, 0.6),
            ("family", _FAMILIES, 0.6),
            ("access", _ACCESS, 0.15),
        ):
            if rng.random() < chance:
                facts[kind] = rng.choice(list(table))
        for kind, value in _TRAITS.get(user_id, {}).items():
            if value:
                facts[kind] = value
            else:
                facts.pop(kind, None)
        personas.append(
            Persona(
                user_id=user_id,
                first_name=first,
                city=city,
                time_zone=tz,
                currency=currency,
                language=language,
                facts=facts,
                email_share=rng.choice((0.1, 0.3, 0.6)),
            )
        )
    return personas


# Conversations


@dataclass
class _Turn:
    role: str
    content: str
    tools: list[dict[str, Any]] = field(default_factory=list)
    at: datetime | None = None


@dataclass
class _Conversation:
    persona: Persona
    agent_version: str
    source: str
    session_id: str
    started: datetime
    turns: list[_Turn]


def _tool(name: str, **data: Any) -> list[dict[str, Any]]:
    return [{"tool_name": name, "tool_data": data}]


class _Writer:
    """Writes the turns of one conversation with its slots filled in."""

    _PRODUCTS = (
        "blender",
        "cast-iron pan",
        "knife set",
        "coffee grinder",
        "stand mixer",
        "rice cooker",
        "dutch oven",
        "kettle",
        "salad spinner",
    )
    _DAMAGE = ("broken", "with a cracked lid", "dented", "with a missing part")
    _MONTHS = ("January", "February", "March", "April", "May", "June")
    _PLANS = ("Family Veggie", "Classic Two", "Quick & Easy", "Protein Plus")
    _RECIPES = ("banana bread", "pizza dough", "focaccia", "brownie", "pancake")
    _DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
    _STREETS = ("Lindenstraße 14", "Rose Lane 3", "Calle Mayor 21", "Rue Verte 8")

    def __init__(self, rng: random.Random, persona: Persona, told: set[str]) -> None:
        self.rng = rng
        self.p = persona
        self.told = told
        self.turns: list[_Turn] = []

    # Building blocks

    def user(self, text: str) -> None:
        self.turns.append(_Turn(USER, text))

    def agent(self, text: str, tools: list[dict[str, Any]] | None = None) -> None:
        self.turns.append(_Turn(AGENT, text, tools or []))

    def order_id(self) -> str:
        return f"A-{self.rng.randint(1000, 9899)}"

    def money(self, low: int, high: int) -> str:
        cents = self.rng.choice(("00", "50", "90", "99"))
        return f"{self.p.currency}{self.rng.randint(low, high)}.{cents}"

    def ask(self, text: str) -> None:
        """Add a question to the agent's last turn, or start a turn with it."""
        last = self.turns[-1] if self.turns else None
        if last is not None and last.role == AGENT:
            last.content = f"{last.content} {text}"
        else:
            self.agent(text)

    def state(self, kind: str) -> None:
        """The agent asks about one fact and the customer answers."""
        self.ask(_QUESTIONS[kind])
        self.user(self.p.statement(kind))
        self.told.add(kind)

    def untold(self, count: int) -> None:
        """Bring up facts the customer has not mentioned yet, then any."""
        fresh = [k for k in self.p.kinds if k not in self.told]
        pool = fresh or self.p.kinds
        for kind in self.rng.sample(pool, min(count, len(pool))):
            self.state(kind)
            self.agent(self.rng.choice(_ACKS))

    def close(self) -> None:
        thanks, reply = self.rng.choice(_CLOSINGS)
        self.user(thanks)
        self.agent(reply)

    # Corrections: the agent gets it wrong, is told so, and does better.

    def refund_to_card(self) -> None:
        order, product = self.order_id(), self.rng.choice(self._PRODUCTS)
        amount = self.money(19, 149)
        opener = self.rng.choice(("I'd like a refund, please.", "I want a refund."))
        self.user(
            f"{opener} Order {order}: the {product} arrived "
            f"{self.rng.choice(self._DAMAGE)}."
        )
        self.agent(
            f"I'm sorry about that! I found order {order} ({product}). I've "
            f"issued {amount} as store credit to your account.",
            _tool("lookup_order", order_id=order),
        )
        self.user(
            self.rng.choice(
                (
                    "No, I asked for a refund to my card, not store credit.",
                    "No, I want the money back on my card, not store credit.",
                )
            )
        )
        last4 = self.rng.randint(1000, 9999)
        self.agent(
            f"Apologies. I've reversed the store credit and refunded {amount} to "
            f"your card ending in {last4}. It should show up in 3-5 business days.",
            _tool("issue_refund", order_id=order, method="card", amount=amount),
        )
        self.user("Thanks, that worked. I can already see it as pending.")

    def invoice_in_chat(self) -> None:
        month = self.rng.choice(self._MONTHS)
        number = self.rng.randint(20000, 29999)
        self.user(f"Can you send me my latest invoice? It's for the {month} box.")
        self.agent(
            f"Sure! I've attached the invoice for your {month} box as a PDF "
            f"(invoice-{number}.pdf).",
            _tool("get_invoice", month=month, format="pdf"),
        )
        self.user(
            self.rng.choice(
                (
                    "Actually, please don't send me a PDF, paste it in the chat.",
                    "Please don't send attachments, just paste the invoice here in "
                    "the chat.",
                )
            )
        )
        self.agent(
            f"Of course. Invoice {number}, {month} box: 4 meals for 2 people, "
            f"{self.money(49, 79)} including delivery, paid by card on 1 {month}.",
            _tool("get_invoice", month=month, format="text"),
        )
        self.user("Thanks, that worked.")

    def wrong_order(self) -> None:
        latest, older = self.order_id(), self.order_id()
        month = self.rng.choice(self._MONTHS)
        self.user("Where is my order? It still hasn't arrived.")
        self.agent(
            f"Your latest order {latest} was placed yesterday and ships on "
            f"{self.rng.choice(self._DAYS)}.",
            _tool("lookup_order", order_id=latest),
        )
        older_one = self.rng.choice(("my older order", "the earlier order"))
        self.user(f"No, I meant {older_one}, not the latest one. The one from {month}.")
        self.agent(
            f"Sorry about that. Order {older} from {month} is held at the "
            f"{self.p.city} depot because of an address problem. I've asked the "
            f"courier to redeliver it on {self.rng.choice(self._DAYS)}.",
            _tool("lookup_order", order_id=older, placed_in=month),
        )
        self.user("Thanks, that worked. The courier just confirmed.")

    def metric_units(self) -> None:
        recipe = self.rng.choice(self._RECIPES)
        self.user(f"Can you convert a recipe for me? It's the {recipe} one.")
        self.agent(f"Sure. The {recipe} needs 2 cups of flour and 8 ounces of butter.")
        self.user(
            self.rng.choice(
                (
                    "No, you should use metric units, not cups and ounces.",
                    "No, you should use grams and millilitres, not cups.",
                )
            )
        )
        self.agent("Sorry! That's 250 g of flour and 225 g of butter.")
        self.user("Thanks, that worked.")

    def language(self) -> None:
        language = self.p.language or "English"
        self.user("How do I pause my subscription?")
        self.agent("Go to Account, then Subscription, and tap Pause.")
        self.user(
            f"{self.rng.choice(('I asked', 'I told'))} you to answer in my language. "
            f"Please always answer in {language}."
        )
        self.agent(_PAUSE_ANSWERS.get(language, "Go to Account, then Pause."))
        self.user("Thanks, that worked.")

    # Successes the customer confirms.

    def app_login(self) -> None:
        device = self.rng.choice(("iPhone", "Android phone", "iPad"))
        self.user(
            f"I can't log in to the app. It keeps loading forever on my {device}."
        )
        self.agent(
            "Let's fix that. Clear the app cache under Settings, Storage, then sign "
            "out and back in with your email link."
        )
        self.user("Thanks, that worked!")
        self.agent("Glad that sorted it! Happy cooking.")

    def promo_code(self) -> None:
        code = self.rng.choice(("SPRING20", "WELCOME10", "FRESH15", "BOX5OFF"))
        self.user(f"My promo code isn't working at checkout. It's {code}.")
        self.agent(
            "Remove the items from your basket, apply the code first, then add the "
            "items again.",
            _tool("check_promo_code", code=code, valid=True),
        )
        self.user("That did the trick, thanks!")
        self.agent("Great! The discount is now on your order.")

    # Everyday requests, where most facts come up.

    def delivery_window(self) -> None:
        self.user("Can I change the delivery window for my weekly box?")
        self.state("job")
        self.agent(
            f"Done. Your boxes will arrive in that window from "
            f"{self.rng.choice(self._DAYS)} on.",
            _tool("update_delivery_slot", weekday=self.rng.choice(self._DAYS)),
        )

    def new_address(self) -> None:
        street = self.rng.choice(self._STREETS)
        self.user("I need to update my delivery address.")
        self.agent("Happy to help. What's the new address?")
        self.user(f"I live in {self.p.city}, at {street}.")
        self.told.add("city")
        self.agent(
            f"Updated: your next box goes to {street}, {self.p.city}.",
            _tool("update_address", street=street, city=self.p.city),
        )

    def pick_plan(self) -> None:
        plan = self.rng.choice(self._PLANS)
        self.user("Which meal-kit plan would you recommend for me?")
        for kind in ("family", "diet"):
            if kind in self.p.facts:
                self.state(kind)
        self.agent(
            f"I'd suggest the {plan} plan.",
            _tool("recommend_plan", plan=plan),
        )
        self.user("Sounds good, please switch me to it.")
        self.agent(f"Done! Your next box is a {plan} box.", _tool("change_plan"))

    def fewer_emails(self) -> None:
        self.user("You send me an email about every delivery. It's a bit much.")
        if "contact" in self.p.facts:
            self.state("contact")
        self.agent(
            "I've turned off the routine delivery emails. You'll only hear from "
            "us when something needs your attention.",
            _tool("update_contact_preferences", routine_emails=False),
        )

    def readable_emails(self) -> None:
        self.user("I find your order emails hard to read.")
        if "access" in self.p.facts:
            self.state("access")
        self.agent(
            "I've switched your account to plain-text emails with larger text.",
            _tool("update_contact_preferences", format="plain_text"),
        )

    def callback(self) -> None:
        self.user("Can someone call me back about my subscription?")
        self.state("tz")
        self.agent(
            f"Booked: a colleague will call you on {self.rng.choice(self._DAYS)} "
            "at 18:30 your time.",
            _tool("schedule_callback", time_zone=self.p.time_zone),
        )

    def recipe_cards(self) -> None:
        self.user("Can I change how my recipe cards are printed?")
        kinds = [kind for kind in ("lang", "units") if kind in self.p.kinds]
        for kind in kinds:
            self.state(kind)
        if kinds:
            self.agent("Done. Your next recipe cards will be printed that way.")
        else:
            self.agent(
                "Yes: you can choose the language, the units and a larger print "
                "size under Account, Recipe cards."
            )

    def pause_box(self) -> None:
        weeks = self.rng.choice(("one week", "two weeks"))
        self.user(f"I'm away for {weeks}. Can you pause my box?")
        self.agent(
            f"Paused for {weeks}. Deliveries resume automatically afterwards.",
            _tool("pause_subscription", weeks=1 if weeks == "one week" else 2),
        )

    def notifications(self) -> None:
        self.user("How do I turn on delivery notifications?")
        if "device" in self.p.facts:
            self.state("device")
        self.agent("Open the app's Settings, tap Notifications and turn on Delivery.")

    def product_question(self) -> None:
        product = self.rng.choice(self._PRODUCTS)
        self.user(f"Is the {product} dishwasher safe?")
        self.agent(
            f"The {product} is dishwasher safe, but hand washing keeps it looking "
            "new for longer.",
            _tool("product_info", product=product),
        )

    def account_check(self) -> None:
        """The customer asks the agent to go through their details."""
        self.user("Can you check that my account details are up to date?")
        self.agent("Sure, let me go through them.", _tool("get_account"))
        untold = [k for k in self.p.kinds if k not in self.told]
        for kind in untold[:_CHECKED_PER_REQUEST]:
            self.state(kind)
            self.agent(self.rng.choice(_ACKS))
        self.ask("Everything else is up to date.")
        self.close()

    def account_update(self, changes: list[str]) -> None:
        """The customer tells the agent what has changed in their life."""
        self.user(
            self.rng.choice(
                (
                    "Hi, a few things have changed on my side.",
                    "I need to update my account details.",
                )
            )
        )
        self.agent("Of course, what's changed?")
        for change in changes:
            self.user(change)
            self.agent(
                "Thanks, I've updated your account.", _tool("update_profile_notes")
            )
        self.close()


# Requests stay within 4 to 12 turns.
MAX_TURNS = 12
_CHECKED_PER_REQUEST = 4

_Topic = Callable[[_Writer], None]
# Mistakes several customers run into, so that aggregation finds clusters.
_CORRECTIONS: tuple[_Topic, ...] = (
    _Writer.refund_to_card,
    _Writer.invoice_in_chat,
    _Writer.wrong_order,
)
_SUCCESSES: tuple[_Topic, ...] = (_Writer.app_login, _Writer.promo_code)
_EVERYDAY: tuple[_Topic, ...] = (
    _Writer.delivery_window,
    _Writer.new_address,
    _Writer.pick_plan,
    _Writer.fewer_emails,
    _Writer.readable_emails,
    _Writer.callback,
    _Writer.recipe_cards,
    _Writer.pause_box,
    _Writer.notifications,
    _Writer.product_question,
)


def _topics(rng: random.Random, persona: Persona) -> list[_Topic]:
    """Pick what one customer talks about over the two months."""
    corrections = list(_CORRECTIONS)
    if persona.facts.get("units") == "metric":
        corrections.append(_Writer.metric_units)
    if persona.language:
        corrections.append(_Writer.language)
    topics = rng.sample(corrections, rng.choice((1, 2, 2)))
    if rng.random() < 0.5:
        topics.append(rng.choice(_SUCCESSES))
    topics += rng.sample(_EVERYDAY, rng.randint(3, 5))
    rng.shuffle(topics)
    return topics


def _write(
    rng: random.Random, persona: Persona, told: set[str], topic: _Topic | list[str]
) -> list[_Turn]:
    """Write one request; a list of statements is an account update."""
    writer = _Writer(rng, persona, told)
    if isinstance(topic, list):
        writer.account_update(topic)
        return writer.turns

    introduces = not told and rng.random() < 0.4
    topic(writer)
    if topic in _EVERYDAY:
        if introduces:
            first = writer.turns[0]
            first.content = f"Hi, my name is {persona.first_name}. {first.content}"
        room = (MAX_TURNS - 2 - len(writer.turns)) // 2
        writer.untold(min(rng.randint(0, 2), room))
        writer.close()
    elif topic is not _Writer.account_check and rng.random() < 0.3:
        writer.agent("Before you go: is there anything you'd like us to know?")
        kind = rng.choice(persona.kinds)
        writer.user(persona.statement(kind))
        told.add(kind)
        writer.agent(rng.choice(_ACKS))
    return writer.turns


def _as_email(turns: list[_Turn], persona: Persona) -> None:
    """Give email turns a greeting and sign-off, as people write them."""
    for turn in turns:
        if turn.role == USER:
            turn.content = f"{turn.content}\n\nBest,\n{persona.first_name}"
        else:
            turn.content = (
                f"Hi {persona.first_name},\n\n{turn.content}\n\n"
                "Best regards,\nFresh Crate Support"
            )


def _version_at(rng: random.Random, days_ago: float) -> str:
    if days_ago > CANARY_START_DAYS:
        return AGENT_VERSIONS[0]
    if days_ago < CANARY_END_DAYS:
        return AGENT_VERSIONS[1]
    return rng.choice(AGENT_VERSIONS)


def _turn_gap(rng: random.Random, source: str) -> timedelta:
    if source == "email":
        return timedelta(minutes=rng.randint(10, 90))
    return timedelta(seconds=rng.randint(15, 150))


def _session(
    rng: random.Random,
    persona: Persona,
    told: set[str],
    topics: list[_Topic] | list[list[str]],
    *,
    now: datetime,
    days_ago: float,
    version: str | None = None,
) -> list[_Conversation]:
    """One session: one or more requests on one channel, minutes apart."""
    source = "email" if rng.random() < persona.email_share else "chat"
    agent_version = version or _version_at(rng, days_ago)
    session_id = f"{source}-{rng.getrandbits(48):012x}"
    at = (now - timedelta(days=days_ago)).replace(
        hour=rng.randint(8, 20), minute=rng.randint(0, 59), second=0, microsecond=0
    )

    conversations = []
    for topic in topics:
        turns = _write(rng, persona, told, topic)
        if source == "email":
            _as_email(turns, persona)
        conversations.append(
            _Conversation(persona, agent_version, source, session_id, at, turns)
        )
        for turn in turns:
            turn.at = at
            at += _turn_gap(rng, source)
        at += timedelta(minutes=rng.randint(3, 20))

    # A session that would end in the future happened a little earlier.
    overshoot = at - (now - timedelta(minutes=5))
    if overshoot > timedelta(0):
        for conversation in conversations:
            conversation.started -= overshoot
            for turn in conversation.turns:
                turn.at = turn.at - overshoot if turn.at else None
    return conversations


def _history(
    rng: random.Random, personas: list[Persona], now: datetime
) -> tuple[list[_Conversation], dict[str, set[str]]]:
    """Two months of sessions per customer."""
    conversations: list[_Conversation] = []
    told: dict[str, set[str]] = {}
    for persona in personas:
        known = told[persona.user_id] = set()
        topics = _topics(rng, persona)
        sessions: list[list[_Topic]] = []
        while topics:
            size = 2 if len(topics) > 1 and rng.random() < 0.3 else 1
            sessions.append(topics[:size])
            topics = topics[size:]
        days = sorted((rng.uniform(5, HISTORY_DAYS) for _ in sessions), reverse=True)
        for day, session_topics in zip(days, sessions, strict=True):
            conversations += _session(
                rng, persona, known, session_topics, now=now, days_ago=day
            )
        while set(persona.kinds) - known:
            # Whatever did not come up yet, the customer confirms in a check.
            conversations += _session(
                rng,
                persona,
                known,
                [_Writer.account_check],
                now=now,
                days_ago=rng.uniform(5, days[-1]),
            )
    return conversations, told


def _changes(
    rng: random.Random,
    personas: list[Persona],
    told: dict[str, set[str]],
    changes: dict[str, list[str]],
    *,
    now: datetime,
    days: tuple[float, float],
) -> list[_Conversation]:
    """Conversations on support-v2 in which customers say what has changed."""
    by_id = {p.user_id: p for p in personas}
    conversations = []
    for user_id, statements in changes.items():
        conversations += _session(
            rng,
            by_id[user_id],
            told[user_id],
            [statements],
            now=now,
            days_ago=rng.uniform(*days),
            version=AGENT_VERSIONS[1],
        )
    return conversations


def _fresh_corrections(
    rng: random.Random,
    personas: list[Persona],
    told: dict[str, set[str]],
    *,
    now: datetime,
) -> list[_Conversation]:
    """Yesterday's corrections on support-v2, not yet in CURRENT playbooks."""
    conversations = []
    topics = [_Writer.invoice_in_chat, _Writer.wrong_order] * 3
    for persona, topic in zip(rng.sample(personas, 6), topics, strict=True):
        conversations += _session(
            rng,
            persona,
            told[persona.user_id],
            [topic],
            now=now,
            days_ago=rng.uniform(0.3, 1.0),
            version=AGENT_VERSIONS[1],
        )
    return conversations


def _save(rng: random.Random, conversations: list[_Conversation]) -> int:
    """Store conversations as requests and interactions; return the turn count."""
    requests = [
        Request(
            request_id=f"{rng.getrandbits(128):032x}",
            user_id=c.persona.user_id,
            source=c.source,
            agent_version=c.agent_version,
            session_id=c.session_id,
            created_at=c.started,
        )
        for c in conversations
    ]
    Request.objects.bulk_create(requests, batch_size=500)
    interactions = [
        Interaction(
            request=request,
            user_id=request.user_id,
            source=request.source,
            agent_version=request.agent_version,
            role=turn.role,
            content=turn.content,
            tools_used=turn.tools,
            created_at=turn.at or request.created_at,
        )
        for request, conversation in zip(requests, conversations, strict=True)
        for turn in conversation.turns
    ]
    Interaction.objects.bulk_create(interactions, batch_size=1000)
    return len(interactions)


# Running the operations


@contextmanager
def _batch_size(size: int) -> Iterator[None]:
    """Set the global batch size for the demo's operations, then restore it.

    Manual generation reads the latest `batch_size` interactions and a rerun
    walks windows of `batch_size`; the demo uses windows as long as the
    longest customer history, so that each customer's CURRENT set comes from
    everything they said (as automatic extraction would have built it over
    two months) and no conversation is cut in two.
    """
    config = GenerationSettings.load()
    original = config.batch_size
    config.batch_size = max(size, original or 0, 1)
    config.save(update_fields=["batch_size", "modified_at"])
    try:
        yield
    finally:
        config.batch_size = original
        config.save(update_fields=["batch_size", "modified_at"])


def _longest_history(conversations: list[_Conversation]) -> int:
    turns = Counter[str]()
    for conversation in conversations:
        turns[conversation.persona.user_id] += len(conversation.turns)
    return max(turns.values(), default=0)


def _finished(operation: Operation, step: str) -> Operation:
    operation.refresh_from_db()
    if operation.status != OperationStatus.COMPLETED:
        raise DemoError(
            f"{step} ended {operation.status}: "
            f"{operation.error_message or 'see the operation page'}"
        )
    logger.info(
        "Demo operation %s (%s) produced %s items",
        operation.pk,
        operation.kind,
        operation.items_produced,
    )
    return operation


class _Progress:
    def __init__(self, stdout: TextIO | None) -> None:
        self.stdout = stdout

    def __call__(self, message: str) -> None:
        if self.stdout is not None:
            self.stdout.write(f"  {message}\n")


def _support_edits(actor: Any) -> None:
    """What support staff did by hand between the generations."""
    for user_id, note in _SUPPORT_NOTES.items():
        profile_add(user_id=user_id, content=note, actor=actor)
    user_id, content, addition = _SUPPORT_REWORDING
    profile = UserProfile.objects.filter(
        user_id=user_id, status=Status.CURRENT, content=content
    ).first()
    if profile is not None:
        profile_update(profile=profile, content=f"{content} {addition}", actor=actor)


def _review_decisions(actor: Any) -> None:
    """Approve the proposal most users back; reject the language one.

    Which language to answer in is a fact about each customer, kept in their
    profile, so a reviewer would turn down an agent-wide rule for it.
    """
    proposals = list(
        AgentPlaybook.objects.filter(approval=Approval.PENDING)
        .annotate(backers=Count("user_playbooks"))
        .order_by("-backers", "id")
    )
    if len(proposals) < 3:
        return
    approved = proposals[0]
    rejected = next(
        (p for p in proposals[1:] if "their language" in p.content), proposals[-1]
    )
    for playbook, approval in (
        (approved, Approval.APPROVED),
        (rejected, Approval.REJECTED),
    ):
        agent_playbook_set_approval(
            agent_playbook=playbook, approval=approval, actor=actor
        )


def _generate_current(actor: Any, say: _Progress) -> None:
    _finished(manual_profile_generation(requested_by=actor), "profiles")
    for version in AGENT_VERSIONS:
        operation = manual_playbook_generation(
            agent_version=version, requested_by=actor
        )
        _finished(operation, f"playbooks of {version}")
    say("CURRENT profiles and user playbooks generated")


def _archive_changed_facts(actor: Any, say: _Progress) -> None:
    for user_id in _ARCHIVED_CHANGES:
        operation = manual_profile_generation(user_id=user_id, requested_by=actor)
        _finished(operation, f"profiles of {user_id}")
    say(f"{len(_ARCHIVED_CHANGES)} customers updated; their old facts ARCHIVED")


def _generate_pending(actor: Any, say: _Progress) -> None:
    _finished(rerun_profile_generation(requested_by=actor), "profile rerun")
    operation = rerun_playbook_generation(
        agent_version=AGENT_VERSIONS[1], requested_by=actor
    )
    _finished(operation, "playbook rerun")
    say("PENDING profiles and user playbooks generated for review")


def _aggregate(actor: Any, say: _Progress) -> None:
    for version in AGENT_VERSIONS:
        operation = run_playbook_aggregation(
            agent_version=version, playbook_name=PLAYBOOK_NAME, requested_by=actor
        )
        _finished(operation, f"aggregation of {version}")
    _review_decisions(actor)
    say("Agent playbooks proposed; one approved, one rejected")


def build_demo(*, stdout: TextIO | None = None, actor: Any = None) -> DemoSummary:
    """Write the demo conversations and generate knowledge from them.

    Runs every operation inline (QUEUE_BACKEND="sync") inside one transaction,
    so the demo is either complete or absent. `actor` (a user) is recorded as
    the one who started the operations and made the support edits.
    """
    rng = random.Random(SEED)
    now = timezone.now()
    say = _Progress(stdout)
    personas = _personas(rng)
    history, told = _history(rng, personas, now)
    archived = _changes(rng, personas, told, _ARCHIVED_CHANGES, now=now, days=(3, 4))
    review = _changes(rng, personas, told, _REVIEW_CHANGES, now=now, days=(1, 2))
    review += _fresh_corrections(rng, personas, told, now=now)
    window = _longest_history(history + archived + review)

    with (
        override_settings(QUEUE_BACKEND="sync"),
        transaction.atomic(),
        _batch_size(window),
    ):
        turns = _save(rng, history)
        say(f"{len(history)} conversations with {turns} turns written")
        _generate_current(actor, say)

        _save(rng, archived)
        _archive_changed_facts(actor, say)

        _support_edits(actor)
        _save(rng, review)
        _generate_pending(actor, say)

        _aggregate(actor, say)

    logger.info("Demo built: %s conversations", len(history) + len(archived + review))
    return summarize()


# Counting what is there


@dataclass(frozen=True)
class AggregationCounts:
    read: int
    clusters: int
    clusters_kept: int
    proposed: int


@dataclass(frozen=True)
class DemoSummary:
    users: int
    requests: int
    interactions: int
    agent_versions: list[str]
    sources: list[str]
    profiles: dict[str, int]
    user_playbooks: dict[str, int]
    agent_playbooks: dict[str, int]
    aggregation: dict[str, AggregationCounts]


def _by(queryset: Any, field_name: str, choices: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(choices, 0)
    for row in queryset.values(field_name).annotate(n=Count("id")):
        counts[row[field_name]] = row["n"]
    return counts


def _latest_aggregation(agent_version: str) -> AggregationCounts | None:
    operation = (
        Operation.objects.filter(
            kind=OperationKind.AGGREGATE_PLAYBOOKS,
            status=OperationStatus.COMPLETED,
            params__agent_version=agent_version,
        )
        .order_by("-id")
        .first()
    )
    if operation is None:
        return None
    result = operation.result or {}
    return AggregationCounts(
        read=result.get("read", 0),
        clusters=result.get("clusters", 0),
        clusters_kept=result.get("clusters_kept", 0),
        proposed=len(result.get("added", [])),
    )


def summarize() -> DemoSummary:
    """Count what the database holds, as the demo banner shows it."""
    statuses = list(Status.values)
    aggregation = {}
    for version in AGENT_VERSIONS:
        counts = _latest_aggregation(version)
        if counts is not None:
            aggregation[version] = counts
    return DemoSummary(
        users=Request.objects.values("user_id").distinct().count(),
        requests=Request.objects.count(),
        interactions=Interaction.objects.count(),
        agent_versions=sorted(
            Request.objects.values_list("agent_version", flat=True).distinct()
        ),
        sources=sorted(Request.objects.values_list("source", flat=True).distinct()),
        profiles=_by(UserProfile.objects.all(), "status", statuses),
        user_playbooks=_by(UserPlaybook.objects.all(), "status", statuses),
        agent_playbooks=_by(
            AgentPlaybook.objects.all(), "approval", list(Approval.values)
        ),
        aggregation=aggregation,
    )


# Removing the demo


def demo_user_ids() -> list[str]:
    return [row[0] for row in _PEOPLE]


def _delete(queryset: Any) -> int:
    """Delete rows and return how many of the queryset's own model went."""
    _, per_model = queryset.delete()
    return per_model.get(queryset.model._meta.label, 0)


def reset_demo(*, actor: Any = None) -> dict[str, int]:
    """Delete the demo customers' conversations and everything made from them.

    Operations the demo login started go too; the audit log keeps its events
    and records the reset. Returns how many rows of each kind were deleted.
    """
    users = demo_user_ids()
    cursors = [f"profiles/{u}" for u in users] + [
        f"playbooks/{v}/{u}" for v in AGENT_VERSIONS for u in users
    ]
    with transaction.atomic():
        deleted = {
            "agent playbooks": _delete(
                AgentPlaybook.objects.filter(agent_version__in=AGENT_VERSIONS)
            ),
            "user playbooks": _delete(UserPlaybook.objects.filter(user_id__in=users)),
            "profiles": _delete(UserProfile.objects.filter(user_id__in=users)),
            "interactions": _delete(Interaction.objects.filter(user_id__in=users)),
            "requests": _delete(Request.objects.filter(user_id__in=users)),
            "operations": _delete(Operation.objects.filter(requested_by=actor))
            if actor is not None
            else 0,
        }
        PlaybookGeneration.objects.filter(user_id__in=users).delete()
        ProfileGeneration.objects.filter(user_id__in=users).delete()
        ExtractionCursor.objects.filter(scope_key__in=cursors).delete()
        DeletedItem.objects.filter(user_id__in=users).delete()
        audit_record(action="demo_reset", actor=actor, counts=deleted)
    logger.info("Demo data removed: %s", deleted)
    return deleted
