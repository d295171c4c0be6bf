"""Hand-built worlds and requests for the TTG known-answer tests."""

from __future__ import annotations

import pandas as pd

from papersuite.ttg.schema import DEFAULTS
from papersuite.ttg.world import Tables

BASE = "2025-06-01"
# The seeded world of the conftest fixtures (small_world, tables).
SMALL_WORLD = {"n_cities": 8, "n_days": 40, "flights_per_route_day": 1.5, "hotels_per_city": [2, 5]}


def hand_tables(flights: list[tuple], hotels: list[tuple], cities=("Home", "Alpha", "Beta")) -> Tables:
    """flights: (origin, dest, day, price[, stops, bucket]); hotels: (city, stars, price)."""
    rows = []
    for i, f in enumerate(flights):
        origin, dest, day, price, *rest = f
        stops = rest[0] if len(rest) > 0 else 0
        bucket = rest[1] if len(rest) > 1 else "morning"
        hour = {"morning": 8, "afternoon": 14, "evening": 19}[bucket]
        rows.append(
            {
                "id": f"F{i:07d}",
                "origin": origin,
                "dest": dest,
                "day": day,
                "date": (pd.Timestamp(BASE) + pd.Timedelta(days=day)).date().isoformat(),
                "price": price,
                "stops": stops,
                "airline": "Aerion",
                "depart_hour": hour,
                "duration_h": 2.0,
                "bucket": bucket,
            }
        )
    flights_df = pd.DataFrame(rows)
    hotels_df = pd.DataFrame(
        [{"id": f"H{i:05d}", "city": c, "stars": s, "price": p} for i, (c, s, p) in enumerate(hotels)]
    )
    cities_df = pd.DataFrame({"name": list(cities), "lat": 0.0, "lon": 0.0, "cost_index": 1.0, "hub": False})
    return Tables(cities_df, flights_df, hotels_df, BASE)


def request(**fields) -> dict:
    base = {
        "origin": "Home",
        "earliest_departure": "2025-06-01",
        "latest_return": "2025-06-08",
        "destinations": [{"city": "Alpha", "min_nights": 2, "max_nights": 3}],
        **DEFAULTS,
    }
    base.update(fields)
    return base
