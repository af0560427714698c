"""The shop domain: realistic values for the columns of the four shop tables.

Shoppers browse in sessions; a session belongs to a user (or is anonymous until checkout), has a
device, a country and its currency, a cart, and orders waiting for payment. Events follow the
funnel page_view -> add_to_cart -> order_placed -> payment, so ids refer to each other the way
they would in production. Every value here satisfies the rules in ``schemas/tables/*.yaml``;
columns this module does not know fall back to :mod:`local.producer.values`.
"""

from __future__ import annotations

import logging
import string
import uuid
from dataclasses import dataclass, field
from itertools import accumulate
from random import Random
from typing import Any

log = logging.getLogger(__name__)

SHOP_TABLES = ("page_view", "add_to_cart", "order_placed", "payment")
# Share of events per table before the funnel's constraints (a payment needs an order).
_TABLE_WEIGHTS = {"page_view": 0.70, "add_to_cart": 0.17, "order_placed": 0.07, "payment": 0.06}
# Tables a stream declares that this module does not know get a small share of generic events.
_OTHER_TABLE_WEIGHT = 0.05

# Weights are stored cumulative: rng.choices would otherwise re-add them on every call.
# Country -> currency; only currencies the tables' enum allows.
_COUNTRIES = ("SE", "NO", "DK", "FI", "DE", "NL", "US")
_COUNTRY_WEIGHTS = tuple(accumulate((40, 15, 12, 10, 12, 6, 5)))
_CURRENCY = {"SE": "SEK", "NO": "NOK", "DK": "DKK", "FI": "EUR", "DE": "EUR", "NL": "EUR", "US": "USD"}
_DEVICES = ("mobile", "desktop", "tablet")
_DEVICE_WEIGHTS = tuple(accumulate((60, 32, 8)))
_PAYMENT_METHODS = ("card", "swish", "invoice", "klarna", "paypal")
_PAYMENT_WEIGHTS = tuple(accumulate((45, 20, 10, 18, 7)))
_STATUSES = ("authorized", "captured", "failed", "refunded")
_STATUS_WEIGHTS = tuple(accumulate((50, 38, 9, 3)))
_SHIPPING = ("standard", "express", "pickup")
_SHIPPING_WEIGHTS = tuple(accumulate((70, 18, 12)))
_COUPONS = ("SPRING25", "WELCOME10", "FREESHIP", "VIP-2026", "BLACKFRIDAY")
_CATEGORIES = ("shoes", "jackets", "kids", "home", "outdoor", "beauty", "electronics", "sale")
_REFERRERS = (
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://www.instagram.com/",
    "https://www.facebook.com/",
    "https://newsletter.example.com/spring",
)
_SEARCH_TERMS = ("rain+jacket", "sneakers", "wool+socks", "lamp", "backpack", "gift")
_QUANTITY_WEIGHTS = tuple(accumulate((80, 14, 4, 2)))
_SESSION_CHARS = string.digits + string.ascii_uppercase

_ACTIVE_SESSIONS = 400
_SESSION_END_PROBABILITY = 0.03
_ANONYMOUS_SHARE = 0.35
_USERS = 50_000
_PRODUCTS = 5_000


@dataclass(slots=True)
class _Session:
    session_id: str
    user_id: str | None
    partition_key: str
    device: str
    country: str
    currency: str
    cart: list[tuple[str, int, int]] = field(default_factory=list)  # product, quantity, cents
    open_orders: list[tuple[str, int]] = field(default_factory=list)  # order id, total cents


class ShopDomain:
    """Draws the next shop event from a pool of live sessions, all from one seeded RNG."""

    def __init__(self, rng: Random, tables: tuple[str, ...]) -> None:
        self.rng = rng
        known = [t for t in tables if t in _TABLE_WEIGHTS]
        self.tables = tuple(tables)
        self.weights = tuple(_TABLE_WEIGHTS.get(t, _OTHER_TABLE_WEIGHT) for t in tables)
        self._cum_weights = tuple(accumulate(self.weights))
        if not known:
            log.info("stream declares no shop table; every event is generated from the schema alone")
        # A product's price is fixed for the run, as in a real catalogue.
        self._price_cents = [
            rng.choice((4900, 9900, 14900, 19900, 29900)) + rng.randint(0, 20000) for _ in range(_PRODUCTS)
        ]
        self._product_base = rng.randint(100_000, 900_000 - _PRODUCTS)
        self._order_seq = rng.randint(100_000_000, 500_000_000)
        self._payment_seq = rng.randint(100_000_000, 500_000_000)
        self._sessions = [self._new_session() for _ in range(_ACTIVE_SESSIONS)]

    # --- ids -------------------------------------------------------------------------------

    def event_id(self) -> str:
        """A version-4 UUID from the seeded RNG (uuid.uuid4 would break determinism)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _new_session(self) -> _Session:
        rng = self.rng
        session_id = "S" + "".join(rng.choices(_SESSION_CHARS, k=10))
        user_id = None if rng.random() < _ANONYMOUS_SHARE else self._user_id()
        country = rng.choices(_COUNTRIES, cum_weights=_COUNTRY_WEIGHTS)[0]
        return _Session(
            session_id=session_id,
            user_id=user_id,
            # Fixed for the session's life, so its events stay ordered on one shard even after
            # an anonymous shopper logs in at checkout.
            partition_key=user_id or session_id,
            device=rng.choices(_DEVICES, cum_weights=_DEVICE_WEIGHTS)[0],
            country=country,
            currency=_CURRENCY[country],
        )

    def _user_id(self) -> str:
        return f"U{self.rng.randint(1_000_000, 1_000_000 + _USERS):07d}"

    def _product(self) -> tuple[str, int]:
        i = self.rng.randrange(_PRODUCTS)
        return f"P{self._product_base + i:06d}", self._price_cents[i]

    # --- events ----------------------------------------------------------------------------

    def next_event(self, table: str | None = None) -> tuple[str, dict[str, Any], str]:
        """``(table, domain values, partition key)`` for the next event; ``table`` forces the table."""
        rng = self.rng
        slot = rng.randrange(len(self._sessions))
        if rng.random() < _SESSION_END_PROBABILITY:
            self._sessions[slot] = self._new_session()
        s = self._sessions[slot]
        if table is None:
            table = rng.choices(self.tables, cum_weights=self._cum_weights)[0]
            # The funnel: nothing to pay yet means the shopper keeps browsing.
            if table == "payment" and not s.open_orders:
                table = "page_view" if "page_view" in self.tables else table
        maker = _MAKERS.get(table)
        values = maker(self, s) if maker else {}
        return table, values, s.partition_key

    def _page_view(self, s: _Session) -> dict[str, Any]:
        rng = self.rng
        r = rng.random()
        if r < 0.15:
            url = "/"
        elif r < 0.40:
            url = f"/category/{rng.choice(_CATEGORIES)}"
        elif r < 0.85:
            url = f"/product/{self._product()[0]}"
        elif r < 0.93:
            url = f"/search?q={rng.choice(_SEARCH_TERMS)}"
        else:
            url = "/cart"
        values: dict[str, Any] = {
            "session_id": s.session_id,
            "user_id": s.user_id,
            "page_url": url,
            "device": s.device,
            "country": s.country,
        }
        if rng.random() < 0.3:
            values["referrer"] = rng.choice(_REFERRERS)
        if rng.random() < 0.9:
            values["duration_ms"] = min(int(rng.expovariate(1 / 25_000)), 3_600_000)
        return values

    def _add_to_cart(self, s: _Session) -> dict[str, Any]:
        rng = self.rng
        product, cents = self._product()
        quantity = rng.choices((1, 2, 3, 5), cum_weights=_QUANTITY_WEIGHTS)[0]
        s.cart.append((product, quantity, cents))
        return {
            "session_id": s.session_id,
            "user_id": s.user_id,
            "product_id": product,
            "quantity": quantity,
            "unit_price": cents / 100,
            "currency": s.currency,
            "device": s.device,
            "country": s.country,
        }

    def _order_placed(self, s: _Session) -> dict[str, Any]:
        rng = self.rng
        if s.user_id is None:  # checkout requires an account
            s.user_id = self._user_id()
        if not s.cart:  # straight to checkout: a one-line order
            product, cents = self._product()
            s.cart.append((product, 1, cents))
        lines = s.cart[-4:]
        s.cart = []
        total = sum(q * c for _, q, c in lines)
        self._order_seq += 1
        order_id = f"O{self._order_seq:09d}"
        s.open_orders.append((order_id, total))
        values: dict[str, Any] = {
            "session_id": s.session_id,
            "user_id": s.user_id,
            "order_id": order_id,
            "items": [{"product_id": p, "quantity": q, "unit_price": c / 100} for p, q, c in lines],
            "total_amount": total / 100,
            "currency": s.currency,
            "country": s.country,
            "shipping_method": rng.choices(_SHIPPING, cum_weights=_SHIPPING_WEIGHTS)[0],
        }
        if rng.random() < 0.1:
            values["coupon_code"] = rng.choice(_COUPONS)
        if rng.random() < 0.2:
            values["attributes"] = {"gift_wrap": rng.choice(("true", "false")), "campaign": "spring"}
        return values

    def _payment(self, s: _Session) -> dict[str, Any]:
        rng = self.rng
        if s.user_id is None:
            s.user_id = self._user_id()
        if s.open_orders:
            order_id, total = s.open_orders.pop(0)
        else:  # forced payment without an order in this session: an order from an earlier visit
            self._order_seq += 1
            order_id, total = f"O{self._order_seq:09d}", self._product()[1]
        self._payment_seq += 1
        method = rng.choices(_PAYMENT_METHODS, cum_weights=_PAYMENT_WEIGHTS)[0]
        values: dict[str, Any] = {
            "order_id": order_id,
            "payment_id": f"PAY{self._payment_seq:09d}",
            "user_id": s.user_id,
            "amount": total / 100,
            "currency": s.currency,
            "payment_method": method,
            "status": rng.choices(_STATUSES, cum_weights=_STATUS_WEIGHTS)[0],
        }
        if method == "card":
            values["card_last4"] = f"{rng.randrange(10_000):04d}"
        if rng.random() < 0.5:
            values["is_retry"] = rng.random() < 0.05
        return values


_MAKERS = {
    "page_view": ShopDomain._page_view,
    "add_to_cart": ShopDomain._add_to_cart,
    "order_placed": ShopDomain._order_placed,
    "payment": ShopDomain._payment,
}
