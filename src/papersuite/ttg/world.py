"""The synthetic travel world: cities, flights per route and day, hotels (paper: abstract, the
Travel Generator; [recon]).

The paper's generator draws flight and hotel tables "based on the statistics of real-world
datasets" that are not named anywhere we could read. This is our generator (``docs/papers/ttg.md``,
"Data"):

- cities: hand-listed real cities with their coordinates, a cost-of-living index (rough public
  figures, London = 1.3) and a hub flag;
- flights per ordered city pair and day: Poisson(λ) options; price = (base + rate · great-circle
  km) × day-of-week factor × lognormal(0, σ) (× a one-stop discount); duration ∝ distance;
  P(nonstop) = exp(−km / scale), halved unless one end is a hub; departure hour uniform 6–22 h;
- hotels per city: U{min, max} hotels, stars from a categorical centred on 3, price per room and
  night = base × city index × star multiplier × lognormal(0, σ).

Prices are whole currency units, so every cost in this package is an exact integer sum.
Days are integers counted from ``base_date`` (day 0); a request's dates map onto them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from papersuite.core import io

__all__ = [
    "AIRLINES",
    "BUCKETS",
    "CITIES",
    "Tables",
    "WORLD_DEFAULTS",
    "bucket_of_hour",
    "generate_world",
    "great_circle_km",
    "load_tables",
    "write_world",
]

# name, latitude, longitude, cost-of-living index, hub. The tiny world takes the first n_cities.
CITIES: tuple[tuple[str, float, float, float, bool], ...] = (
    ("London", 51.51, -0.13, 1.30, True),
    ("Paris", 48.86, 2.35, 1.25, True),
    ("Rome", 41.90, 12.50, 1.05, True),
    ("Madrid", 40.42, -3.70, 1.00, True),
    ("Berlin", 52.52, 13.40, 1.05, False),
    ("Amsterdam", 52.37, 4.90, 1.20, True),
    ("Vienna", 48.21, 16.37, 1.05, False),
    ("Prague", 50.08, 14.44, 0.80, False),
    ("Lisbon", 38.72, -9.14, 0.90, False),
    ("Barcelona", 41.39, 2.17, 1.00, False),
    ("Dublin", 53.35, -6.26, 1.20, False),
    ("Athens", 37.98, 23.73, 0.85, False),
    ("Istanbul", 41.01, 28.98, 0.70, True),
    ("Budapest", 47.50, 19.04, 0.75, False),
    ("Copenhagen", 55.68, 12.57, 1.35, False),
    ("Stockholm", 59.33, 18.07, 1.25, False),
    ("Zurich", 47.37, 8.54, 1.60, False),
    ("Munich", 48.14, 11.58, 1.15, True),
    ("Warsaw", 52.23, 21.01, 0.75, False),
    ("Oslo", 59.91, 10.75, 1.40, False),
    ("Milan", 45.46, 9.19, 1.10, False),
    ("Brussels", 50.85, 4.35, 1.10, False),
    ("Helsinki", 60.17, 24.94, 1.20, False),
    ("Edinburgh", 55.95, -3.19, 1.10, False),
    ("Dubai", 25.20, 55.27, 1.20, True),
    ("Cairo", 30.04, 31.24, 0.50, False),
    ("Marrakesh", 31.63, -7.99, 0.55, False),
    ("Nairobi", -1.29, 36.82, 0.60, False),
    ("Tokyo", 35.68, 139.69, 1.30, True),
    ("Seoul", 37.57, 126.98, 1.10, False),
    ("Bangkok", 13.76, 100.50, 0.60, True),
    ("Singapore", 1.35, 103.82, 1.35, True),
    ("Sydney", -33.87, 151.21, 1.30, False),
    ("Toronto", 43.65, -79.38, 1.15, False),
    ("Chicago", 41.88, -87.63, 1.20, True),
    ("Boston", 42.36, -71.06, 1.30, False),
    ("Montreal", 45.50, -73.57, 1.00, False),
    ("Miami", 25.76, -80.19, 1.15, False),
    ("Seattle", 47.61, -122.33, 1.25, False),
    ("Lima", -12.05, -77.04, 0.60, False),
)

AIRLINES = ("Aerion", "Bluewing", "Cirrus", "Deltair", "Eastjet", "Falcon", "Globus", "Horizon")

# Departure time-of-day buckets (hours [start, end)); flights leave between 6 and 22 h.
BUCKETS: dict[str, tuple[int, int]] = {"morning": (6, 12), "afternoon": (12, 17), "evening": (17, 23)}

WORLD_DEFAULTS: dict[str, Any] = {
    "n_cities": 20,  # the first n of CITIES
    "n_days": 90,  # flight horizon in days from base_date
    "base_date": "2025-06-01",
    "flights_per_route_day": 2.0,  # Poisson λ of options per ordered pair and day
    "price_base": 40.0,  # fare = (base + rate · km) × factors
    "price_per_km": 0.09,
    "price_sigma": 0.25,  # lognormal σ of fares
    "one_stop_discount": 0.85,
    "nonstop_scale_km": 3000.0,  # P(nonstop) = exp(-km / scale) (halved without a hub)
    "cruise_kmh": 800.0,
    "hotels_per_city": [5, 20],
    "hotel_base_price": 90.0,
    "hotel_price_sigma": 0.2,
    "star_probs": [0.08, 0.2, 0.37, 0.25, 0.1],  # stars 1..5
    "star_multipliers": [0.6, 0.8, 1.0, 1.5, 2.5],
    # fare factor per weekday, Monday first
    "weekday_factors": [1.0, 0.9, 0.9, 1.0, 1.2, 1.05, 1.2],
}


def great_circle_km(lat1, lon1, lat2, lon2):
    """Haversine distance in km (arrays broadcast)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def bucket_of_hour(hour: int) -> str:
    for name, (lo, hi) in BUCKETS.items():
        if lo <= hour < hi:
            return name
    raise ValueError(f"hour {hour} is outside every departure bucket {BUCKETS}")


def resolve_world_config(world: Mapping[str, Any] | None) -> dict[str, Any]:
    cfg = {**WORLD_DEFAULTS, **dict(world or {})}
    if not 2 <= int(cfg["n_cities"]) <= len(CITIES):
        raise ValueError(f"world.n_cities must be in 2..{len(CITIES)}, got {cfg['n_cities']}")
    dt.date.fromisoformat(str(cfg["base_date"]))
    lo, hi = cfg["hotels_per_city"]
    if not 1 <= lo <= hi:
        raise ValueError(f"world.hotels_per_city must be [min, max] with 1 <= min <= max, got {cfg['hotels_per_city']}")
    if len(cfg["star_probs"]) != 5 or len(cfg["star_multipliers"]) != 5 or len(cfg["weekday_factors"]) != 7:
        raise ValueError("world.star_probs and star_multipliers need 5 values, weekday_factors 7")
    return cfg


@dataclass
class World:
    cities: pd.DataFrame  # name, lat, lon, cost_index, hub
    flights: pd.DataFrame  # id, origin, dest, day, date, price, stops, airline, depart_hour, bucket, duration_h
    hotels: pd.DataFrame  # id, city, stars, price
    meta: dict = field(default_factory=dict)


def _draw_flights(
    rng: np.random.Generator, cfg: Mapping[str, Any], cities: pd.DataFrame, base: dt.date
) -> pd.DataFrame:
    """Every ordered pair and day gets Poisson(λ) options: stops, fare, departure hour, airline."""
    n, n_days = len(cities), int(cfg["n_days"])
    a_idx, b_idx = np.nonzero(~np.eye(n, dtype=bool))  # ordered pairs, a != b
    pair = np.repeat(np.arange(len(a_idx)), n_days)
    day = np.tile(np.arange(n_days), len(a_idx))
    count = rng.poisson(float(cfg["flights_per_route_day"]), size=len(pair))
    pair, day = np.repeat(pair, count), np.repeat(day, count)
    a, b = a_idx[pair], b_idx[pair]
    lat, lon = cities["lat"].to_numpy(), cities["lon"].to_numpy()
    km = great_circle_km(lat[a], lon[a], lat[b], lon[b])
    hub = cities["hub"].to_numpy()
    p_nonstop = np.exp(-km / float(cfg["nonstop_scale_km"])) * np.where(hub[a] | hub[b], 1.0, 0.5)
    stops = (rng.random(len(a)) >= p_nonstop).astype(np.int64)
    weekday = np.array([(base + dt.timedelta(days=int(d))).weekday() for d in range(n_days)])
    fare = (
        (float(cfg["price_base"]) + float(cfg["price_per_km"]) * km)
        * np.asarray(cfg["weekday_factors"], dtype=float)[weekday[day]]
        * rng.lognormal(0.0, float(cfg["price_sigma"]), size=len(a))
        * np.where(stops == 1, float(cfg["one_stop_discount"]), 1.0)
    )
    hour = rng.integers(6, 23, size=len(a))
    airline = rng.integers(0, len(AIRLINES), size=len(a))
    duration = km / float(cfg["cruise_kmh"]) + 0.5 + 1.5 * stops
    names = cities["name"].to_numpy()
    flights = pd.DataFrame(
        {
            "origin": names[a],
            "dest": names[b],
            "day": day.astype(np.int64),
            "price": np.maximum(np.rint(fare), 1).astype(np.int64),
            "stops": stops,
            "airline": np.asarray(AIRLINES)[airline],
            "depart_hour": hour.astype(np.int64),
            "duration_h": np.round(duration, 2),
        }
    )
    flights["bucket"] = [bucket_of_hour(int(h)) for h in flights["depart_hour"]]
    flights = flights.sort_values(["origin", "dest", "day", "depart_hour", "price"], kind="stable").reset_index(
        drop=True
    )
    flights.insert(0, "id", [f"F{i:07d}" for i in range(len(flights))])
    flights.insert(4, "date", [(base + dt.timedelta(days=int(d))).isoformat() for d in flights["day"]])
    return flights


def _draw_hotels(rng: np.random.Generator, cfg: Mapping[str, Any], cities: pd.DataFrame) -> pd.DataFrame:
    """U{min, max} hotels per city, stars from a categorical, price = base × city index × star
    multiplier × lognormal."""
    n = len(cities)
    lo, hi = (int(v) for v in cfg["hotels_per_city"])
    per_city = rng.integers(lo, hi + 1, size=n)
    city = np.repeat(np.arange(n), per_city)
    stars = rng.choice(np.arange(1, 6), size=len(city), p=np.asarray(cfg["star_probs"], float) / sum(cfg["star_probs"]))
    price = (
        float(cfg["hotel_base_price"])
        * cities["cost_index"].to_numpy()[city]
        * np.asarray(cfg["star_multipliers"], float)[stars - 1]
        * rng.lognormal(0.0, float(cfg["hotel_price_sigma"]), size=len(city))
    )
    names = cities["name"].to_numpy()
    hotels = pd.DataFrame(
        {"city": names[city], "stars": stars.astype(np.int64), "price": np.maximum(np.rint(price), 1).astype(np.int64)}
    )
    hotels.insert(0, "id", [f"H{i:05d}" for i in range(len(hotels))])
    return hotels


def generate_world(world: Mapping[str, Any] | None, seed: int) -> World:
    """Draw the city, flight and hotel tables from ``world`` (keys of WORLD_DEFAULTS) and ``seed``."""
    cfg = resolve_world_config(world)
    rng = np.random.default_rng(seed)
    rows = CITIES[: int(cfg["n_cities"])]
    cities = pd.DataFrame(rows, columns=["name", "lat", "lon", "cost_index", "hub"])
    base = dt.date.fromisoformat(str(cfg["base_date"]))
    flights = _draw_flights(rng, cfg, cities, base)  # the flights' draws first, then the hotels'
    hotels = _draw_hotels(rng, cfg, cities)
    meta = {
        "seed": int(seed),
        "config": cfg,
        "n_cities": len(cities),
        "n_flights": len(flights),
        "n_hotels": len(hotels),
        "base_date": base.isoformat(),
        "n_days": int(cfg["n_days"]),
    }
    return World(cities=cities, flights=flights, hotels=hotels, meta=meta)


def write_world(world: World, cities_path, flights_path, hotels_path, meta_path) -> dict:
    """Parquet tables (atomic) and a JSON summary with each table's sha256."""
    for frame, path in ((world.cities, cities_path), (world.flights, flights_path), (world.hotels, hotels_path)):
        with io.atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
    meta = {**world.meta, "sha256": {Path(p).name: io.sha256_file(p) for p in (cities_path, flights_path, hotels_path)}}
    io.write_json(meta_path, meta)
    return meta


class Tables:
    """Flight and hotel tables indexed for the solver: per ordered pair, flights sorted by day."""

    def __init__(self, cities: pd.DataFrame, flights: pd.DataFrame, hotels: pd.DataFrame, base_date: str):
        self.cities = cities.reset_index(drop=True)
        self.flights = flights.reset_index(drop=True)
        self.hotels = hotels.reset_index(drop=True)
        self.base_date = dt.date.fromisoformat(str(base_date))
        self.n_days = int(self.flights["day"].max()) + 1 if len(self.flights) else 0
        self.city_names: tuple[str, ...] = tuple(self.cities["name"])
        self._flight_by_id = None
        self._hotel_by_id = None
        self._ids = self.flights["id"].to_numpy(dtype=object)
        f = self.flights.sort_values(["origin", "dest", "day", "price", "id"], kind="stable")
        self._routes: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        for (o, d), g in f.groupby(["origin", "dest"], sort=False):
            self._routes[(o, d)] = {
                "row": g.index.to_numpy(),
                "day": g["day"].to_numpy(),
                "price": g["price"].to_numpy(),
                "stops": g["stops"].to_numpy(),
                "bucket": g["bucket"].to_numpy(dtype=object),
            }
        self._hotels_by_city = {c: g for c, g in self.hotels.groupby("city", sort=False)}
        self._cheapest_hotel: dict[tuple, tuple[str, int] | None] = {}  # memo of cheapest_hotel

    # --- dates
    def day_of(self, date: str | dt.date) -> int:
        d = dt.date.fromisoformat(date) if isinstance(date, str) else date
        return (d - self.base_date).days

    def date_of(self, day: int) -> str:
        return (self.base_date + dt.timedelta(days=int(day))).isoformat()

    # --- lookups
    def route_flights(
        self,
        origin: str,
        dest: str,
        first_day: int,
        last_day: int,
        nonstop_only: bool = False,
        bucket: str | None = None,
    ) -> pd.DataFrame:
        """Eligible flights origin -> dest departing on days first_day..last_day (rows of ``flights``)."""
        r = self._routes.get((origin, dest))
        if r is None:
            return self.flights.iloc[0:0]
        lo, hi = np.searchsorted(r["day"], [first_day, last_day + 1])
        keep = np.ones(hi - lo, dtype=bool)
        if nonstop_only:
            keep &= r["stops"][lo:hi] == 0
        if bucket is not None:
            keep &= r["bucket"][lo:hi] == bucket
        return self.flights.loc[r["row"][lo:hi][keep]]

    def cheapest_route_flights(
        self,
        origin: str,
        dest: str,
        first_day: int,
        last_day: int,
        nonstop_only: bool = False,
        bucket: str | None = None,
    ) -> dict[int, tuple[str, int | float]]:
        """day -> (flight id, price) of the cheapest eligible flight (ties: lowest id)."""
        r = self._routes.get((origin, dest))
        if r is None:
            return {}
        lo, hi = np.searchsorted(r["day"], [first_day, last_day + 1])
        keep = np.ones(hi - lo, dtype=bool)
        if nonstop_only:
            keep &= r["stops"][lo:hi] == 0
        if bucket is not None:
            keep &= r["bucket"][lo:hi] == bucket
        out: dict[int, tuple[str, int]] = {}
        ids = self._ids
        # rows are sorted by (day, price, id): the first kept row of each day is the cheapest
        for row, day, price in zip(r["row"][lo:hi][keep], r["day"][lo:hi][keep], r["price"][lo:hi][keep]):
            day = int(day)
            if day not in out:
                out[day] = (str(ids[row]), price.item())
        return out

    def eligible_hotels(self, city: str, min_stars: int | None = None, max_price: int | None = None) -> pd.DataFrame:
        g = self._hotels_by_city.get(city)
        if g is None:
            return self.hotels.iloc[0:0]
        keep = np.ones(len(g), dtype=bool)
        if min_stars is not None:
            keep &= g["stars"].to_numpy() >= int(min_stars)
        if max_price is not None:
            keep &= g["price"].to_numpy() <= int(max_price)
        return g[keep]

    def cheapest_hotel(
        self, city: str, min_stars: int | None = None, max_price: int | None = None
    ) -> tuple[str, int] | None:
        """(hotel id, price per room and night) of the cheapest eligible hotel (ties: lowest id)."""
        key = (city, min_stars, max_price)
        if key not in self._cheapest_hotel:
            g = self.eligible_hotels(city, min_stars, max_price)
            if g.empty:
                self._cheapest_hotel[key] = None
            else:
                g = g.sort_values(["price", "id"], kind="stable")
                self._cheapest_hotel[key] = (str(g["id"].iloc[0]), g["price"].iloc[0].item())
        return self._cheapest_hotel[key]

    def flight(self, flight_id: str) -> Mapping[str, Any] | None:
        if self._flight_by_id is None:
            self._flight_by_id = self.flights.set_index("id", drop=False)
        if flight_id not in self._flight_by_id.index:
            return None
        return self._flight_by_id.loc[flight_id].to_dict()

    def hotel(self, hotel_id: str) -> Mapping[str, Any] | None:
        if self._hotel_by_id is None:
            self._hotel_by_id = self.hotels.set_index("id", drop=False)
        if hotel_id not in self._hotel_by_id.index:
            return None
        return self._hotel_by_id.loc[hotel_id].to_dict()

    def scaled(self, factor: float) -> Tables:
        """The same world with every price multiplied by ``factor`` (known answer: the optimum scales too)."""
        flights = self.flights.assign(price=self.flights["price"] * factor)
        hotels = self.hotels.assign(price=self.hotels["price"] * factor)
        return Tables(self.cities, flights, hotels, self.base_date.isoformat())


def load_tables(cities_path, flights_path, hotels_path, meta_path=None, base_date: str | None = None) -> Tables:
    """The world written by :func:`write_world`, ready for the solver."""
    for p in (cities_path, flights_path, hotels_path):
        if not Path(p).exists():
            raise FileNotFoundError(f"{p}: world table missing (run the ttg_world rule first)")
    if base_date is None:
        if meta_path is None:
            raise ValueError("load_tables needs meta_path or base_date")
        base_date = io.read_json(meta_path)["base_date"]
    return Tables(pd.read_parquet(cities_path), pd.read_parquet(flights_path), pd.read_parquet(hotels_path), base_date)


def tables_from_world(world: World) -> Tables:
    return Tables(world.cities, world.flights, world.hotels, world.meta["base_date"])


def rooms_for(travelers: int) -> int:
    """Hotel rooms for a party: two travellers share a room [recon]."""
    return int(math.ceil(int(travelers) / 2))


def build_world(world: Mapping[str, Any], out_cities, out_flights, out_hotels, out_meta, log_path=None) -> dict:
    """Generate the world of ``world`` (its ``seed`` included) and write its tables (the ttg_world rule)."""
    import logging

    from papersuite.core import runtime

    runtime.setup_logging(log_path)
    cfg = dict(world)
    seed = int(cfg.pop("seed", 0))
    w = generate_world(cfg, seed)
    meta = write_world(w, out_cities, out_flights, out_hotels, out_meta)
    logging.getLogger("papersuite.ttg.world").info(
        "world: %d cities, %d flights over %d days, %d hotels (seed %d)",
        meta["n_cities"],
        meta["n_flights"],
        meta["n_days"],
        meta["n_hotels"],
        seed,
    )
    return meta
