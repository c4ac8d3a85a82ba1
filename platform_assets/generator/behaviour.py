"""What one person does over the simulated days, written as the rows each source would receive.

Per person, in this order:
1. accounts: CRM contacts and a shop account, created in the past (the existing base, landed on
   day 0) or during the run; re-sent when the person moves or changes phone; consent captured
   at sign-up; the shop's order history for the base;
2. day by day: the email campaign (only to addresses whose latest email_marketing consent is
   granted), organic web sessions, and the odd support ticket.

Consent is kept as a timeline of (instant, status) and always queried *as of* an instant, so
the order in which statements are generated never lets an email go out after a withdrawal.
Rows are queued by the day their instant falls on; anything after the horizon is dropped, as if
the export simply had not happened yet.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from platform_assets.generator.batch import Batch
from platform_assets.generator.campaigns import Campaign
from platform_assets.generator.catalogue import CATEGORIES, Catalogue, cents_text
from platform_assets.generator.clock import (
    DAY_SECONDS,
    Horizon,
    iso_naive,
    iso_offset,
    iso_z,
    sql_utc,
)
from platform_assets.generator.defects import UNKNOWN_EMAIL_EVENT, UNKNOWN_WEB_EVENT, Defects
from platform_assets.generator.ids import IdFactory, Stream, rng_for, uuid_from
from platform_assets.generator.locales import draw_phone_digits
from platform_assets.generator.noise import NoiseProfile, pick, render_email
from platform_assets.generator.people import Address, Device, Person, draw_address
from platform_assets.generator.records import (
    CONSENT_PROFILE,
    CRM_PROFILE,
    SHOP_PROFILE,
    TICKET_PROFILE,
    AccountRecord,
    render_address,
    render_identity,
    render_phone,
    render_requester_name,
)

SHOP_URL = "https://shop.example.com"

CRM_SHARE = 0.7
SHOP_SHARE = 0.6
BASE_SHARE = 0.8  # of accounts that already existed before day 0
DUPLICATE_CONTACT_RATE = 0.03  # a second CRM contact for the same person
MOVE_RATE = 0.03
PHONE_CHANGE_RATE = 0.02
CORRECTION_RATE = 0.03  # CRM staff fix a contact during the run
SAME_VERSION_TWICE = 0.02
PREFERENCE_CHANGE_RATE = 0.04  # per person over the run
HISTORY_DAYS = 365

# Relative weight of each local hour for browsing: quiet nights, lunch and evening peaks.
BROWSE_HOURS = (
    1.0, 0.5, 0.3, 0.2, 0.2, 0.4, 1.0, 2.0, 3.0, 3.5, 3.5, 3.5,
    4.0, 4.0, 3.5, 3.5, 3.5, 4.0, 5.0, 6.0, 6.5, 6.0, 4.0, 2.0,
)  # fmt: skip
OFFICE_HOURS = tuple(1.0 if 8 <= hour < 19 else 0.05 for hour in range(24))

TICKET_CHANNELS = ("email", "chat", "phone", "web", "social")
TICKET_CHANNEL_WEIGHTS = (0.45, 0.25, 0.15, 0.1, 0.05)
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_PRIORITY_WEIGHTS = (0.2, 0.6, 0.15, 0.05)
CSAT_SCORES = ("1", "2", "3", "4", "5")
CSAT_WEIGHTS = (0.05, 0.07, 0.13, 0.3, 0.45)
ORGANIC_UTM = (
    ("google", "brand_search"),
    ("google", "shopping"),
    ("facebook", "retargeting"),
    ("instagram", "autumn_lookbook"),
    ("tiktok", None),
)


@dataclass(frozen=True)
class World:
    """Everything shared by all people of a run."""

    seed: int
    horizon: Horizon
    catalogue: Catalogue
    campaigns: dict[int, Campaign]
    ids: IdFactory
    defects: Defects


class PersonSimulation:
    def __init__(self, world: World, person: Person, batch: Batch) -> None:
        self.world = world
        self.person = person
        self.batch = batch
        self.horizon = world.horizon
        self.rng = rng_for(world.seed, person.index, Stream.BEHAVIOUR)
        self.consent: list[tuple[int, str]] = []  # email_marketing timeline of this address
        self.suppressed = False  # hard bounce: the email platform stops sending
        self.newsletter = False
        self.shop: AccountRecord | None = None
        self.orders = 0
        self.tickets = 0
        self.last_order_ts: int | None = None
        self.moved_at: int | None = None
        self.new_address: Address | None = None
        self.phone_changed_at: int | None = None
        self.new_phone: tuple[str, ...] | None = None

    # ------------------------------------------------------------------------------------------
    # Entry point
    # ------------------------------------------------------------------------------------------

    def run(self) -> None:
        person, horizon = self.person, self.horizon
        self.batch.people.append(
            (
                person.person_id,
                person.household_id,
                person.first_name,
                person.last_name,
                person.email,
                person.dob.isoformat(),
                person.locale.country,
            )
        )
        self._accounts()
        shop = self.shop
        signup_day = (
            horizon.day_of(shop.created_at) if shop and shop.created_at >= horizon.start_ts else -1
        )
        for day in sorted(d for d in self.world.campaigns if d < 0):
            self._campaign(self.world.campaigns[day])  # history: lands with the day-0 base
        for day in range(horizon.days):
            campaign = self.world.campaigns.get(day)
            if campaign is not None:
                self._campaign(campaign)
            if day == signup_day and shop is not None:
                self._session(
                    shop.created_at - self.rng.randint(60, 400), signup_at=shop.created_at
                )
            rng = self.rng
            if rng.random() < person.visit_rate:
                self._session(self._local_instant(day, BROWSE_HOURS), utm=self._organic_utm())
                if rng.random() < 0.25:
                    self._session(self._local_instant(day, BROWSE_HOURS), utm=self._organic_utm())
            recent_order = (
                self.last_order_ts is not None
                and horizon.day_start(day) - self.last_order_ts < 7 * DAY_SECONDS
            )
            if rng.random() < (0.03 if recent_order else 0.0015):
                self._ticket(day, recent_order)

    # ------------------------------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------------------------------

    def _land_at(self, source: str, ts: int, row: list[str] | dict[str, Any]) -> bool:
        return self.batch.land(source, self.horizon.day_of(ts), row)

    def _truth(self, source: str, record_id: str) -> None:
        self.batch.truth.append((source, record_id, self.person.person_id))

    def _local_instant(self, day: int, hour_weights: tuple[float, ...]) -> int:
        """An instant of a UTC day, drawn by the person's local hour of activity."""
        rng = self.rng
        local_hour = rng.choices(range(24), weights=hour_weights)[0]
        seconds = (
            local_hour * 3600 + rng.randrange(3600) - self.person.utc_offset * 60
        ) % DAY_SECONDS
        return self.horizon.day_start(day) + seconds

    def _organic_utm(self) -> tuple[str, str | None] | None:
        return self.rng.choice(ORGANIC_UTM) if self.rng.random() < 0.15 else None

    def _created_at(self, rng: random.Random, share: float) -> int | None:
        """When an account was created, or None when the person has none."""
        if rng.random() >= share:
            return None
        horizon = self.horizon
        if horizon.days == 1 or rng.random() < BASE_SHARE:
            return horizon.start_ts - rng.randrange(DAY_SECONDS, 5 * 365 * DAY_SECONDS)
        day = rng.randrange(1, horizon.days)
        return horizon.day_start(day) + rng.randrange(7 * 3600, 22 * 3600)

    def _address_at(self, ts: int) -> Address:
        if self.moved_at is not None and self.new_address is not None and ts >= self.moved_at:
            return self.new_address
        return self.person.address

    def _phone_at(self, ts: int) -> tuple[str, ...]:
        if self.phone_changed_at is not None and self.new_phone and ts >= self.phone_changed_at:
            return self.new_phone
        return self.person.phone

    # ------------------------------------------------------------------------------------------
    # Accounts, versions and consent
    # ------------------------------------------------------------------------------------------

    def _accounts(self) -> None:
        person, horizon, ids = self.person, self.horizon, self.world.ids
        plan = rng_for(self.world.seed, person.index, Stream.ACCOUNTS)
        contacts = [self._created_at(plan, CRM_SHARE)]
        if contacts[0] is not None and plan.random() < DUPLICATE_CONTACT_RATE:
            contacts.append(self._created_at(plan, 1.0))
        shop_created = self._created_at(plan, SHOP_SHARE)
        if horizon.days > 1 and plan.random() < MOVE_RATE:
            self.moved_at = horizon.day_start(plan.randrange(1, horizon.days)) + plan.randrange(
                DAY_SECONDS
            )
            self.new_address = draw_address(person.pools, plan)
        if horizon.days > 1 and plan.random() < PHONE_CHANGE_RATE:
            self.phone_changed_at = horizon.day_start(
                plan.randrange(1, horizon.days)
            ) + plan.randrange(DAY_SECONDS)
            self.new_phone = draw_phone_digits(person.locale, plan)

        for number, created in enumerate(contacts):
            if created is None:
                continue
            record = self._new_record(ids.contact_id(person.index, number), created, CRM_PROFILE)
            self._life_of_record("crm_contacts", record, resend_rate=0.8, fix_rate=CORRECTION_RATE)
            self._signup_consent(created, "signup_form")
        if shop_created is not None:
            self.shop = self._new_record(ids.customer_id(person.index), shop_created, SHOP_PROFILE)
            self._life_of_record("shop_customers", self.shop, resend_rate=0.6, fix_rate=0.0)
            self._signup_consent(shop_created, "checkout" if plan.random() < 0.5 else "signup_form")
            if shop_created < horizon.start_ts:
                self._order_history(self.shop)
        self._preference_changes(plan)

    def _new_record(self, record_id: str, created: int, profile: NoiseProfile) -> AccountRecord:
        fields = render_identity(
            self.person, self._address_at(created), self._phone_at(created), self.rng, profile
        )
        return AccountRecord(record_id, fields, created, profile)

    def _life_of_record(
        self, source: str, record: AccountRecord, resend_rate: float, fix_rate: float
    ) -> None:
        """The versions of one record: the first, then one per change the source hears about."""
        rng, horizon, created = self.rng, self.horizon, record.created_at
        if created < horizon.start_ts:
            # The day-0 export carries the latest version of the base, edited some time ago.
            updated = created + rng.randrange(max(1, horizon.start_ts - created))
        else:
            updated = created
        self._emit_version(source, record, updated)
        changes: list[tuple[int, str]] = []
        if self.moved_at is not None and self.moved_at > created and rng.random() < resend_rate:
            changes.append((self.moved_at + rng.randrange(2 * DAY_SECONDS), "address"))
        if (
            self.phone_changed_at is not None
            and self.phone_changed_at > created
            and rng.random() < resend_rate
        ):
            changes.append((self.phone_changed_at + rng.randrange(2 * DAY_SECONDS), "phone"))
        if horizon.days > 1 and rng.random() < fix_rate:
            first_day = max(1, horizon.day_of(created) + 1)
            if first_day < horizon.days:
                when = horizon.day_start(rng.randrange(first_day, horizon.days))
                changes.append((when + rng.randrange(8 * 3600, 18 * 3600), "fix"))
        person = self.person
        for when, kind in sorted(changes):
            if kind == "address":
                record.fields[5:9] = render_address(
                    person, self._address_at(when), rng, record.profile
                )
            elif kind == "phone":
                record.fields[3] = render_phone(person, self._phone_at(when), rng, record.profile)
            else:
                record.fields[0:2] = [person.first_name, person.last_name]
            self._emit_version(source, record, when)

    def _emit_version(self, source: str, record: AccountRecord, updated: int) -> None:
        rng = self.rng
        if source == "crm_contacts":
            created_text, updated_text = sql_utc(record.created_at), sql_utc(updated)
        else:
            offset = self.person.utc_offset
            created_text = iso_offset(record.created_at, offset)
            updated_text = iso_offset(updated, offset)
        row = [record.record_id, *record.fields, created_text, updated_text]
        defects = self.world.defects
        if defects.hit(rng):
            defects.person_row(row, rng, may_drop_id=source == "crm_contacts")
        if not self._land_at(source, updated, row):
            return
        if not record.truth_written:
            self._truth(source, record.record_id)
            record.truth_written = True
        if rng.random() < SAME_VERSION_TWICE:
            self._land_at(source, updated, list(row))

    def _consent(self, ts: int, purpose: str, status: str, source: str) -> None:
        # A partner shares the head's family address; only the head manages its subscription,
        # so two people never make contradicting statements about one address.
        if not self.person.owns_email:
            return
        rng = self.rng
        row = [
            render_email(self.person.email, rng, CONSENT_PROFILE),
            purpose,
            status,
            iso_z(ts),
            source,
        ]
        if not self._land_at("consent", ts, row):
            return
        if purpose == "email_marketing":
            self.consent.append((ts, status))
        if rng.random() < 0.01:  # the same statement exported twice
            self._land_at("consent", ts, list(row))

    def _signup_consent(self, created: int, source: str) -> None:
        rng = self.rng
        roll = rng.random()
        at = created + rng.randint(1, 30)
        if roll < 0.7:
            self._consent(at, "email_marketing", "granted", source)
        elif roll < 0.75:
            self._consent(at, "email_marketing", "withdrawn", source)
        if rng.random() < 0.3:
            self._consent(at, "profiling", "granted", source)

    def _granted(self, ts: int) -> bool:
        latest_ts, latest = -1, "withdrawn"
        for when, status in self.consent:
            if latest_ts <= when <= ts:
                latest_ts, latest = when, status
        return latest == "granted"

    def _preference_changes(self, plan: random.Random) -> None:
        """Now and then someone opens the preference centre and flips their subscription."""
        if not self.consent or plan.random() >= PREFERENCE_CHANGE_RATE:
            return
        horizon = self.horizon
        first = max(self.consent[0][0] + 3600, horizon.start_ts - 200 * DAY_SECONDS)
        when = first + plan.randrange(max(1, horizon.end_ts - first))
        status = "withdrawn" if self._granted(when) else "granted"
        self._consent(when, "email_marketing", status, "preference_center")

    # ------------------------------------------------------------------------------------------
    # Email
    # ------------------------------------------------------------------------------------------

    def _email(self, ts: int, event_type: str, campaign: Campaign, url: str | None = None) -> None:
        rng, defects = self.rng, self.world.defects
        event_id = uuid_from(rng)
        event: dict[str, str | None] = {
            "event_id": event_id,
            "occurred_at": iso_z(ts),
            "email": self.person.email,
            "campaign_id": campaign.campaign_id,
            "event_type": event_type,
            "url": url,
        }
        if not self._land_at("email_events", ts, event):
            return
        self._truth("email_events", event_id)
        if defects.hit(rng):
            if event_type != "sent" and rng.random() < 0.5:
                # An event type the contract does not know, as a separate event.
                forwarded_id = uuid_from(rng)
                forwarded = {
                    **event,
                    "event_id": forwarded_id,
                    "occurred_at": iso_z(ts + 60),
                    "event_type": UNKNOWN_EMAIL_EVENT,
                }
                if self._land_at("email_events", ts + 60, forwarded):
                    self._truth("email_events", forwarded_id)
            else:
                self._land_at("email_events", ts, event)  # delivered twice, same event id

    def _campaign(self, campaign: Campaign) -> None:
        person, rng = self.person, self.rng
        if not person.owns_email or self.suppressed:
            return
        sent = campaign.send_ts + rng.randrange(1800)
        if not self._granted(sent):
            return
        self._email(sent, "sent", campaign)
        if person.email_dead or rng.random() < 0.004:
            self._email(sent + rng.randint(1, 90), "bounce", campaign)
            self.suppressed = person.email_dead  # hard bounces stop future sends, soft ones not
            return
        delivered = sent + rng.randint(1, 30)
        self._email(delivered, "delivered", campaign)
        if rng.random() < 0.0008:
            complained = delivered + rng.randint(600, 20 * 3600)
            self._email(complained, "spam_complaint", campaign)
            self._consent(complained + 5, "email_marketing", "withdrawn", "spam_complaint")
            return
        if rng.random() >= person.open_rate:
            return
        opened = delivered + 30 + int(min(rng.expovariate(1 / 10_800), 40 * 3600))
        self._email(opened, "open", campaign)
        if rng.random() < 0.25:
            self._email(opened + rng.randint(600, 30 * 3600), "open", campaign)
        if rng.random() < person.click_rate:
            clicked = opened + rng.randint(5, 180)
            slug = CATEGORIES[campaign.category].slug
            url = f"{SHOP_URL}/c/{slug}?utm_source=email&utm_campaign={campaign.campaign_id}"
            self._email(clicked, "click", campaign, url)
            self._session(
                clicked + rng.randint(2, 15),
                utm=("email", campaign.campaign_id),
                landing=url,
                category=campaign.category,
            )
        if rng.random() < 0.006:
            left = opened + rng.randint(10, 300)
            self._email(left, "unsubscribe", campaign)
            self._consent(
                left + rng.randint(1, 60), "email_marketing", "withdrawn", "unsubscribe_link"
            )

    # ------------------------------------------------------------------------------------------
    # Web sessions and orders
    # ------------------------------------------------------------------------------------------

    def _web(
        self,
        ts: int,
        device: Device,
        user: str | None,
        event_type: str,
        url: str,
        *,
        sku: str | None = None,
        quantity: int | None = None,
        cents: int | None = None,
        utm: tuple[str, str | None] | None = None,
        email: str | None = None,
    ) -> None:
        rng = self.rng
        # Trackers omit empty properties; absent keys are missing values by the contract.
        event: dict[str, Any] = {
            "event_id": uuid_from(rng),
            "occurred_at": ts,
            "anonymous_id": device.anonymous_id,
        }
        if user:
            event["user_id"] = user
        if email:
            event["email"] = email
        event["event_type"] = event_type
        event["url"] = url
        if sku:
            event["sku"] = sku
        if quantity is not None:
            event["quantity"] = quantity
        if cents is not None:
            event["price"] = cents / 100
        if utm:
            event["utm_source"] = utm[0]
            if utm[1]:
                event["utm_campaign"] = utm[1]
        event["device_type"] = device.device_type
        if not self._land_at("web_events", ts, event):
            return
        self._truth("web_events", event["event_id"])
        defects = self.world.defects
        if defects.hit(rng):
            if rng.random() < 0.5:
                self._land_at("web_events", ts, event)  # the tracker retried: same event id
            else:
                hover = {**event, "event_id": uuid_from(rng), "occurred_at": ts + 1}
                hover["event_type"] = UNKNOWN_WEB_EVENT
                if self._land_at("web_events", ts + 1, hover):
                    self._truth("web_events", hover["event_id"])

    def _session(
        self,
        start: int,
        *,
        utm: tuple[str, str | None] | None = None,
        landing: str | None = None,
        category: int | None = None,
        signup_at: int | None = None,
    ) -> None:
        person, rng, catalogue = self.person, self.rng, self.world.catalogue
        devices = person.devices
        device = devices[0] if len(devices) == 1 or rng.random() < 0.65 else devices[1]
        shop = self.shop
        has_account = shop is not None and shop.created_at <= start
        user = shop.record_id if shop is not None and has_account and rng.random() < 0.55 else None
        currency = person.locale.currency
        favourites = person.favourite_categories
        ts = start
        if landing is None:
            slug = CATEGORIES[favourites[0]].slug
            landing = f"{SHOP_URL}/" if rng.random() < 0.6 else f"{SHOP_URL}/c/{slug}"
        self._web(ts, device, user, "page_view", landing, utm=utm)
        if signup_at is not None and shop is not None:
            ts += rng.randint(10, 60)
            self._web(ts, device, None, "page_view", f"{SHOP_URL}/account/register", utm=utm)
            ts = max(ts + 5, signup_at)
            user, has_account = shop.record_id, True
        viewed: list[int] = []
        for _ in range(1 + min(int(rng.expovariate(0.35)), 12)):
            ts += rng.randint(8, 150)
            if category is not None and rng.random() < 0.6:
                browse = category
            elif rng.random() < 0.75:
                browse = favourites[0] if rng.random() < 0.65 else favourites[1]
            else:
                browse = rng.randrange(len(CATEGORIES))
            roll = rng.random()
            if roll < 0.15:
                term = rng.choice(CATEGORIES[browse].items).lower()
                url = f"{SHOP_URL}/search?q={quote_plus(term)}"
                self._web(ts, device, user, "search", url, utm=utm)
            elif roll < 0.32:
                url = f"{SHOP_URL}/c/{CATEGORIES[browse].slug}"
                self._web(ts, device, user, "page_view", url, utm=utm)
            else:
                product = catalogue.pick(browse, rng)
                sku = catalogue.products[product].sku
                cents = catalogue.local_cents(product, ts, currency)
                url = f"{SHOP_URL}/p/{sku.lower()}"
                self._web(ts, device, user, "product_view", url, sku=sku, cents=cents, utm=utm)
                viewed.append(product)

        cart: dict[int, int] = {}  # product -> quantity; only products seen in this session
        for product in dict.fromkeys(viewed):
            if len(cart) < 4 and rng.random() < person.cart_rate:
                quantity = 1 if rng.random() < 0.82 else 2 if rng.random() < 0.8 else 3
                cart[product] = quantity
                ts += rng.randint(5, 60)
                sku = catalogue.products[product].sku
                cents = catalogue.local_cents(product, ts, currency)
                url = f"{SHOP_URL}/p/{sku.lower()}"
                self._web(
                    ts,
                    device,
                    user,
                    "add_to_cart",
                    url,
                    sku=sku,
                    quantity=quantity,
                    cents=cents,
                    utm=utm,
                )
        if len(cart) > 1 and rng.random() < 0.15:
            product = rng.choice(list(cart))
            ts += rng.randint(10, 120)
            sku = catalogue.products[product].sku
            cents = catalogue.local_cents(product, ts, currency)
            quantity = cart.pop(product)
            url = f"{SHOP_URL}/cart"
            self._web(
                ts, device, user, "remove_from_cart", url,
                sku=sku, quantity=quantity, cents=cents, utm=utm,
            )  # fmt: skip
        if cart and rng.random() < person.checkout_rate:
            ts += rng.randint(20, 300)
            if has_account and shop is not None:
                user = shop.record_id  # checkout requires signing in
            total = sum(catalogue.local_cents(p, ts, currency) * q for p, q in cart.items())
            self._web(
                ts, device, user, "checkout_started", f"{SHOP_URL}/checkout", cents=total, utm=utm
            )
            ordered = (
                has_account
                and shop is not None
                and self.orders < IdFactory.ORDER_SLOTS
                and rng.random() < 0.65
            )
            if ordered and shop is not None:
                ts += rng.randint(60, 400)
                lines = [(p, q, catalogue.local_cents(p, ts, currency)) for p, q in cart.items()]
                total = sum(cents * quantity for _, quantity, cents in lines)
                url = f"{SHOP_URL}/checkout/confirmation"
                self._web(ts, device, user, "order_completed", url, cents=total, utm=utm)
                self._order(ts, shop, lines)
        if person.owns_email and not has_account and not self.newsletter and rng.random() < 0.02:
            # The newsletter form is how an anonymous visitor becomes known by email.
            ts += rng.randint(10, 90)
            email = render_email(person.email, rng, CONSENT_PROFILE).strip()
            self._web(
                ts, device, None, "page_view", f"{SHOP_URL}/newsletter/subscribed", email=email
            )
            self._consent(ts, "email_marketing", "granted", "signup_form")
            self.newsletter = True

    def _order(self, ts: int, shop: AccountRecord, lines: list[tuple[int, int, int]]) -> None:
        rng = self.rng
        order_id = self.world.ids.order_id(self.person.index, self.orders)
        self.orders += 1
        self.last_order_ts = ts
        status = "paid" if rng.random() < 0.85 else "placed"  # bank transfers pay later
        self._order_rows(ts, ts, order_id, shop, lines, status)
        at = ts
        if status == "placed":
            at += rng.randint(2 * 3600, 30 * 3600)
            self._order_rows(at, ts, order_id, shop, lines, "paid")
        if rng.random() < 0.03:
            self._order_rows(
                at + rng.randint(3600, 20 * 3600), ts, order_id, shop, lines, "cancelled"
            )
            return
        shipped = at + rng.randint(18 * 3600, 72 * 3600)
        self._order_rows(shipped, ts, order_id, shop, lines, "shipped")
        if rng.random() < 0.05:
            refunded = shipped + rng.randint(2 * DAY_SECONDS, 9 * DAY_SECONDS)
            returned = lines if rng.random() < 0.5 else [rng.choice(lines)]
            self._order_rows(refunded, ts, order_id, shop, returned, "refunded", all_lines=lines)

    def _order_rows(
        self,
        landed: int,
        ordered: int,
        order_id: str,
        shop: AccountRecord,
        lines: list[tuple[int, int, int]],
        status: str,
        all_lines: list[tuple[int, int, int]] | None = None,
    ) -> None:
        rng, catalogue, defects = self.rng, self.world.catalogue, self.world.defects
        numbering = all_lines or lines  # a re-sent line keeps its number within the order
        currency = self.person.locale.currency
        ordered_text = iso_z(ordered)
        for line in lines:
            product, quantity, cents = line
            row = [
                order_id,
                str(numbering.index(line) + 1),
                shop.record_id,
                ordered_text,
                status,
                catalogue.products[product].sku,
                str(quantity),
                cents_text(cents),
                currency,
            ]
            if defects.hit(rng):
                future = landed + rng.randint(30, 400) * DAY_SECONDS
                defects.order_row(row, rng, iso_z(future))
            self._land_at("orders", landed, row)

    def _order_history(self, shop: AccountRecord) -> None:
        """The shop's order history of an existing customer, exported with the day-0 base."""
        rng, catalogue, horizon = self.rng, self.world.catalogue, self.horizon
        since = max(shop.created_at, horizon.start_ts - HISTORY_DAYS * DAY_SECONDS)
        years = (horizon.start_ts - since) / (365 * DAY_SECONDS)
        count = min(_poisson(rng, self.person.yearly_orders * years), 40)
        currency = self.person.locale.currency
        favourites = self.person.favourite_categories
        for ordered in sorted(
            since + rng.randrange(max(1, horizon.start_ts - since)) for _ in range(count)
        ):
            products = {
                catalogue.pick(favourites[0] if rng.random() < 0.7 else favourites[1], rng)
                for _ in range(1 + int(rng.random() < 0.3) + int(rng.random() < 0.1))
            }
            lines = [
                (
                    product,
                    1 if rng.random() < 0.85 else 2,
                    catalogue.local_cents(product, horizon.start_ts, currency),
                )
                for product in sorted(products)
            ]
            roll = rng.random()
            status = "refunded" if roll < 0.05 else "cancelled" if roll < 0.08 else "shipped"
            if horizon.start_ts - ordered < 2 * DAY_SECONDS and status == "shipped":
                status = "paid"  # not dispatched yet when the export ran
            order_id = self.world.ids.order_id(self.person.index, self.orders)
            self.orders += 1
            self.last_order_ts = ordered
            self._order_rows(horizon.start_ts, ordered, order_id, shop, lines, status)

    # ------------------------------------------------------------------------------------------
    # Support
    # ------------------------------------------------------------------------------------------

    def _ticket(self, day: int, recent_order: bool) -> None:
        if self.tickets >= IdFactory.TICKET_SLOTS:
            return
        person, rng, defects = self.person, self.rng, self.world.defects
        ticket_id = self.world.ids.ticket_id(person.index, self.tickets)
        self.tickets += 1
        opened = self._local_instant(day, OFFICE_HOURS)
        channel = pick(rng, TICKET_CHANNELS, TICKET_CHANNEL_WEIGHTS)
        if recent_order:
            category = rng.choice(("delivery", "returns", "order_status", "returns"))
        else:
            category = rng.choice(("account", "product_question", "billing", "other"))
        priority = pick(rng, TICKET_PRIORITIES, TICKET_PRIORITY_WEIGHTS)
        email = (
            render_email(person.email, rng, TICKET_PROFILE)
            if channel != "phone" or rng.random() < 0.3
            else ""
        )
        name = render_requester_name(person, rng) if rng.random() < 0.92 else ""
        phone = (
            render_phone(person, self._phone_at(opened), rng, TICKET_PROFILE)
            if channel == "phone" or rng.random() < 0.2
            else ""
        )
        truth_written = False

        def version(updated: int, status: str, closed: int | None = None, csat: str = "") -> None:
            nonlocal truth_written
            row = [
                ticket_id,
                iso_naive(opened),
                iso_naive(closed) if closed is not None else "",
                email,
                name,
                phone,
                channel,
                category,
                status,
                priority,
                csat,
                iso_naive(updated),
            ]
            if defects.hit(rng):
                defects.ticket_row(row, rng, iso_naive(opened - rng.randint(3600, 3 * DAY_SECONDS)))
            if self._land_at("support_tickets", updated, row) and not truth_written:
                self._truth("support_tickets", ticket_id)
                truth_written = True

        version(opened, "open")
        at = opened
        if rng.random() < 0.3:
            at += rng.randint(2 * 3600, 20 * 3600)
            version(at, "pending")
        resolved = at + 600 + int(rng.expovariate(1 / (30 * 3600)))
        csat = pick(rng, CSAT_SCORES, CSAT_WEIGHTS) if rng.random() < 0.55 else ""
        version(resolved, "solved" if rng.random() < 0.6 else "closed", resolved, csat)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; means here are small (a few orders a year)."""
    if mean <= 0:
        return 0
    limit, count, product = math.exp(-min(mean, 60.0)), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
