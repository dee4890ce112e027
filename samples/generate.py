"""Generate the sample shop: contacts, orders and events of a small French online shop.

A cosmetics and shoes shop selling in France, Belgium, Germany and the United Kingdom, seen on
2026-11-20 (every record is older than 2026-11-20T00:00:00+01:00). Output: `samples/shop/`
(`contacts.csv`, `orders.jsonl`, `events.csv`), byte-identical from one run to the next.

Generation uses the standard library only, with one `random.Random(2026)` drawn in a fixed order.
Before anything is written, every row is parsed back from the exact text about to be written and
validated against relance's pydantic models (`relance.engine.data.models`), plus the shop's own
invariants (totals, dates, opens after sends...); the first problems are printed and the run fails.

    python samples/generate.py            # writes samples/shop/ and prints the statistics
    python samples/generate.py --out DIR  # writes elsewhere (e.g. to compare two runs)
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import random
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

SEED = 2026
N_CONTACTS = 3000
UTC = dt.UTC

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "shop"

CONTACT_COLUMNS = ("id", "email", "first_name", "last_name", "country", "language", "birthdate", "created_at",
                   "consent_email", "consent_sms", "consent_push", "tags", "favourite_category", "skin_type")
EVENT_COLUMNS = ("id", "contact_id", "type", "at", "channel", "campaign")
ORDER_STATUSES = ("paid", "partially_paid", "pending", "cancelled", "refunded")
EVENT_TYPES = ("email_sent", "email_opened", "email_clicked", "page_viewed", "unsubscribed")
CATEGORIES = ("shoes", "socks", "skincare", "makeup", "low-margin")
SKIN_TYPES = ("dry", "oily", "normal", "combination", "sensitive")


# ---- time: instants are aware UTC datetimes inside, written in Europe/Paris ----

def _last_sunday(year: int, month: int) -> int:
    """Day of the month of the last Sunday of March or October (31-day months)."""
    last = dt.date(year, month, 31)
    return 31 - (last.weekday() + 1) % 7


def paris_offset(instant: dt.datetime) -> int:
    """Hours ahead of UTC in Paris at `instant` (EU rule: summer time from the last Sunday of
    March 01:00 UTC to the last Sunday of October 01:00 UTC). Computed here rather than read from
    the system's tz database, so every machine writes the same bytes."""
    year = instant.year
    start = dt.datetime(year, 3, _last_sunday(year, 3), 1, tzinfo=UTC)
    end = dt.datetime(year, 10, _last_sunday(year, 10), 1, tzinfo=UTC)
    return 2 if start <= instant < end else 1


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """The UTC instant of a Paris wall-clock time (a time skipped in spring moves one hour on)."""
    local = dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    summer = local - dt.timedelta(hours=2)
    return summer if paris_offset(summer) == 2 else local - dt.timedelta(hours=1)


def iso(instant: dt.datetime) -> str:
    """`2025-03-04T10:22:00+01:00`: the Paris wall clock with its offset."""
    offset = paris_offset(instant)
    local = (instant + dt.timedelta(hours=offset)).replace(tzinfo=None)
    return f"{local.isoformat(timespec='seconds')}+0{offset}:00"


def local_date(instant: dt.datetime) -> dt.date:
    """The date in Paris."""
    return (instant + dt.timedelta(hours=paris_offset(instant))).date()


START = paris(2023, 1, 1)
END = paris(2026, 11, 20)  # exclusive: the shop is seen at midnight starting 2026-11-20
EVENTS_FROM = paris(2026, 5, 20)  # the email platform exports the last six months
DAY = dt.timedelta(days=1)


def at_local_time(rng: random.Random, day: dt.date, hours: Sequence[float]) -> dt.datetime:
    """An instant on `day` (Paris) at an hour drawn with the 24 `hours` weights."""
    hour = rng.choices(range(24), weights=hours)[0]
    return paris(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60))


# Hour-of-day weights (Paris): sign-ups and web orders peak at lunch and in the evening; the
# stores open 10:00-19:00; people read their email in the morning and the evening.
HOURS_WEB = (1, 0.5, 0.3, 0.2, 0.2, 0.3, 1, 2, 3, 3, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5, 6, 7, 7, 5, 2.5)
HOURS_STORE = (0,) * 10 + (3, 4, 5, 5, 5, 5, 6, 7, 6) + (0,) * 5


def month_weight(day: dt.date) -> float:
    """Seasonality of the trade: Black Friday and Christmas, January and summer sales."""
    weights = {1: 1.25, 2: 0.85, 3: 0.9, 4: 0.95, 5: 1.05, 6: 1.1, 7: 1.15, 8: 0.75, 9: 0.95, 10: 1.0,
               11: 1.55, 12: 1.45}
    return weights[day.month]


def seasonal_instant(rng: random.Random, low: dt.datetime, high: dt.datetime,
                     hours: Sequence[float] = HOURS_WEB) -> dt.datetime:
    """An instant in [low, high), denser in the busy months; never before `low`."""
    span = (high - low).total_seconds()
    while True:
        candidate = low + dt.timedelta(seconds=rng.random() * span)
        if rng.random() * 1.55 <= month_weight(local_date(candidate)):
            break
    moment = at_local_time(rng, local_date(candidate), hours)
    if not low < moment < high:  # the hour drawn fell outside the window: keep the plain instant
        moment = max(candidate, low + dt.timedelta(minutes=7))
    return moment.replace(microsecond=0)


# ---- people ----

FR_WOMEN = ("Marie", "Camille", "Léa", "Chloé", "Manon", "Emma", "Inès", "Sarah", "Julie", "Laura", "Clara",
            "Pauline", "Océane", "Anaïs", "Mathilde", "Lucie", "Élodie", "Céline", "Audrey", "Nathalie", "Sophie",
            "Isabelle", "Hélène", "Margaux", "Zoé", "Louise", "Juliette", "Amélie", "Agathe", "Noémie", "Yasmine")
FR_MEN = ("Thomas", "Nicolas", "Julien", "Maxime", "Lucas", "Hugo", "Antoine", "Alexandre", "Romain", "Kévin",
          "Mathieu", "Pierre", "Baptiste", "Louis", "Théo", "Quentin", "Guillaume", "Jérôme", "Sébastien",
          "François", "Yanis", "Mehdi", "Karim", "Arthur", "Benoît")
FR_LAST = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
           "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
           "Morel", "Girard", "André", "Lefèvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François",
           "Martinez", "Legrand", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel",
           "Perrin", "Morin", "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin",
           "Le Gall", "Benali", "Nguyen", "Da Silva", "Le Goff", "Haddad")
BE_LAST = ("Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters",
           "De Smet", "Dubois", "Lambert", "Dupont", "Leclercq", "Martin", "Simon", "Renard", "Lejeune",
           "Declercq", "Hermans", "Van Damme", "Lemaire")
NL_WOMEN = ("Lotte", "Emma", "Lies", "Fien", "Noor", "Sofie", "Eline", "Annelies", "Ine", "Kato", "Marie", "Hanne")
NL_MEN = ("Lars", "Wout", "Pieter", "Jens", "Stijn", "Bram", "Thomas", "Arne", "Jonas", "Koen", "Dries", "Sander")
DE_WOMEN = ("Anna", "Lena", "Laura", "Julia", "Sarah", "Katharina", "Lisa", "Hannah", "Sophie", "Marie", "Johanna",
            "Leonie", "Sabine", "Petra", "Claudia", "Franziska", "Jana")
DE_MEN = ("Lukas", "Jonas", "Leon", "Felix", "Maximilian", "Paul", "Tobias", "Florian", "Jan", "Stefan", "Michael",
          "Andreas", "Matthias", "Niklas")
DE_LAST = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
           "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
           "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann")
GB_WOMEN = ("Olivia", "Amelia", "Isla", "Emily", "Ava", "Jessica", "Sophie", "Charlotte", "Grace", "Lucy", "Hannah",
            "Ellie", "Chloe", "Rebecca", "Emma", "Laura", "Holly", "Megan")
GB_MEN = ("Oliver", "Harry", "George", "Jack", "James", "William", "Thomas", "Charlie", "Daniel", "Samuel", "Joshua",
          "Alfie", "Ben", "Matthew")
GB_LAST = ("Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
           "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
           "Wood", "Harris", "Lewis", "Martin", "Jackson", "Clarke", "Patel", "Khan", "O'Brien", "Murphy")

COUNTRIES = ("FR", "BE", "DE", "GB")
COUNTRY_WEIGHTS = (62, 15, 12, 11)
LANGUAGES = {"FR": (("fr", 97), ("en", 3)), "BE": (("fr", 70), ("nl", 27), ("en", 3)),
             "DE": (("de", 93), ("en", 5), ("fr", 2)), "GB": (("en", 96), ("fr", 4))}
MAIL_DOMAINS = {
    "FR": (("gmail.com", 34), ("orange.fr", 14), ("hotmail.fr", 11), ("free.fr", 9), ("yahoo.fr", 7),
           ("laposte.net", 6), ("outlook.fr", 6), ("sfr.fr", 5), ("wanadoo.fr", 4), ("icloud.com", 4)),
    "BE": (("gmail.com", 40), ("skynet.be", 15), ("telenet.be", 15), ("hotmail.com", 15), ("outlook.be", 8),
           ("proximus.be", 7)),
    "DE": (("gmail.com", 25), ("gmx.de", 25), ("web.de", 22), ("t-online.de", 14), ("outlook.de", 8),
           ("yahoo.de", 6)),
    "GB": (("gmail.com", 38), ("hotmail.co.uk", 18), ("outlook.com", 14), ("yahoo.co.uk", 12),
           ("btinternet.com", 10), ("icloud.com", 8)),
}
DISPOSABLE_DOMAINS = ("yopmail.com", "mailinator.com")
TYPO_DOMAINS = ("gmial.com", "hotmial.com")
STAFF_DOMAIN = "atelier-celeste.fr"  # the shop's own staff


def _pick(rng: random.Random, pairs: Sequence[tuple[str, int]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def ascii_slug(text: str) -> str:
    """`Le Gall` -> `legall`, `Müller` -> `muller`: what people type in an address."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum() or c == "-")


# ---- catalogue (prices in cents, EUR) ----

@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    category: str
    cents: int
    sized: bool = False


CATALOGUE: tuple[Product, ...] = (
    Product("SHO-01", "Baskets Lina blanc", "shoes", 8900, True),
    Product("SHO-02", "Baskets Lina noir", "shoes", 8900, True),
    Product("SHO-03", "Ballerines Rose", "shoes", 6900, True),
    Product("SHO-04", "Mocassins Arthur", "shoes", 11900, True),
    Product("SHO-05", "Bottines Nina", "shoes", 13900, True),
    Product("SHO-06", "Derbies Paul", "shoes", 12900, True),
    Product("SHO-07", "Sandales Rivière", "shoes", 5900, True),
    Product("SHO-08", "Espadrilles Biarritz", "shoes", 4500, True),
    Product("SHO-09", "Running Envol", "shoes", 9900, True),
    Product("SHO-10", "Chaussons Cocon", "shoes", 3900, True),
    Product("SOC-01", "Chaussettes bio x3", "socks", 1490),
    Product("SOC-02", "Chaussettes mérinos", "socks", 1250),
    Product("SOC-03", "Socquettes x5", "socks", 1190),
    Product("SOC-04", "Chaussettes Bretagne", "socks", 990),
    Product("SKI-01", "Crème Aloé", "skincare", 2490),
    Product("SKI-02", "Sérum vitamine C", "skincare", 3490),
    Product("SKI-03", "Eau micellaire", "skincare", 1490),
    Product("SKI-04", "Crème de nuit", "skincare", 2990),
    Product("SKI-05", "Huile sèche corps", "skincare", 2750),
    Product("SKI-06", "Masque argile", "skincare", 1990),
    Product("SKI-07", "Contour des yeux", "skincare", 2200),
    Product("SKI-08", "Crème mains karité", "skincare", 990),
    Product("SKI-09", "Solaire SPF 50", "skincare", 1890),
    Product("SKI-10", "Baume lèvres", "skincare", 650),
    Product("MAK-01", "Mascara Volume", "makeup", 2190),
    Product("MAK-02", "Rouge Cerise", "makeup", 1850),
    Product("MAK-03", "Fond de teint", "makeup", 3200),
    Product("MAK-04", "Palette Terracotta", "makeup", 3900),
    Product("MAK-05", "Crayon yeux Charbon", "makeup", 1290),
    Product("MAK-06", "Poudre bronzante", "makeup", 2600),
    Product("MAK-07", "Vernis Coquelicot", "makeup", 950),
    Product("MAK-08", "Blush Pêche", "makeup", 1790),
    Product("LOW-01", "Tote bag", "low-margin", 490),
    Product("LOW-02", "Kit entretien cuir", "low-margin", 790),
    Product("LOW-03", "Lacets couleur", "low-margin", 290),
    Product("LOW-04", "Trousse voyage", "low-margin", 500),
    Product("LOW-05", "Emballage cadeau", "low-margin", 300),
    Product("LOW-06", "Semelles confort", "low-margin", 890),
)
BY_CATEGORY: dict[str, tuple[Product, ...]] = {c: tuple(p for p in CATALOGUE if p.category == c) for c in CATEGORIES}
# Shipping by delivery country (cents) and the basket from which it is free.
SHIPPING = {"FR": (490, 6000), "BE": (590, 6000), "DE": (690, 8000), "GB": (990, 10000)}


# ---- records ----

@dataclass(slots=True)
class Line:
    sku: str
    product: str
    category: str
    quantity: int
    cents: int


@dataclass(slots=True)
class Order:
    contact: Person
    at: dt.datetime
    status: str = "paid"
    channel: str = "web"
    country: str = "FR"
    lines: list[Line] = field(default_factory=list)
    shipping: int = 0
    id: str = ""

    @property
    def subtotal(self) -> int:
        return sum(line.quantity * line.cents for line in self.lines)


@dataclass(slots=True)
class Event:
    contact: Person
    type: str
    at: dt.datetime
    channel: str
    campaign: str = ""
    id: str = ""


@dataclass(slots=True)
class Person:
    """A contact and the hidden traits that drive its behaviour (not written out)."""

    created: dt.datetime
    country: str
    language: str
    woman: bool
    first_name: str
    last_name: str
    email: str
    email_kind: str  # valid, disposable, typo, empty, staff
    birthdate: dt.date | None
    consent_email: bool
    consent_sms: bool
    consent_push: bool
    channel: str  # preferred order channel
    affinity: dict[str, float]
    shoe_size: int
    staples: tuple[Product, ...]  # the two products it buys again and again
    id: str = ""
    behaviour: str = "never"
    rhythm: float = 0.0  # days between orders, for repeat buyers
    stopped: dt.datetime | None = None  # lapsed loyal: when they stopped
    engagement: float = 0.0  # chance to open an email while interested
    dormant_from: dt.datetime | None = None  # from then on, (almost) no opens nor visits
    orders: list[Order] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    favourite_category: str = ""
    skin_type: str = ""
    unsubscribed: dt.datetime | None = None


# ---- contacts ----

def _day_weights() -> tuple[list[dt.date], list[float]]:
    """Sign-up days: the shop grows (three times more sign-ups at the end), with seasons."""
    first, last = local_date(START), local_date(END - DAY)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    weights = [(1 + 2 * i / len(days)) * month_weight(d) for i, d in enumerate(days)]
    return days, weights


def _names(rng: random.Random, country: str, language: str, woman: bool) -> tuple[str, str]:
    if country == "DE":
        first, last = (DE_WOMEN if woman else DE_MEN), DE_LAST
    elif country == "GB":
        first, last = (GB_WOMEN if woman else GB_MEN), GB_LAST
    elif country == "BE":
        first = (NL_WOMEN if woman else NL_MEN) if language == "nl" else (FR_WOMEN if woman else FR_MEN)
        last = BE_LAST
    else:
        first, last = (FR_WOMEN if woman else FR_MEN), FR_LAST
    return rng.choice(first), rng.choice(last)


def _local_part(rng: random.Random, first: str, last: str, birth: dt.date | None) -> str:
    f, l_ = ascii_slug(first), ascii_slug(last)
    pattern = rng.choices(range(7), weights=(30, 14, 12, 10, 12, 8, 6))[0]
    if pattern == 0:
        return f"{f}.{l_}"
    if pattern == 1:
        return f"{f}{l_}"
    if pattern == 2:
        return f"{f[0]}{l_}"
    if pattern == 3:
        return f"{f}.{l_}{rng.randrange(1, 100)}"
    if pattern == 4:
        year = birth.year if birth else rng.randrange(1955, 2006)
        return f"{f}{year % 100:02d}" if rng.random() < 0.5 else f"{f}.{l_}{year}"
    if pattern == 5:
        return f"{f}_{l_}"
    return f"{l_}.{f}"


def make_people(rng: random.Random) -> list[Person]:
    """About 3,000 contacts, oldest first, with ids c0001..."""
    days, weights = _day_weights()
    cumulative: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    people: list[Person] = []
    used: dict[str, int] = {}
    for _ in range(N_CONTACTS):
        day = rng.choices(days, cum_weights=cumulative)[0]
        created = at_local_time(rng, day, HOURS_WEB)
        if created >= END:
            created = END - dt.timedelta(minutes=rng.randrange(5, 300))
        if created < START:
            created = START + dt.timedelta(minutes=rng.randrange(5, 300))
        roll = rng.random()
        kind = ("empty" if roll < 0.03 else "disposable" if roll < 0.05 else "typo" if roll < 0.06
                else "staff" if roll < 0.064 else "valid")
        # Contacts without an email were created at a shop till (Paris, Lille, Brussels).
        country = (rng.choices(("FR", "BE"), weights=(80, 20))[0] if kind == "empty"
                   else rng.choices(COUNTRIES, weights=COUNTRY_WEIGHTS)[0])
        if kind == "staff":
            country = "FR"
        language = _pick(rng, LANGUAGES[country])
        woman = rng.random() < 0.72
        first, last = _names(rng, country, language, woman)
        birthdate = None
        if rng.random() >= 0.2:
            age = rng.triangular(18, 75, 34)
            birthdate = (local_date(created) - dt.timedelta(days=int(age * 365.25))
                         - dt.timedelta(days=rng.randrange(365)))
        email = ""
        if kind != "empty":
            local = _local_part(rng, first, last, birthdate)
            if kind == "disposable":
                local = rng.choice((local, f"{ascii_slug(first)}{rng.randrange(1000)}", f"promo.{ascii_slug(first)}",
                                    f"test{rng.randrange(100)}"))
                domain = rng.choice(DISPOSABLE_DOMAINS)
            elif kind == "typo":
                domain = rng.choice(TYPO_DOMAINS)
            elif kind == "staff":
                domain = STAFF_DOMAIN
                local = f"{ascii_slug(first)}.{ascii_slug(last)}"
            else:
                domain = _pick(rng, MAIL_DOMAINS[country])
            address = f"{local}@{domain}"
            if address in used:
                used[address] += 1
                address = f"{local}{used[address]}@{domain}"
            used[address] = 1
            # A few people type capitals; the address stays theirs.
            email = address.title() if rng.random() < 0.015 else address
        if kind == "empty":
            channel = "store"
        else:
            channel = rng.choices(("web", "app", "store"), weights=(63, 27, 10 if country in ("FR", "BE") else 0))[0]
        consent_email = kind != "empty" and rng.random() < (0.95 if kind == "staff" else 0.64)
        consent_sms = rng.random() < (0.45 if kind == "empty" else 0.27)
        consent_push = channel == "app" and rng.random() < 0.7 or channel != "app" and rng.random() < 0.04
        favourite = rng.choices(("shoes", "skincare", "makeup", "socks"), weights=(35, 38, 24, 3))[0]
        affinity = {"shoes": 0.9, "socks": 0.25, "skincare": 1.0, "makeup": 0.8, "low-margin": 0.0}
        affinity[favourite] *= 4
        size = (rng.choices(range(35, 43), weights=(2, 10, 18, 25, 22, 14, 7, 2))[0] if woman
                else rng.choices(range(39, 48), weights=(2, 6, 14, 22, 24, 16, 9, 5, 2))[0])
        staples = tuple(rng.sample(BY_CATEGORY[favourite], 2))
        people.append(Person(created=created, country=country, language=language, woman=woman, first_name=first,
                             last_name=last, email=email, email_kind=kind, birthdate=birthdate,
                             consent_email=consent_email, consent_sms=consent_sms, consent_push=consent_push,
                             channel=channel, affinity=affinity, shoe_size=size, staples=staples))
    people.sort(key=lambda p: p.created)
    for number, person in enumerate(people, start=1):
        person.id = f"c{number:04d}"
    return people


# ---- behaviours and orders ----

BEHAVIOURS = ("never", "one_timer", "occasional", "loyal", "lapsed", "newcomer", "b2b")


def choose_behaviour(rng: random.Random, person: Person) -> str:
    """What kind of customer this contact is, given how long it has been one."""
    age = (END - person.created).days
    if person.email_kind in ("empty",):  # signed up at a till: they bought there
        return rng.choices(("one_timer", "occasional", "loyal"), weights=(55, 35, 10))[0]
    if person.email_kind == "disposable":
        return rng.choices(("never", "one_timer"), weights=(80, 20))[0]
    if age < 100:
        return rng.choices(("never", "newcomer"), weights=(45, 55))[0]
    weights = {"never": 31.0, "one_timer": 22.0, "occasional": 18.0, "loyal": 21.0 if age > 240 else 0.0,
               "lapsed": 10.0 if age > 600 else 0.0, "b2b": 0.8 if age > 300 else 0.0}
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _noise(rng: random.Random, spread: float) -> float:
    return min(2.2, max(0.45, rng.gauss(1.0, spread)))


def order_times(rng: random.Random, person: Person) -> list[dt.datetime]:
    """When this contact orders: on its own rhythm, after sign-up, before the end."""
    created, kind = person.created, person.behaviour
    hours = HOURS_STORE if person.channel == "store" else HOURS_WEB
    soon = created + dt.timedelta(days=rng.expovariate(1 / 6))  # the welcome offer works
    if kind == "never":
        return []
    if kind in ("one_timer", "newcomer"):
        first = soon if rng.random() < 0.55 and soon < END else seasonal_instant(rng, created, END, hours)
        times = [first]
        if kind == "newcomer" and rng.random() < 0.3:
            times.append(first + dt.timedelta(days=rng.uniform(6, 45)))
        return [t for t in times if t < END]
    if kind == "occasional":
        person.rhythm = rng.uniform(110, 320)
        count = rng.choices((2, 3, 4, 5), weights=(45, 30, 17, 8))[0]
        life = (END - created).total_seconds() / 86400
        start = soon if rng.random() < 0.5 else created + dt.timedelta(days=rng.uniform(0, life * 0.5))
        times, moment = [], start
        for _ in range(count):
            if moment >= END:
                break
            times.append(moment)
            moment += dt.timedelta(days=person.rhythm * _noise(rng, 0.45))
        return times
    # loyal, lapsed, b2b: a regular rhythm with noise
    person.rhythm = rng.uniform(45, 75) if kind == "b2b" else rng.uniform(30, 120)
    stop = END
    if kind == "lapsed":
        stop = END - dt.timedelta(days=rng.uniform(300, 520))
        person.stopped = stop
    start = soon if rng.random() < 0.6 else created + dt.timedelta(days=rng.uniform(5, 1.3 * person.rhythm))
    times, moment = [], start
    while moment < stop:
        times.append(moment)
        moment += dt.timedelta(days=person.rhythm * _noise(rng, 0.22))
    if kind == "lapsed" and len(times) < 3:  # not enough history to have been loyal: an occasional buyer
        person.behaviour = "occasional"
    return times


def _when(rng: random.Random, person: Person, moment: dt.datetime, channel: str) -> dt.datetime:
    """`moment`'s day at a plausible hour for the channel, after sign-up and before the end."""
    hours = HOURS_STORE if channel == "store" else HOURS_WEB
    day = local_date(moment)
    if channel == "store" and day.weekday() == 6:  # the stores close on Sunday
        day += DAY
    at = at_local_time(rng, day, hours)
    if at <= person.created:
        at = person.created + dt.timedelta(minutes=rng.randrange(4, 90), seconds=rng.randrange(60))
    return at


def _basket(rng: random.Random, person: Person, b2b: bool) -> list[Line]:
    lines: list[Line] = []
    count = rng.choices((1, 2, 3, 4), weights=(66, 25, 7, 2))[0]
    categories = [c for c in CATEGORIES if c != "low-margin"]
    seen: list[str] = []
    for _ in range(count):
        if rng.random() < 0.35:  # the usual: a product bought before (skincare runs out)
            product = rng.choice(person.staples)
        else:
            category = rng.choices(categories, weights=[person.affinity[c] for c in categories])[0]
            product = rng.choice(BY_CATEGORY[category])
        category = product.category
        sku = f"{product.sku}-{person.shoe_size}" if product.sized else product.sku
        if sku in seen:
            continue
        seen.append(sku)
        if b2b:  # a beauty salon restocking
            quantity = rng.randrange(3, 13) if category in ("skincare", "makeup") else rng.randrange(1, 4)
        elif category == "socks":
            quantity = rng.choices((1, 2, 3), weights=(60, 28, 12))[0]
        elif category in ("skincare", "makeup"):
            quantity = rng.choices((1, 2), weights=(88, 12))[0]
        else:
            quantity = 1
        lines.append(Line(sku, product.name, category, quantity, product.cents))
    if rng.random() < 0.06 or any(line.category == "shoes" for line in lines) and rng.random() < 0.08:
        product = rng.choice(BY_CATEGORY["low-margin"])
        if product.sku not in seen:
            lines.append(Line(product.sku, product.name, product.category, 1, product.cents))
    return lines


def _status(rng: random.Random, order: Order, last_before_stop: bool) -> str:
    age = (END - order.at).total_seconds() / 86400
    pending = 0.85 if age < 3 else 0.65 if age < 8 else 0.4 if age < 21 else 0.08 if age < 45 else 0.0
    if rng.random() < pending:
        return "pending"
    if last_before_stop and rng.random() < 0.3:  # a bad last experience
        return rng.choice(("cancelled", "refunded"))
    roll = rng.random()
    if roll < 0.05:
        return "cancelled"
    if roll < 0.08 and age > 4:
        return "refunded"
    if roll < 0.10:
        return "partially_paid"
    return "paid"


def make_orders(rng: random.Random, people: list[Person]) -> list[Order]:
    """Every contact's orders, then all of them numbered o000001... by time."""
    everything: list[Order] = []
    for person in people:
        person.behaviour = choose_behaviour(rng, person)
        times = order_times(rng, person)
        for index, moment in enumerate(times):
            channel = person.channel if rng.random() < 0.8 else rng.choices(("web", "app"), weights=(70, 30))[0]
            if person.email_kind == "empty":
                channel = "store"
            at = _when(rng, person, moment, channel)
            if at >= END:
                continue
            country = person.country if rng.random() < 0.97 else rng.choice([c for c in COUNTRIES
                                                                               if c != person.country])
            if channel == "store":
                country = person.country if person.country in ("FR", "BE") else "FR"
            order = Order(contact=person, at=at, channel=channel, country=country)
            order.lines = _basket(rng, person, person.behaviour == "b2b")
            if not order.lines:
                order.lines = [Line("SOC-04", "Chaussettes Bretagne", "socks", 1, 990)]
            cost, free_from = SHIPPING[country]
            order.shipping = 0 if channel == "store" or order.subtotal >= free_from else cost
            order.status = _status(rng, order, person.behaviour == "lapsed" and index == len(times) - 1)
            person.orders.append(order)
            everything.append(order)
        person.orders.sort(key=lambda o: o.at)
    everything.sort(key=lambda o: (o.at, o.contact.id))
    for number, order in enumerate(everything, start=1):
        order.id = f"o{number:06d}"
    return everything


def paid_cents(person: Person) -> int:
    """What the contact spent on paid and partly paid orders."""
    return sum(o.subtotal + o.shipping for o in person.orders if o.status in ("paid", "partially_paid"))


def profile(rng: random.Random, people: list[Person]) -> None:
    """Tags, favourite category and skin type, from what each contact did."""
    spenders = sorted((p for p in people if paid_cents(p) > 0), key=lambda p: (-paid_cents(p), p.id))
    vip = {p.id for p in spenders[: max(1, len(spenders) * 6 // 100)]}
    for person in people:
        if person.id in vip:
            person.tags.append("vip")
        if person.behaviour == "b2b":
            person.tags.append("b2b")
        if person.email_kind == "staff":
            person.tags.append("staff")
        elif person.email_kind == "valid" and rng.random() < 0.006:
            person.tags.append("influencer")
        if person.email_kind == "valid" and rng.random() < 0.01:
            person.tags.append("press" if rng.random() < 0.3 else "wholesale_lead")
        counts: Counter[str] = Counter()
        for order in person.orders:
            for line in order.lines:
                if line.category != "low-margin":
                    counts[line.category] += line.quantity
        if counts and rng.random() < 0.9:
            best = max(counts.values())
            person.favourite_category = next(c for c in CATEGORIES if counts[c] == best)
        elif not counts and rng.random() < 0.3:  # said at sign-up
            person.favourite_category = max(person.affinity, key=lambda c: person.affinity[c])
        likes_skincare = counts["skincare"] > 0 or person.favourite_category == "skincare"
        if rng.random() < (0.75 if likes_skincare else 0.18):
            person.skin_type = rng.choices(SKIN_TYPES, weights=(26, 18, 24, 22, 10))[0]


# ---- events ----

@dataclass(frozen=True, slots=True)
class Campaign:
    name: str
    at: dt.datetime
    kind: str  # newsletter, promo, welcome, birthday, winback, requalification, last_warning
    audience: str = ""  # promotions limited by geography or language: "country=FR", "language=en"


# Seasonal promotions (play 3): each one for its market only (French customers must not get the
# English offer, Mother's Day is the last Sunday of May in France only...).
PROMOTIONS = (
    ("fete-des-meres-2026", (2026, 5, 21, 8), "country=FR"),
    ("soldes-ete-2026", (2026, 6, 24, 8), "language=fr"),
    ("summer-sale-2026", (2026, 6, 25, 8), "language=en"),
    ("black-friday-2026", (2026, 11, 19, 18), ""),
)


def _first_thursday(year: int, month: int) -> dt.date:
    day = dt.date(year, month, 1)
    return day + dt.timedelta(days=(3 - day.weekday()) % 7)


def broadcast_campaigns() -> list[Campaign]:
    """Newsletters (first Thursday of the month, 08:00) and seasonal promotions, in the window."""
    campaigns: list[Campaign] = []
    year, month = EVENTS_FROM.year, EVENTS_FROM.month
    while (year, month) <= (END.year, END.month):
        day = _first_thursday(year, month)
        at = paris(day.year, day.month, day.day, 8)
        campaigns.append(Campaign(f"newsletter-{year}-{month:02d}", at, "newsletter"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    for name, (y, m, d, h), audience in PROMOTIONS:
        campaigns.append(Campaign(name, paris(y, m, d, h), "promo", audience))
    campaigns = [c for c in campaigns if EVENTS_FROM <= c.at < END]
    campaigns.append(Campaign("requalification", paris(2026, 10, 22, 9), "requalification"))
    campaigns.append(Campaign("last_warning", paris(2026, 11, 6, 9), "last_warning"))
    return sorted(campaigns, key=lambda c: c.at)


def personal_campaigns(person: Person) -> list[Campaign]:
    """Welcome series (J0, J+5, J+10), birthday (1st of the month, 08:00), win-back (~1.5 rhythms
    after the last order, at least 90 days), for this contact, in the window."""
    out: list[Campaign] = []
    for offset, name in ((0, "welcome-j0"), (5, "welcome-j5"), (10, "welcome-j10")):
        at = person.created + dt.timedelta(days=offset, minutes=2 if offset == 0 else 0)
        if offset:
            day = local_date(at)
            at = paris(day.year, day.month, day.day, 10)
        out.append(Campaign(name, at, "welcome"))
    if person.birthdate is not None:
        for year in (2025, 2026):
            at = paris(year, person.birthdate.month, 1, 8)
            out.append(Campaign(f"birthday-{year}-{person.birthdate.month:02d}", at, "birthday"))
    paid = [o.at for o in person.orders if o.status in ("paid", "partially_paid")]
    wait = dt.timedelta(days=max(90.0, 1.5 * person.rhythm))
    for index, last in enumerate(paid):
        following = paid[index + 1] if index + 1 < len(paid) else END
        moment = last + wait
        if moment < following:
            day = local_date(moment)
            at = paris(day.year, day.month, day.day, 10)
            out.append(Campaign(f"winback-{day.year}-{day.month:02d}", at, "winback"))
    return [c for c in out if EVENTS_FROM <= c.at < END]


OPEN_FACTOR = {"newsletter": 1.0, "promo": 1.1, "welcome": 1.35, "birthday": 1.3, "winback": 0.9,
               "requalification": 0.8, "last_warning": 0.9}
CLICK_FACTOR = {"newsletter": 1.0, "promo": 1.4, "welcome": 1.3, "birthday": 1.6, "winback": 1.3,
                "requalification": 1.2, "last_warning": 0.6}
UNSUBSCRIBE = {"requalification": 0.04, "last_warning": 0.07}


def traits(rng: random.Random, person: Person) -> None:
    """How much the contact reads our emails, and when it stops."""
    base = {"never": 0.14, "one_timer": 0.24, "occasional": 0.34, "loyal": 0.52, "lapsed": 0.45,
            "newcomer": 0.42, "b2b": 0.3}[person.behaviour]
    person.engagement = min(0.9, base * rng.uniform(0.35, 1.6))
    if person.email_kind == "disposable":
        person.engagement = 0.05
    last = person.orders[-1].at if person.orders else person.created
    if person.behaviour == "lapsed" and person.stopped is not None:
        person.dormant_from = person.stopped + dt.timedelta(days=rng.uniform(0, 90))
    elif person.behaviour in ("never", "one_timer") and rng.random() < 0.55:
        person.dormant_from = last + dt.timedelta(days=rng.uniform(20, 420))
    elif person.behaviour == "occasional" and rng.random() < 0.4:
        person.dormant_from = last + dt.timedelta(days=rng.uniform(90, 500))
    elif person.email_kind == "disposable":
        person.dormant_from = person.created + dt.timedelta(days=rng.uniform(1, 20))


def in_audience(person: Person, campaign: Campaign) -> bool:
    """Whether a promotion's market includes the contact (never an English offer in France)."""
    if not campaign.audience:
        return True
    key, value = campaign.audience.split("=")
    if key == "country":
        return person.country == value
    return person.language == value and not (value == "en" and person.country == "FR")


def _dormant(person: Person, moment: dt.datetime) -> bool:
    return person.dormant_from is not None and moment >= person.dormant_from


def _pages(rng: random.Random, person: Person, start: dt.datetime, count: int, channel: str,
           campaign: str = "") -> list[Event]:
    events, moment = [], start
    for _ in range(count):
        if moment >= END:
            break
        events.append(Event(person, "page_viewed", moment, channel, campaign))
        moment += dt.timedelta(seconds=rng.randrange(15, 240))
    return events


def _open_delay(rng: random.Random) -> dt.timedelta:
    roll = rng.random()
    if roll < 0.5:
        return dt.timedelta(minutes=rng.expovariate(1 / 70) + 1)
    if roll < 0.85:
        return dt.timedelta(hours=rng.uniform(3, 14))
    return dt.timedelta(hours=rng.uniform(14, 96))


def email_events(rng: random.Random, person: Person, broadcasts: list[Campaign]) -> list[Event]:
    """Sends to reachable contacts; opens after sends, clicks after opens, visits after clicks."""
    if not person.email or not person.consent_email:
        return []
    events: list[Event] = []
    opened: list[dt.datetime] = []
    got_requalification_unopened = False
    campaigns = sorted(broadcasts + personal_campaigns(person), key=lambda c: (c.at, c.name))
    web = "app" if person.channel == "app" else "web"
    for campaign in campaigns:
        if campaign.at <= person.created or person.unsubscribed is not None or not in_audience(person, campaign):
            continue
        ordered_before = [o.at for o in person.orders if o.at < campaign.at]
        if campaign.kind == "welcome" and campaign.name != "welcome-j0" and ordered_before:
            continue  # the welcome series stops at the first order
        if campaign.kind == "requalification":
            # CRM clean-up (play 1): emailed for 3 months, opened nothing, ordered nothing.
            since = campaign.at - dt.timedelta(days=92)
            if (person.created >= since or any(t >= since for t in opened)
                    or any(t >= since for t in ordered_before)):
                continue
        if campaign.kind == "last_warning" and not got_requalification_unopened:
            continue
        events.append(Event(person, "email_sent", campaign.at, "email", campaign.name))
        chance = 0.0 if person.email_kind == "typo" else person.engagement * OPEN_FACTOR[campaign.kind]
        if _dormant(person, campaign.at):  # the strong offer and the deletion warning wake a few up
            chance = 0.12 if campaign.kind in ("requalification", "last_warning") else 0.02 * OPEN_FACTOR[campaign.kind]
        did_open = rng.random() < min(0.95, chance)
        if campaign.kind == "requalification":
            got_requalification_unopened = not did_open
        if not did_open:
            if _dormant(person, campaign.at) and person.email_kind != "typo" and rng.random() < 0.0015:
                person.unsubscribed = campaign.at + _open_delay(rng)  # the list-unsubscribe button
                if person.unsubscribed < END:
                    events.append(Event(person, "unsubscribed", person.unsubscribed, "email", campaign.name))
                else:
                    person.unsubscribed = None
            continue
        open_at = campaign.at + _open_delay(rng)
        if open_at >= END:
            continue
        opened.append(open_at)
        events.append(Event(person, "email_opened", open_at, "email", campaign.name))
        if rng.random() < UNSUBSCRIBE.get(campaign.kind, 0.006):
            person.unsubscribed = open_at + dt.timedelta(seconds=rng.randrange(5, 90))
            if person.unsubscribed < END:
                events.append(Event(person, "unsubscribed", person.unsubscribed, "email", campaign.name))
            else:
                person.unsubscribed = None
            continue
        if rng.random() < min(0.6, (0.1 + 0.22 * person.engagement) * CLICK_FACTOR[campaign.kind]):
            click_at = open_at + dt.timedelta(seconds=rng.randrange(4, 300))
            if click_at >= END:
                continue
            events.append(Event(person, "email_clicked", click_at, "email", campaign.name))
            events.extend(_pages(rng, person, click_at + dt.timedelta(seconds=rng.randrange(1, 6)),
                                 rng.choices((1, 2, 3, 4), weights=(40, 30, 20, 10))[0], web, campaign.name))
    return events


def browsing_events(rng: random.Random, person: Person) -> list[Event]:
    """Visits before web and app orders, and visits without an order while the contact is interested."""
    events: list[Event] = []
    for order in person.orders:
        if order.channel == "store" or order.at < EVENTS_FROM:
            continue
        count = rng.choices((1, 2, 3, 4, 5), weights=(20, 30, 25, 15, 10))[0]
        start = order.at - dt.timedelta(minutes=rng.uniform(3, 35))
        start = max(start, person.created + dt.timedelta(seconds=30))
        events.extend(e for e in _pages(rng, person, start, count, order.channel) if e.at < order.at)
    rate = {"never": 0.12, "one_timer": 0.2, "occasional": 0.35, "loyal": 0.6, "lapsed": 0.4, "newcomer": 0.7,
            "b2b": 0.3}[person.behaviour] * (0.2 + 0.45 * person.engagement)  # visits per 30 days
    end = min(END, person.dormant_from or END)
    moment = max(EVENTS_FROM, person.created)
    channel = "app" if person.channel == "app" else "web"
    while True:
        moment += dt.timedelta(days=rng.expovariate(rate / 30))
        if moment >= end:
            break
        day = local_date(moment)
        start = at_local_time(rng, day, HOURS_WEB)
        if start <= person.created or start >= end:
            continue
        events.extend(_pages(rng, person, start, rng.choices((1, 2, 3, 4), weights=(45, 30, 15, 10))[0], channel))
    return events


TYPE_RANK = {t: i for i, t in enumerate(EVENT_TYPES)}


def make_events(rng: random.Random, people: list[Person]) -> list[Event]:
    """All events since EVENTS_FROM, numbered e00001... by time."""
    broadcasts = broadcast_campaigns()
    everything: list[Event] = []
    for person in people:
        traits(rng, person)
        everything.extend(email_events(rng, person, broadcasts))
        everything.extend(browsing_events(rng, person))
        if person.unsubscribed is not None:
            person.consent_email = False
    everything = [e for e in everything if EVENTS_FROM <= e.at < END]
    everything.sort(key=lambda e: (e.at, e.contact.id, TYPE_RANK[e.type], e.campaign))
    for number, event in enumerate(everything, start=1):
        event.id = f"e{number:05d}"
    return everything


# ---- rendering ----

def money(cents: int) -> str:
    """`5490` -> `"54.90"`."""
    return f"{cents // 100}.{cents % 100:02d}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def render_contacts(people: Iterable[Person]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CONTACT_COLUMNS)
    for p in people:
        writer.writerow((p.id, p.email, p.first_name, p.last_name, p.country, p.language,
                         p.birthdate.isoformat() if p.birthdate else "", iso(p.created), _bool(p.consent_email),
                         _bool(p.consent_sms), _bool(p.consent_push), "|".join(p.tags), p.favourite_category,
                         p.skin_type))
    return buffer.getvalue()


def render_orders(orders: Iterable[Order]) -> str:
    lines = []
    for o in orders:
        record = {"id": o.id, "contact_id": o.contact.id, "created_at": iso(o.at), "status": o.status,
                  "currency": "EUR", "total": money(o.subtotal + o.shipping), "shipping": money(o.shipping),
                  "channel": o.channel, "country": o.country,
                  "items": [{"sku": i.sku, "product": i.product, "category": i.category, "quantity": i.quantity,
                             "unit_price": money(i.cents)} for i in o.lines]}
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n"


def render_events(events: Iterable[Event]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EVENT_COLUMNS)
    for e in events:
        writer.writerow((e.id, e.contact.id, e.type, iso(e.at), e.channel, e.campaign))
    return buffer.getvalue()


# ---- checking what is about to be written ----

class InvalidSample(Exception):
    """A generated row does not validate: the generator is wrong, nothing is written."""


def contact_record(row: dict[str, str]) -> dict[str, object]:
    """A contacts.csv row as relance reads it: blanks are null, `consent_*` become `consents`,
    tags split on `|`, other columns (favourite_category, skin_type) are custom attributes."""
    data: dict[str, object] = {k: (v if v != "" else None) for k, v in row.items()}
    consents = {}
    for channel in ("email", "sms", "push"):
        value = data.pop(f"consent_{channel}")
        if value not in ("true", "false"):
            raise ValueError(f"consent_{channel} must be true or false, not {value!r}")
        consents[channel] = value == "true"
    data["consents"] = consents
    tags = data.pop("tags")
    data["tags"] = [t for t in str(tags).split("|") if t] if tags else []
    return data


def check(contacts_text: str, orders_text: str, events_text: str) -> None:
    """Parse back the three files' text and validate every row with relance's models and the shop's
    invariants; raise `InvalidSample` listing the first problems."""
    sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing relance
    from pydantic import ValidationError

    from relance.engine.data.models import Contact
    from relance.engine.data.models import Event as EventModel
    from relance.engine.data.models import Order as OrderModel

    problems: list[str] = []

    def bad(where: str, reason: object) -> None:
        if isinstance(reason, ValidationError):
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in reason.errors())
        problems.append(f"{where}: {reason}")

    created: dict[str, dt.datetime] = {}
    emails: list[str] = []
    reader = csv.DictReader(io.StringIO(contacts_text))
    if tuple(reader.fieldnames or ()) != CONTACT_COLUMNS:
        bad("contacts.csv:1", f"header {reader.fieldnames}")
    for row in reader:
        where = f"contacts.csv:{reader.line_num}"
        try:
            contact = Contact.model_validate(contact_record(row))
        except (ValidationError, ValueError) as error:
            bad(where, error)
            continue
        if contact.id in created:
            bad(where, f"duplicate id {contact.id}")
        created[contact.id] = contact.created_at
        if not START <= contact.created_at < END:
            bad(where, f"created_at {row['created_at']} outside 2023-01-01..2026-11-20")
        for name in ("favourite_category", "skin_type"):
            if contact.attributes.get(name) != (row[name] or None):
                bad(where, f"{name} did not become a custom attribute")
        if row["favourite_category"] not in ("", *CATEGORIES):
            bad(where, f"favourite_category {row['favourite_category']!r}")
        if row["skin_type"] not in ("", *SKIN_TYPES):
            bad(where, f"skin_type {row['skin_type']!r}")
        if contact.email:
            emails.append(contact.email.lower())
            if contact.email.count("@") != 1:
                bad(where, f"email {contact.email!r}")
        if contact.birthdate and not contact.birthdate < contact.created_at.date():
            bad(where, "born after signing up")
    if len(set(emails)) != len(emails):
        bad("contacts.csv", "duplicate email addresses")

    last_order: dt.datetime | None = None
    for number, line in enumerate(orders_text.splitlines(), start=1):
        where = f"orders.jsonl:{number}"
        try:
            raw = json.loads(line)
            order = OrderModel.model_validate(raw)
        except (ValidationError, ValueError) as error:
            bad(where, error)
            continue
        if list(raw) != ["id", "contact_id", "created_at", "status", "currency", "total", "shipping", "channel",
                         "country", "items"]:
            bad(where, f"keys {list(raw)}")
        for key in ("total", "shipping"):
            if not isinstance(raw[key], str) or len(raw[key].split(".")[-1]) != 2 or "." not in raw[key]:
                bad(where, f"{key} {raw[key]!r} is not a string with two decimals")
        for item in raw["items"]:
            if not isinstance(item["unit_price"], str) or len(item["unit_price"].split(".")[-1]) != 2:
                bad(where, f"unit_price {item['unit_price']!r} is not a string with two decimals")
            if item["category"] not in CATEGORIES or not isinstance(item["quantity"], int) or item["quantity"] < 1:
                bad(where, f"item {item}")
        items = sum((i.total.amount for i in order.items), Decimal(0))  # type: ignore[union-attr]
        if order.total.amount != items + order.shipping.amount:  # type: ignore[union-attr]
            bad(where, f"total {order.total} is not the items ({items}) plus shipping ({order.shipping})")
        if not order.items:
            bad(where, "an order without items")
        if order.status not in ORDER_STATUSES or order.channel not in ("web", "app", "store"):
            bad(where, f"status {order.status!r} or channel {order.channel!r}")
        if order.contact_id not in created:
            bad(where, f"unknown contact {order.contact_id}")
        elif not created[order.contact_id] < order.created_at < END:
            bad(where, "ordered before signing up or after 2026-11-20")
        if last_order is not None and order.created_at < last_order:
            bad(where, "orders are not in time order")
        last_order = order.created_at

    reader = csv.DictReader(io.StringIO(events_text))
    if tuple(reader.fieldnames or ()) != EVENT_COLUMNS:
        bad("events.csv:1", f"header {reader.fieldnames}")
    sent: set[tuple[str | None, str | None]] = set()
    opened: set[tuple[str | None, str | None]] = set()
    for row in reader:
        where = f"events.csv:{reader.line_num}"
        try:
            event = EventModel.model_validate({k: (v if v != "" else None) for k, v in row.items()})
        except ValidationError as error:
            bad(where, error)
            continue
        key = (event.contact_id, event.campaign)
        if event.type not in EVENT_TYPES:
            bad(where, f"type {event.type!r}")
        if event.contact_id not in created:
            bad(where, f"unknown contact {event.contact_id}")
        elif not created[event.contact_id] < event.at < END:
            bad(where, "an event before signing up or after 2026-11-20")
        if event.type == "email_sent":
            sent.add(key)
        elif event.type == "email_opened" and key not in sent:
            bad(where, "opened before being sent")
        elif event.type == "unsubscribed" and key not in sent:
            bad(where, "unsubscribed from an email never sent")
        if event.type == "email_opened":
            opened.add(key)
        elif event.type == "email_clicked" and key not in opened:
            bad(where, "clicked before opening")
    if problems:
        shown = "\n  ".join(problems[:20])
        raise InvalidSample(f"{len(problems)} invalid row(s), nothing written:\n  {shown}")


# ---- statistics ----

def statistics(people: list[Person], orders: list[Order], events: list[Event]) -> list[str]:
    """The counts printed after a run (and quoted in the README)."""
    def counts(counter: Counter[str], order: Sequence[str] | None = None) -> str:
        keys = order if order is not None else sorted(counter)
        return ", ".join(f"{k} {counter[k]}" for k in keys if counter[k])

    out = [f"contacts: {len(people)}"]
    out.append("  email: " + counts(Counter(p.email_kind for p in people),
                                    ("valid", "staff", "disposable", "typo", "empty")))
    out.append("  country: " + counts(Counter(p.country for p in people), COUNTRIES))
    out.append("  language: " + counts(Counter(p.language for p in people)))
    out.append(f"  birthdate empty: {sum(p.birthdate is None for p in people)}")
    out.append(f"  consent: email {sum(p.consent_email for p in people)}, sms {sum(p.consent_sms for p in people)},"
               f" push {sum(p.consent_push for p in people)}")
    out.append("  tags: " + counts(Counter(t for p in people for t in p.tags))
               + f" (contacts with tags: {sum(bool(p.tags) for p in people)})")
    out.append("  favourite_category: " + counts(Counter(p.favourite_category or "(empty)" for p in people)))
    out.append("  skin_type: " + counts(Counter(p.skin_type or "(empty)" for p in people)))
    out.append("  behaviour (hidden): " + counts(Counter(p.behaviour for p in people), BEHAVIOURS))
    buyers = [p for p in people if p.orders]
    per = Counter(min(len(p.orders), 10) for p in buyers)
    out.append(f"  buyers: {len(buyers)}, never ordered: {len(people) - len(buyers)};"
               f" orders per buyer: " + ", ".join(f"{k if k < 10 else '10+'}: {per[k]}" for k in sorted(per)))
    out.append(f"orders: {len(orders)}")
    out.append("  status: " + counts(Counter(o.status for o in orders), ORDER_STATUSES))
    out.append("  channel: " + counts(Counter(o.channel for o in orders), ("web", "app", "store")))
    out.append("  country: " + counts(Counter(o.country for o in orders), COUNTRIES))
    out.append("  by year: " + counts(Counter(str(local_date(o.at).year) for o in orders)))
    out.append(f"  items: {sum(len(o.lines) for o in orders)} lines, "
               + counts(Counter(i.category for o in orders for i in o.lines), CATEGORIES))
    eligible = [o for o in orders if o.status in ("paid", "partially_paid")]
    value = sum(o.subtotal + o.shipping for o in eligible)
    out.append(f"  paid or partly paid: {len(eligible)} orders, {money(value)} EUR,"
               f" average basket {money(value // max(1, len(eligible)))} EUR")
    out.append(f"events: {len(events)} (from {iso(EVENTS_FROM)[:10]})")
    out.append("  type: " + counts(Counter(e.type for e in events), EVENT_TYPES))
    out.append(f"  campaigns: {len({e.campaign for e in events if e.type == 'email_sent'})}, "
               f"unsubscribed contacts: {sum(p.unsubscribed is not None for p in people)}")
    return out


def generate(out: Path) -> list[str]:
    """Generate, check, write; return the statistics and the files' sizes and sha256."""
    rng = random.Random(SEED)
    people = make_people(rng)
    orders = make_orders(rng, people)
    profile(rng, people)
    events = make_events(rng, people)
    texts = {"contacts.csv": render_contacts(people), "orders.jsonl": render_orders(orders),
             "events.csv": render_events(events)}
    check(texts["contacts.csv"], texts["orders.jsonl"], texts["events.csv"])
    out.mkdir(parents=True, exist_ok=True)
    lines = statistics(people, orders, events)
    total = 0
    for name, text in texts.items():
        data = text.encode("utf-8")
        (out / name).write_bytes(data)
        total += len(data)
        lines.append(f"{name}: {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    lines.append(f"total: {total:,} bytes")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: samples/shop)")
    args = parser.parse_args(argv)
    try:
        lines = generate(args.out)
    except InvalidSample as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
