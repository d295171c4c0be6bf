"""The paraphrase families of the NL renderer: clause templates, value formats, typos and discourse
prefixes (``docs/papers/ttg.md``, "Data"; issue #19, item 2).

[recon] The paper's NL requests are not retrievable (most likely an instruction LLM prompted with the
symbolic request). Every family here is either *in-template* (training and the in-template test split)
or *held-out* (``held=True``: only the held-out-template test split). The held-out families were written
apart from the training ones, as a second author would phrase the same clause: other sentence frames,
other value formats ("Jun 5", "USD 1,500", amounts in words with "and", "at least two and at most four
nights"), other typos and prefixes. They share only ordinary English words (from, nights, hotel, flights)
with training, so held-out means unseen phrasing, not just unseen values.
:mod:`papersuite.ttg.parser` reads every family back exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CLAUSES",
    "CURRENCIES",
    "DATE_FORMATS",
    "ITEM_FORMATS",
    "MONEY_FORMATS",
    "MONTH_NAMES",
    "NUMBER_WORDS",
    "ORDER_SUFFIXES",
    "PREFIXES",
    "RANGE_FORMATS",
    "TYPOS",
    "WEEKDAYS",
    "Template",
    "amount_words",
    "ordinal",
]

MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


@dataclass(frozen=True)
class Template:
    text: str
    held: bool = False  # held-out: only in the held-out-template split


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _below_thousand(n: int, use_and: bool) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [NUMBER_WORDS[n // 100], "hundred"]
        n %= 100
        if n and use_and:
            words.append("and")
    if n >= 20:
        words.append(TENS[n // 10] + (f"-{NUMBER_WORDS[n % 10]}" if n % 10 else ""))
    elif n >= 10:
        words.append(TEENS[n - 10])
    elif n:
        words.append(NUMBER_WORDS[n])
    return words


def amount_words(n: int, use_and: bool = False) -> str:
    """An amount in English words: 1550 -> "one thousand five hundred fifty" ("... and fifty" with
    ``use_and``); 1 <= n < 1,000,000."""
    if not 0 < n < 1_000_000:
        raise ValueError(f"amount out of range for words: {n}")
    high, low = divmod(n, 1000)
    words = (_below_thousand(high, use_and) + ["thousand"]) if high else []
    if high and low and low < 100 and use_and:
        words.append("and")
    return " ".join(words + _below_thousand(low, use_and))


# ---------------------------------------------------------------- value formats: name -> (render, held)

DATE_FORMATS: dict[str, tuple[Callable[[dt.date], str], bool]] = {
    "month_day": (lambda d: f"{MONTH_NAMES[d.month - 1]} {d.day}", False),
    "day_month": (lambda d: f"{d.day} {MONTH_NAMES[d.month - 1]}", False),
    "month_ordinal": (lambda d: f"{MONTH_NAMES[d.month - 1]} {ordinal(d.day)}", False),
    "the_ordinal_of": (lambda d: f"the {ordinal(d.day)} of {MONTH_NAMES[d.month - 1]}", False),
    "slash": (lambda d: f"{d.month}/{d.day}", False),
    "weekday": (lambda d: f"{WEEKDAYS[d.weekday()]} {MONTH_NAMES[d.month - 1]} {d.day}", False),
    "abbrev": (lambda d: f"{MONTH_NAMES[d.month - 1][:3]} {d.day}", True),
    "ordinal_month": (lambda d: f"{ordinal(d.day)} {MONTH_NAMES[d.month - 1]}", True),
    "month_the_ordinal": (lambda d: f"{MONTH_NAMES[d.month - 1]} the {ordinal(d.day)}", True),
    "weekday_the": (lambda d: f"{WEEKDAYS[d.weekday()]} the {ordinal(d.day)} of {MONTH_NAMES[d.month - 1]}", True),
}

# Currencies: the world prices in whole units of one money (docs/papers/ttg.md, "Data"); a request may
# name it as any of these. (symbol before, word after) per currency; the parser knows them all.
CURRENCIES = {"dollar": ("$", "dollars"), "euro": ("€", "euros"), "pound": ("£", "pounds")}

MONEY_FORMATS: dict[str, tuple[Callable[[int], str], bool]] = {
    "dollar_sign": (lambda n: f"${n:,}", False),
    "dollars": (lambda n: f"{n} dollars", False),
    "usd_after": (lambda n: f"{n:,} USD", False),
    "euro_sign": (lambda n: f"€{n}", False),
    "euros": (lambda n: f"{n:,} euros", False),
    "pound_sign": (lambda n: f"£{n:,}", False),
    "pounds": (lambda n: f"{n} pounds", False),
    "words_euros": (lambda n: f"{amount_words(n)} euros", False),
    "words_dollars": (lambda n: f"{amount_words(n)} dollars", False),
    "bucks": (lambda n: f"{n} bucks", True),
    "usd_before": (lambda n: f"USD {n:,}", True),
    "eur_before": (lambda n: f"EUR {n}", True),
    "euro_after": (lambda n: f"{n}€", True),
    "words_and_pounds": (lambda n: f"{amount_words(n, use_and=True)} pounds", True),
}

# night ranges: template, "range" or "exact", held. Slots: {a} {b} a count as digit or word, {da} {db}
# digits, {x} the nights of an exact stay ("a night", "one night", "3 nights", "three nights").
RANGE_FORMATS: dict[str, tuple[str, str, bool]] = {
    "dash": ("{da}-{db} nights", "range", False),
    "to": ("{a} to {b} nights", "range", False),
    "between": ("between {a} and {b} nights", "range", False),
    "or": ("{a} or {b} nights", "range", False),
    "min_max": ("min {a} max {b} nights", "range", False),
    "exact": ("{x}", "exact", False),
    "exactly": ("exactly {x}", "exact", False),
    "just": ("just {x}", "exact", False),
    "at_least_most": ("at least {a} and at most {b} nights", "range", True),
    "up_to": ("{a} up to {b} nights", "range", True),
    "anywhere": ("anywhere from {a} to {b} nights", "range", True),
    "precisely": ("precisely {x}", "exact", True),
    "a_stay": ("a stay of {x}", "exact", True),
}

ITEM_FORMATS: dict[str, tuple[str, bool]] = {
    "city_for": ("{city} for {range}", False),
    "range_in": ("{range} in {city}", False),
    "range_at": ("{range} at {city}", False),
    "city_paren": ("{city} ({range})", True),
    "city_colon": ("{city}: {range}", True),
}

ORDER_SUFFIXES: dict[str, list[Template]] = {
    "listed": [
        Template(" in that order"),
        Template(", in this order"),
        Template(" in the order given"),
        Template(", in this exact order"),
        Template(" in exactly this sequence", True),
        Template(", keeping this sequence", True),
    ],
    "any": [
        Template(""),
        Template(" in any order"),
        Template(", any order is fine"),
        Template(" in whatever order", True),
        Template(", the sequence does not matter", True),
    ],
}

# clause -> templates; slots: {origin} {e} {l} {dests} {order} {n} {money} {s} {bucket}
CLAUSES: dict[str, list[Template]] = {
    "origin": [
        Template("I am flying out of {origin}"),
        Template("My trip starts from {origin}"),
        Template("I live in {origin}"),
        Template("Home base is {origin}"),
        Template("I'm based in {origin}"),
        Template("We live in {origin}"),
        Template("Our journey begins in {origin}"),
        Template("The holiday starts and ends in {origin}"),
        Template("Flying from {origin}"),
        Template("Leaving from {origin}"),
        Template("Home is {origin}"),
        Template("{origin} is where we start"),
        Template("Departing from {origin}", True),
        Template("I'll be leaving from {origin}", True),
        Template("Our home airport is {origin}", True),
        Template("Setting off from {origin}", True),
        Template("The route should begin and end at {origin}", True),
    ],
    "origin_dests": [
        Template("From {origin} to {dests}{order}"),
        Template("I want to fly from {origin} to {dests}{order}"),
        Template("A trip from {origin} to {dests}{order}"),
        Template("We travel from {origin} to {dests}{order}"),
        Template("Starting in {origin}, I'd like to go to {dests}{order}", True),
        Template("Get me out of {origin} and over to {dests}{order}", True),
    ],
    "window": [
        Template("Leave no earlier than {e} and be back by {l}"),
        Template("The trip must fit between {e} and {l}"),
        Template("I can travel from {e} to {l}"),
        Template("Dates are {e} until {l}"),
        Template("We can go any time between {e} and {l}"),
        Template("Earliest departure {e}, latest return {l}"),
        Template("Leaving after {e} and home by {l}"),
        Template("The journey has to happen between {e} and {l}"),
        Template("Travel dates: {e} to {l}"),
        Template("Back home no later than {l}, leaving on or after {e}"),
        Template("I must be home by {l} and cannot leave before {e}"),
        Template("Free from {e} until {l}"),
        Template("Available {e} through {l}", True),
        Template("Out on or after {e} and home on or before {l}", True),
        Template("My window runs from {e} to {l}", True),
        Template("Return by {l} at the latest, departure from {e} onwards", True),
        Template("I have time off between {e} and {l}", True),
        Template("Not before {e}, not after {l}", True),
    ],
    "window_e": [
        Template("I can leave from {e}"),
        Template("Departure on or after {e}"),
        Template("Earliest departure is {e}"),
        Template("The first flight can go on {e} or later", True),
        Template("Nothing leaves before {e}", True),
    ],
    "window_l": [
        Template("I must be back by {l}"),
        Template("Return no later than {l}"),
        Template("Latest return is {l}"),
        Template("Home again by {l}", True),
        Template("The last flight lands by {l}", True),
    ],
    "destinations": [
        Template("I want to visit {dests}{order}"),
        Template("Stops are {dests}{order}"),
        Template("Please plan {dests}{order}"),
        Template("I'd love to go to {dests}{order}"),
        Template("Plan a trip to {dests}{order}"),
        Template("Take me to {dests}{order}"),
        Template("The holiday should include {dests}{order}"),
        Template("My journey: {dests}{order}"),
        Template("Destinations are {dests}{order}"),
        Template("We would like to travel to {dests}{order}"),
        Template("I'd like to see {dests}{order}", True),
        Template("The itinerary should cover {dests}{order}", True),
        Template("Thinking of {dests}{order}", True),
        Template("Put together a route through {dests}{order}", True),
        Template("Book me a tour of {dests}{order}", True),
    ],
    "travelers_many": [
        Template("We are {n} people"),
        Template("Book for {n} travelers"),
        Template("There are {n} of us"),
        Template("{n} of us are going"),
        Template("We are a group of {n}"),
        Template("A family of {n}"),
        Template("{n} adults"),
        Template("Party of {n}", True),
        Template("Tickets for {n} adults", True),
        Template("Count us as {n} passengers", True),
        Template("We'll be {n} in total", True),
    ],
    "travelers_two": [
        Template("My partner and I are going"),
        Template("We are a couple"),
        Template("Me and my wife"),
        Template("Just the two of us", True),
        Template("My husband is coming with me", True),
    ],
    "travelers_one": [
        Template("Just me"),
        Template("I am traveling alone"),
        Template("Solo trip"),
        Template("I'm going on my own"),
        Template("Only one traveler", True),
        Template("Travelling by myself", True),
    ],
    "budget": [
        Template("My budget is {money}"),
        Template("Keep the total under {money}"),
        Template("I can spend up to {money}"),
        Template("Total budget {money}"),
        Template("No more than {money} in total"),
        Template("The whole holiday should cost at most {money}"),
        Template("Max budget: {money}"),
        Template("The whole trip can't cost more than {money}", True),
        Template("Spending cap {money}", True),
        Template("I have {money} to spend", True),
        Template("Everything together must stay below {money}", True),
    ],
    "stars": [
        Template("Hotels need at least {s} stars"),
        Template("{s}-star hotels or better"),
        Template("Minimum {s} stars for hotels"),
        Template("At least {s} stars"),
        Template("{s} star hotels minimum"),
        Template("Hotels rated {s} stars or higher"),
        Template("No hotel below {s} stars", True),
        Template("Accommodation rated {s} stars or more", True),
        Template("Only stay somewhere with {s}+ stars", True),
    ],
    "hotel_cap": [
        Template("No more than {money} a night for hotels"),
        Template("Hotel rooms under {money} per night"),
        Template("Hotels up to {money} per night"),
        Template("Max {money} a night for the hotel"),
        Template("Rooms should cost less than {money} a night"),
        Template("Cap the hotel at {money} nightly", True),
        Template("Nightly hotel rate no higher than {money}", True),
        Template("Accommodation under {money} each night", True),
    ],
    "nonstop": [
        Template("Nonstop flights only"),
        Template("No layovers please"),
        Template("Direct flights only"),
        Template("Direct flights please"),
        Template("No connections"),
        Template("I only take nonstop flights"),
        Template("No stopovers"),
        Template("Only flights without stops", True),
        Template("I refuse connecting flights", True),
        Template("Every flight must be direct", True),
        Template("Avoid layovers", True),
    ],
    "depart_time": [
        Template("All flights should leave in the {bucket}"),
        Template("I only fly in the {bucket}"),
        Template("{bucket} departures only"),
        Template("Flights in the {bucket} please"),
        Template("Prefer {bucket} flights"),
        Template("Departures in the {bucket}"),
        Template("I'd rather take off in the {bucket}", True),
        Template("Flights must depart in the {bucket}", True),
        Template("Schedule every flight for the {bucket}", True),
    ],
    "filler": [
        Template("Hi"),
        Template("Please help me plan a trip"),
        Template("Thanks"),
        Template("Hello"),
        Template("Thank you"),
        Template("I need a holiday"),
        Template("Can you help me with a journey"),
        Template("Cheers", True),
        Template("Looking forward to it", True),
        Template("Many thanks in advance", True),
        Template("Hey there", True),
    ],
}

# Discourse prefixes a sentence may start with ("Also, I live in Paris."): (text, held).
PREFIXES: tuple[tuple[str, bool], ...] = (("Also, ", False), ("And ", False), ("Oh, and ", False))
PREFIXES += (("Plus, ", True), ("By the way, ", True))

# Light typos: word -> misspellings, in-template and held-out. No misspelling is a word of any template,
# a city or a value, so the parser maps each back to its word and still reads the text exactly.
TYPOS: dict[bool, dict[str, tuple[str, ...]]] = {
    False: {
        "please": ("pls", "plz"),
        "flights": ("flihgts",),
        "hotels": ("hotles",),
        "nights": ("nigths",),
        "travel": ("travle",),
        "between": ("betwen",),
        "budget": ("budjet",),
        "want": ("wnat",),
        "visit": ("vist",),
        "people": ("poeple",),
    },
    True: {
        "flights": ("fligths",),
        "hotel": ("hotell",),
        "nights": ("nihgts",),
        "leave": ("leaev",),
        "spend": ("spned",),
        "stars": ("starz",),
    },
}
