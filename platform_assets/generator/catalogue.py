"""The product catalogue, its price changes, and the storefront prices customers pay.

The catalogue is priced in EUR (one `currency` per SKU in the contract). The UK and US
storefronts charge a local list price derived from it by a fixed rate and rounded to .99, which
is what order lines and web events in GBP/USD carry; EUR customers pay the catalogue price.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from platform_assets.generator.clock import DAY_SECONDS, Horizon
from platform_assets.generator.ids import Stream, mix64

CATALOGUE_CURRENCY = "EUR"
# Fixed storefront conversion rates from EUR; stable over the run, like a published price list.
STOREFRONT_RATES = {"EUR": 1.0, "GBP": 0.86, "USD": 1.08}
SKUS_PER_CATEGORY = 43
PRICE_CHANGE_SHARE = 0.08  # of SKUs on each price-change day


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    slug: str
    items: tuple[str, ...]
    brands: tuple[str, ...]
    adjectives: tuple[str, ...]
    min_price: float
    max_price: float


CATEGORIES: tuple[Category, ...] = (
    Category(
        "APP", "Apparel", "apparel",
        ("T-Shirt", "Hoodie", "Jeans", "Chinos", "Sweater", "Rain Jacket", "Polo Shirt", "Dress",
         "Cardigan", "Puffer Jacket"),
        ("Nordvik", "Marlow & Hale", "Urban Thread", "Fjellstrand"),
        ("Classic", "Organic Cotton", "Merino", "Relaxed Fit", "Slim Fit", "Recycled", "Everyday"),
        14.0, 160.0,
    ),
    Category(
        "FTW", "Footwear", "footwear",
        ("Running Shoes", "Trail Shoes", "Sneakers", "Chelsea Boots", "Sandals", "Slippers",
         "Hiking Boots"),
        ("Stride", "Koa Running", "Brogue & Co", "Alpenpfad"),
        ("Lightweight", "Waterproof", "Leather", "Cushioned", "Vegan", "All-Terrain"),
        25.0, 190.0,
    ),
    Category(
        "HOM", "Home & Kitchen", "home-kitchen",
        ("Chef's Knife", "Frying Pan", "Coffee Grinder", "French Press", "Cutting Board",
         "Dutch Oven", "Tea Kettle", "Linen Napkins", "Ceramic Mug Set"),
        ("Kochwerk", "Maison Brune", "Oak & Ember", "Hearthline"),
        ("Cast Iron", "Stainless", "Bamboo", "Enamel", "Hand-Thrown", "Non-Stick"),
        9.0, 230.0,
    ),
    Category(
        "BEA", "Beauty", "beauty",
        ("Face Cream", "Shampoo", "Conditioner", "Lip Balm", "Vitamin C Serum", "Body Wash",
         "Hand Cream", "Sunscreen SPF 50"),
        ("Lumière", "Verdant Skin", "Botanica", "Seaweed & Salt"),
        ("Hydrating", "Fragrance-Free", "Organic", "Travel Size", "Sensitive"),
        4.0, 65.0,
    ),
    Category(
        "ELE", "Electronics", "electronics",
        ("Wireless Earbuds", "Phone Case", "USB-C Charger", "Power Bank", "Bluetooth Speaker",
         "Smartwatch Strap", "Noise-Cancelling Headphones", "Charging Cable"),
        ("Voltline", "Sonique", "Kabelwerk", "Pixelcraft"),
        ("Compact", "Fast-Charge", "Pro", "Mini", "Rugged", "65W"),
        8.0, 280.0,
    ),
    Category(
        "SPO", "Sports & Outdoors", "sports-outdoors",
        ("Yoga Mat", "Water Bottle", "Daypack", "2-Person Tent", "Sleeping Bag", "Cycling Gloves",
         "Trekking Poles", "Headlamp"),
        ("Summitline", "Bergfuchs", "Tidewater", "Peak & Pine"),
        ("Ultralight", "Insulated", "Packable", "Reflective", "Recycled"),
        7.0, 320.0,
    ),
    Category(
        "TOY", "Toys & Games", "toys-games",
        ("Board Game", "1000-Piece Puzzle", "Building Set", "Plush Bear", "Card Game",
         "Wooden Train Set"),
        ("Playfield", "Kleine Welt", "Meeple & Co", "Tinker Bay"),
        ("Family", "Strategy", "Classic", "Deluxe", "Travel"),
        8.0, 90.0,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: int
    brand: str
    cents: int  # catalogue price before any change in the run
    updated_at: int  # epoch seconds of the version landed on day 0


@dataclass(frozen=True)
class PriceChange:
    product: int
    cents: int
    updated_at: int


class Catalogue:
    def __init__(self, seed: int, horizon: Horizon) -> None:
        rng = random.Random(mix64(seed, 0, int(Stream.CATALOGUE)))
        self.products: list[Product] = []
        self.by_category: list[list[int]] = []
        self.cum_weights: list[list[float]] = []
        for number, category in enumerate(CATEGORIES):
            members: list[int] = []
            weights: list[float] = []
            names: set[str] = set()
            total = 0.0
            for rank in range(SKUS_PER_CATEGORY):
                brand, name = _product_name(category, rng, names)
                product = Product(
                    sku=f"{category.code}-{10000 + rank * 37 + rng.randrange(37):05d}",
                    name=name,
                    category=number,
                    brand=brand,
                    cents=_price_cents(category, rng),
                    # The day-0 export is the whole catalogue, last edited over the past months.
                    updated_at=horizon.start_ts - rng.randrange(1, 180 * DAY_SECONDS),
                )
                members.append(len(self.products))
                self.products.append(product)
                # Zipf-like popularity: a few bestsellers, a long tail.
                total += 1.0 / (1 + rng.random() * SKUS_PER_CATEGORY) ** 1.1
                weights.append(total)
            self.by_category.append(members)
            self.cum_weights.append(weights)
        self.changes_by_day: dict[int, list[PriceChange]] = {}
        self._history: dict[int, list[tuple[int, int]]] = {}  # product -> [(from_ts, cents)]
        for day in range(1, horizon.days):
            if day % 5 != 2:  # a pricing run every five days, starting on day 2
                continue
            changes: list[PriceChange] = []
            day_start = horizon.day_start(day)
            for number in rng.sample(range(len(self.products)), k=self._changed_count()):
                old = self._history.get(number, [(0, self.products[number].cents)])[-1][1]
                factor = rng.uniform(0.7, 0.92) if rng.random() < 0.7 else rng.uniform(1.04, 1.15)
                cents = _charm(old / 100 * factor)
                ts = day_start + rng.randrange(5 * 60, 2 * 3600)  # overnight pricing job
                changes.append(PriceChange(number, cents, ts))
                self._history.setdefault(number, []).append((ts, cents))
            changes.sort(key=lambda change: change.product)
            self.changes_by_day[day] = changes

    def _changed_count(self) -> int:
        return max(1, round(len(self.products) * PRICE_CHANGE_SHARE))

    def cents_at(self, product: int, ts: int) -> int:
        """EUR catalogue price of a product at an instant."""
        cents = self.products[product].cents
        for since, changed in self._history.get(product, ()):
            if since <= ts:
                cents = changed
        return cents

    def local_cents(self, product: int, ts: int, currency: str) -> int:
        cents = self.cents_at(product, ts)
        if currency == CATALOGUE_CURRENCY:
            return cents
        return _charm(cents / 100 * STOREFRONT_RATES[currency])

    def pick(self, category: int, rng: random.Random) -> int:
        return rng.choices(self.by_category[category], cum_weights=self.cum_weights[category])[0]


def _product_name(category: Category, rng: random.Random, taken: set[str]) -> tuple[str, str]:
    brand = rng.choice(category.brands)
    for _ in range(50):
        name = f"{brand} {rng.choice(category.adjectives)} {rng.choice(category.items)}"
        if name not in taken:
            break
        name += f" {rng.choice(('Navy', 'Black', 'Sand', 'Olive', 'Grey', 'Red', 'White'))}"
        if name not in taken:
            break
    taken.add(name)
    return brand, name


def _price_cents(category: Category, rng: random.Random) -> int:
    # Log-uniform between the category bounds: many cheap items, fewer expensive ones.
    low, high = math.log(category.min_price), math.log(category.max_price)
    return _charm(math.exp(rng.uniform(low, high)))


def _charm(amount: float) -> int:
    """Round to a shelf price ending in .99 (or .95 / .00 above 100), in cents."""
    whole = max(1, round(amount))
    if whole >= 100 and whole % 10 == 0:
        return whole * 100 - 5
    return whole * 100 - 1


def cents_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
