"""A partial refund takes back its share of the pack (rounded down), each share exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from tests.integration.payments.conftest import Shop

from forkable.generations.verify import verify_all
from forkable.ledger.models import EntryKind, LedgerEntry
from forkable.testing.fake_stripe import Obj

# The starter pack: 20 tokens for 499 cents; the buyer also has the 3-token sign-up bonus.
TOKENS, PRICE, BONUS = 20, 499, 3


def clawed_back(shop: Shop) -> list[int]:
    with shop.services.database.session() as session:
        return [
            -entry.amount
            for entry in session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.kind == EntryKind.CLAWBACK)
                .order_by(LedgerEntry.id)
            )
        ]


def assert_ledger_clean(shop: Shop) -> None:
    with shop.services.database.session() as session:
        assert verify_all(session) == []


def paid(shop: Shop) -> tuple[str, str]:
    purchase_id, session_id = shop.buy("starter")
    assert shop.deliver(shop.fake.complete_session(session_id)).json()["outcome"] == "credited"
    assert shop.me()["balance"] == BONUS + TOKENS
    return purchase_id, session_id


def outcome(shop: Shop, event: Obj) -> str:
    response = shop.deliver(event)
    assert response.status_code == 200, response.text
    result: str = response.json()["outcome"]
    return result


def test_partial_refunds_take_back_their_share_once_each(shop: Shop) -> None:
    purchase_id, session_id = paid(shop)

    first = shop.fake.refund(session_id, amount=100)  # 100/499 of 20 tokens: 4.0 -> 4
    charge = first["data"]["object"]
    assert (charge["amount_refunded"], charge["refunded"]) == (100, False)
    assert outcome(shop, first) == "clawed_back_in_part"
    assert outcome(shop, first) == "duplicate"
    assert shop.me()["balance"] == BONUS + TOKENS - 4
    assert shop.purchase(purchase_id)["status"] == "paid"

    second = shop.fake.refund(session_id, amount=150)  # 250/499 in all: 10.02 -> 10, 6 more
    assert second["data"]["object"]["amount_refunded"] == 250
    assert outcome(shop, second) == "clawed_back_in_part"
    assert shop.me()["balance"] == BONUS + TOKENS - 10

    # The first refund's charge again, as a new event (Stripe may send one late): nothing.
    late = shop.fake.make_event("charge.refunded", charge)
    assert outcome(shop, late) == "unchanged"

    tiny = shop.fake.refund(session_id, amount=1)  # 251/499: still 10 tokens
    assert outcome(shop, tiny) == "unchanged"

    rest = shop.fake.refund(session_id)  # what is left: a full refund now
    assert rest["data"]["object"]["refunded"] is True
    assert outcome(shop, rest) == "clawed_back"
    assert shop.me()["balance"] == BONUS
    assert shop.purchase(purchase_id)["status"] == "refunded"
    assert clawed_back(shop) == [4, 6, 10]
    assert outcome(shop, rest) == "duplicate"
    assert_ledger_clean(shop)


def test_a_dispute_after_a_partial_refund_takes_back_the_rest(shop: Shop) -> None:
    purchase_id, session_id = paid(shop)
    assert outcome(shop, shop.fake.refund(session_id, amount=250)) == "clawed_back_in_part"
    assert outcome(shop, shop.fake.dispute(session_id)) == "clawed_back"
    assert clawed_back(shop) == [10, 10]
    assert shop.me()["balance"] == BONUS
    assert shop.purchase(purchase_id)["status"] == "disputed"
    assert_ledger_clean(shop)


def test_refunds_arriving_out_of_order_take_back_the_largest_share_once(shop: Shop) -> None:
    _purchase_id, session_id = paid(shop)
    first = shop.fake.refund(session_id, amount=100)
    second = shop.fake.refund(session_id, amount=200)  # 300/499: 12 tokens in all
    assert outcome(shop, second) == "clawed_back_in_part"
    assert outcome(shop, first) == "unchanged"
    assert clawed_back(shop) == [12]
    assert_ledger_clean(shop)


def test_concurrent_duplicate_deliveries_of_two_partial_refunds(shop: Shop) -> None:
    _purchase_id, session_id = paid(shop)
    first = shop.fake.refund(session_id, amount=100)  # 4 tokens
    second = shop.fake.refund(session_id, amount=150)  # 10 tokens in all
    second_again = shop.fake.make_event("charge.refunded", second["data"]["object"])
    # Each event several times, and the second under two event ids, all at the same moment.
    deliveries = [first, second, second_again] * 4
    start = threading.Barrier(len(deliveries))

    def deliver(event: Obj) -> str:
        start.wait(timeout=30)
        return outcome(shop, event)

    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        outcomes = list(pool.map(deliver, deliveries))

    assert sum(clawed_back(shop)) == 10
    assert shop.me()["balance"] == BONUS + TOKENS - 10
    assert outcomes.count("clawed_back_in_part") in (1, 2)  # 10 at once, or 4 then 6
    assert set(outcomes) <= {"clawed_back_in_part", "unchanged", "duplicate"}
    assert_ledger_clean(shop)


def test_concurrent_partial_and_full_refunds_take_the_pack_back_once(shop: Shop) -> None:
    _purchase_id, session_id = paid(shop)
    refund = shop.fake.refund(session_id, amount=300)
    rest = shop.fake.refund(session_id)
    deliveries = [refund, rest, rest, refund, rest]
    start = threading.Barrier(len(deliveries))

    def deliver(event: Obj) -> str:
        start.wait(timeout=30)
        return outcome(shop, event)

    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        list(pool.map(deliver, deliveries))
    assert sum(clawed_back(shop)) == TOKENS
    assert shop.me()["balance"] == BONUS
    assert_ledger_clean(shop)
