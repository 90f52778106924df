"""A fake Stripe API on loopback that the real `stripe` SDK can talk to, and a webhook sender.

It serves what forkable uses of Stripe Checkout and `POST /v1/refunds`, in Stripe's wire
format: form-encoded nested params in, JSON objects, lists and `{"error": {...}}` bodies out,
`Authorization: Bearer` auth and `Idempotency-Key` replays. Tests drive what the buyer and
Stripe do next (`complete_session`, `expire_session`, `refund`, `dispute`, ...); each returns
the event it generated without delivering it, so a test chooses when, how often, in what order
and how (signed, tampered, stale) to `deliver` it::

    with FakeStripe() as fake:
        client = stripe.StripeClient(fake.api_key, base_addresses={"api": fake.url})
        session = client.v1.checkout.sessions.create(params={...})
        event = fake.complete_session(session.id)
        fake.deliver(event, "http://127.0.0.1:8000/api/webhooks/stripe")

`add_account` adds another Stripe account (its own secret key): like Stripe, each account
sees, lists, retrieves and refunds only its own objects, and replays only its own
`Idempotency-Key`s. `fail_next` and `delay_next` make the next API calls fail (before or after
taking effect) or answer slowly. Every request is recorded (`fake.requests`); `form_fields` decodes one.

Run it for a local demo: `python -m forkable.testing.fake_stripe --port 12111 --webhook-url
http://127.0.0.1:8000/api/webhooks/stripe`, then start forkable with the
`FORKABLE_STRIPE_API_BASE`, `STRIPE_SECRET_KEY` and `STRIPE_WEBHOOK_SECRET` it prints. A
session's `url` is a small page whose "Pay" button completes the session, delivers the event
to `--webhook-url` and sends the browser to `success_url`.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import html
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from forkable.testing._stripe_forms import (
    Obj,
    StripeError,
    charge_object,
    checkout_params,
    dispute_object,
    error_reply,
    event_filter,
    event_object,
    fault_error,
    form_pairs,
    idempotency_mismatch,
    json_reply,
    new_id,
    newest_first,
    paginate,
    parse_form,
    query_of,
    refund_object,
    refund_params,
    session_filter,
    session_object,
)
from forkable.testing.http import LoopbackServer, LoopbackService, RecordedRequest, Reply

API_VERSION = "2026-10-28.endive"  # what stripe-python 16.1 pins
WEBHOOK_USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
_PAGE = """<!doctype html><title>Fake Stripe Checkout</title>
<h1>Fake Stripe Checkout</h1><p>{amount} {currency} &middot; session {id} is {status}</p>
<form method="post"><button name="action" value="pay">Pay</button>
<button name="action" value="cancel">Cancel</button></form>"""


def form_fields(request: RecordedRequest) -> dict[str, str]:
    """The decoded flat fields a request sent: a POST's form body, otherwise its query string."""
    text = (
        request.body.decode(errors="replace")
        if request.method == "POST"
        else query_of(request.path)
    )
    return dict(form_pairs(text))


@dataclass
class _Fault:
    status: int | None  # None: answer normally
    commit: bool  # the request takes effect before the answer goes wrong
    delay: float


class FakeStripe(LoopbackService):
    """The fake Stripe API and the Stripe side of webhooks; see the module docstring."""

    def __init__(
        self,
        *,
        api_key: str = "sk_test_fake",
        webhook_secret: str = "whsec_test_fake",  # noqa: S107 - a test secret
        port: int = 0,
        webhook_url: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url  # where the pay page delivers its events (demo use)
        self.api_version = API_VERSION
        self.sessions: dict[str, Obj] = {}
        self.events: list[Obj] = []
        self.charges: dict[str, Obj] = {}  # by session id
        self.refunds: list[Obj] = []  # made through `POST /v1/refunds`
        self.api_keys: set[str] = {api_key}  # one per Stripe account
        self._account_of: dict[str, str] = {}  # object id (session, charge, event) -> its key
        self._intent_metadata: dict[str, dict[str, str]] = {}  # by session id
        self._idempotent: dict[str, tuple[Any, Reply]] = {}
        self._faults: deque[_Fault] = deque()
        self._lock = threading.RLock()
        self.server = LoopbackServer(self._handle, port=port)

    def add_account(self, api_key: str) -> None:
        """Another Stripe account on this fake, reached with its own secret key."""
        with self._lock:
            self.api_keys.add(api_key)

    # -- misbehaviour a test can script --------------------------------------------------

    def fail_next(self, status: int = 500, *, after_commit: bool = False, times: int = 1) -> None:
        """Answer the next ``times`` API calls with ``status``; ``after_commit``: they took effect."""
        with self._lock:
            self._faults.extend(_Fault(status, after_commit, 0.0) for _ in range(times))

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """Take effect at once but answer the next ``times`` API calls ``seconds`` late."""
        with self._lock:
            self._faults.extend(_Fault(None, True, seconds) for _ in range(times))

    # -- what the buyer and Stripe do: each returns the event(s), not yet delivered -------

    def make_event(self, type: str, obj: Obj) -> Obj:
        """Record and return an event of ``type`` carrying a snapshot of ``obj``."""
        event = event_object(type, obj, self.api_version)
        with self._lock:
            self.events.append(event)
            owner = obj["id"] if obj["id"] in self._account_of else obj.get("charge")
            self._account_of[event["id"]] = self._account_of.get(str(owner), self.api_key)
        return event

    def complete_session(self, session_id: str, *, payment_status: str = "paid") -> Obj:
        """The buyer paid (``"paid"``) or started a delayed payment (``"unpaid"``)."""
        with self._lock:
            session = self._session_in(session_id, "open")
            session.update(status="complete", payment_status=payment_status, url=None)
            session["payment_intent"] = session["payment_intent"] or new_id("pi_")
            email = session["customer_email"] or "buyer@example.com"
            session["customer_details"] = {"email": email, "name": "Test Buyer"}
            if payment_status == "paid":
                self._charge(session)
            return self.make_event("checkout.session.completed", session)

    def async_payment_succeeded(self, session_id: str) -> Obj:
        """A delayed payment cleared."""
        with self._lock:
            session = self._session_in(session_id, "complete", "unpaid")
            session["payment_status"] = "paid"
            self._charge(session)
            return self.make_event("checkout.session.async_payment_succeeded", session)

    def async_payment_failed(self, session_id: str) -> Obj:
        """A delayed payment failed; the session stays complete and unpaid."""
        with self._lock:
            session = self._session_in(session_id, "complete", "unpaid")
            return self.make_event("checkout.session.async_payment_failed", session)

    def expire_session(self, session_id: str) -> Obj:
        """The session expired unpaid (or was expired through the API)."""
        with self._lock:
            session = self._session_in(session_id, "open")
            session.update(status="expired", url=None)
            return self.make_event("checkout.session.expired", session)

    def refund(self, session_id: str, *, amount: int | None = None) -> Obj:
        """Refund ``amount`` (default: all that is left) of the session's charge."""
        with self._lock:
            charge = self._paid_charge(session_id)
            left = charge["amount"] - charge["amount_refunded"]
            charge["amount_refunded"] += left if amount is None else min(amount, left)
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            return self.make_event("charge.refunded", charge)

    def dispute(self, session_id: str) -> Obj:
        """The buyer's bank opened a fraud dispute on the session's charge."""
        with self._lock:
            charge = self._paid_charge(session_id)
            charge["disputed"] = True
            dispute = dispute_object(charge)
            return self.make_event("charge.dispute.created", dispute)

    def _session_in(self, session_id: str, status: str, payment_status: str | None = None) -> Obj:
        session = self.sessions.get(session_id)
        if session is None:
            raise KeyError(f"no session {session_id}")
        if session["status"] != status or payment_status not in (None, session["payment_status"]):
            state = f"{session['status']}/{session['payment_status']}"
            raise ValueError(f"session {session_id} is {state}; Stripe would not do that")
        return session

    def _charge(self, session: Obj) -> None:
        metadata = self._intent_metadata.get(session["id"], {})
        charge = charge_object(session, metadata)
        self.charges[session["id"]] = charge
        self._account_of[charge["id"]] = self._account(session["id"])

    def _account(self, obj_id: str) -> str:
        return self._account_of.get(obj_id, self.api_key)

    def _mine(self, objects: list[Obj], account: str) -> list[Obj]:
        return [obj for obj in objects if self._account(obj["id"]) == account]

    def _paid_charge(self, session_id: str) -> Obj:
        charge = self.charges.get(session_id)
        if charge is None:
            raise ValueError(f"session {session_id} has no successful charge")
        return charge

    # -- webhook delivery, exactly as Stripe signs and sends it ---------------------------

    def signature_header(
        self, payload: bytes, *, timestamp: int | None = None, secret: str | None = None
    ) -> str:
        """``t=<unix time>,v1=<hex HMAC-SHA256 of "t.payload">`` keyed with the whole secret."""
        stamp = int(time.time()) if timestamp is None else timestamp
        key = (self.webhook_secret if secret is None else secret).encode()
        digest = hmac.new(key, f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
        return f"t={stamp},v1={digest}"

    def deliver(
        self,
        event: Obj,
        url: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        tamper: bool = False,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST ``event`` to ``url``, signed; ``tamper`` flips its ``livemode`` after signing."""
        body = json.dumps(event, indent=2).encode()
        signature = self.signature_header(body, timestamp=timestamp, secret=secret)
        if tamper:
            body = json.dumps({**event, "livemode": not event.get("livemode")}, indent=2).encode()
        sent = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": WEBHOOK_USER_AGENT,
            "Stripe-Signature": signature,
            "Cache-Control": "no-cache",
            **(headers or {}),
        }
        return httpx.post(url, content=body, headers=sent, timeout=10.0)

    # -- the HTTP API ---------------------------------------------------------------------

    def _handle(self, request: RecordedRequest) -> Reply:
        path = urlsplit(request.path).path
        if path.startswith("/pay/"):
            return self._pay_page(request, path.removeprefix("/pay/"))
        try:
            account = self._authenticate(request.headers.get("authorization", ""))
            with self._lock:
                fault = self._faults.popleft() if self._faults else None
            if fault is not None and fault.status is not None and not fault.commit:
                raise fault_error(fault.status)
            reply = self._answer(request, path, account)
            if fault is not None and fault.status is not None:
                reply = error_reply(fault_error(fault.status))
        except StripeError as exc:
            return error_reply(exc)
        if fault is not None:
            reply = Reply(reply.status, reply.body, reply.headers, delay=fault.delay)
        return reply

    def _authenticate(self, authorization: str) -> str:
        """The account (its secret key) a request is made with."""
        if not authorization.startswith("Bearer ") or not authorization[7:].strip():
            raise StripeError(401, "You did not provide an API key.")
        key = authorization[7:].strip()
        if key not in self.api_keys:
            raise StripeError(401, f"Invalid API Key provided: {key[:8]}****{key[-4:]}")
        return key

    def _answer(self, request: RecordedRequest, path: str, account: str) -> Reply:
        if request.method != "POST":
            with self._lock:
                query = parse_form(query_of(request.path))
                return json_reply(200, self._dispatch("GET", path, query, account))
        params = parse_form(request.body.decode(errors="replace"))
        key = request.headers.get("idempotency-key")
        stored = f"{account} {key}"  # Stripe keeps idempotency keys per account
        with self._lock:  # one POST at a time: a concurrent retry waits, then replays
            saved = self._idempotent.get(stored) if key else None
            if saved is not None:
                return self._replay(saved, (path, params), key or "")
            reply = json_reply(200, self._dispatch("POST", path, params, account))
            if key:
                reply.headers["idempotency-key"] = key
                self._idempotent[stored] = ((path, params), reply)
            return reply

    @staticmethod
    def _replay(saved: tuple[Any, Reply], fingerprint: Any, key: str) -> Reply:
        if saved[0] != fingerprint:
            raise idempotency_mismatch(key)
        reply = saved[1]
        return Reply(reply.status, reply.body, {**reply.headers, "idempotent-replayed": "true"})

    def _dispatch(self, method: str, path: str, params: Obj, account: str) -> Obj:
        match method, path.strip("/").split("/"):
            case "POST", ["v1", "checkout", "sessions"]:
                return self._create_session(params, account)
            case "GET", ["v1", "checkout", "sessions"]:
                sessions = newest_first(self._mine(list(self.sessions.values()), account))
                return paginate(sessions, session_filter(params), params, "/v1/checkout/sessions")
            case "GET", ["v1", "checkout", "sessions", session_id]:
                found = self._own(self.sessions.get(session_id), account)
                return copy.deepcopy(self._found(found, session_id))
            case "POST", ["v1", "checkout", "sessions", session_id, "expire"]:
                self._found(self._own(self.sessions.get(session_id), account), session_id)
                return self._expire_via_api(session_id)
            case "POST", ["v1", "refunds"]:
                return self._refund_via_api(params, account)
            case "GET", ["v1", "events"]:
                newest = newest_first(self._mine(list(self.events), account))
                return paginate(newest, event_filter(params), params, "/v1/events")
            case "GET", ["v1", "events", event_id]:
                found = next((e for e in self.events if e["id"] == event_id), None)
                return self._found(self._own(found, account), event_id, "event")
        raise StripeError(
            404, f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs"
        )

    def _own(self, obj: Obj | None, account: str) -> Obj | None:
        """``obj`` if it belongs to ``account``: another account's objects do not exist for it."""
        return obj if obj is not None and self._account(obj["id"]) == account else None

    @staticmethod
    def _found(obj: Obj | None, obj_id: str, kind: str = "checkout.session") -> Obj:
        if obj is None:
            raise StripeError(
                404, f"No such {kind}: '{obj_id}'", code="resource_missing", param="id"
            )
        return obj

    def _create_session(self, params: Obj, account: str) -> Obj:
        fields = checkout_params(params)
        session_id = new_id("cs_test_", 58)
        self._account_of[session_id] = account
        self._intent_metadata[session_id] = fields.pop("payment_intent_metadata")
        session = session_object(session_id, fields, f"{self.url}/pay/{session_id}")
        self.sessions[session_id] = session
        return copy.deepcopy(session)

    def _expire_via_api(self, session_id: str) -> Obj:
        session = self._found(self.sessions.get(session_id), session_id)
        if session["status"] != "open":
            raise StripeError(
                400, 'Only Checkout Sessions with a status in ["open"] can be expired.'
            )
        return copy.deepcopy(self.expire_session(session_id)["data"]["object"])

    def _refund_via_api(self, params: Obj, account: str) -> Obj:
        """Refund a PaymentIntent's charge (all that is left by default); emits `charge.refunded`."""
        fields = refund_params(params)
        intent = fields["payment_intent"]
        charges = self._mine(list(self.charges.values()), account)
        charge = next((c for c in charges if c["payment_intent"] == intent), None)
        if charge is None:
            raise StripeError(
                404, f"No such payment_intent: '{intent}'", code="resource_missing", param="id"
            )
        left = charge["amount"] - charge["amount_refunded"]
        if charge["disputed"]:
            raise StripeError(
                400, f"Charge {charge['id']} has been charged back.", code="charge_disputed"
            )
        if left <= 0:
            raise StripeError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = left if fields["amount"] is None else fields["amount"]
        if amount > left:
            raise StripeError(
                400,
                f"Refund amount ({amount}) is greater than what is left ({left}).",
                param="amount",
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = refund_object(charge, amount, fields)
        self.refunds.append(refund)
        self.make_event("charge.refunded", charge)
        return copy.deepcopy(refund)

    # -- the Checkout page a browser is sent to (demo and browser tests) ------------------

    def _pay_page(self, request: RecordedRequest, session_id: str) -> Reply:
        session = self.sessions.get(session_id)
        if session is None:
            return Reply(404, b"No such Checkout Session.", {"content-type": "text/plain"})
        if request.method == "POST":
            return self._pay_action(session, form_fields(request).get("action"))
        page = _PAGE.format(
            amount=session["amount_total"] / 100,
            currency=html.escape(session["currency"].upper()),
            id=html.escape(session_id),
            status=html.escape(session["status"]),
        )
        return Reply(200, page.encode(), {"content-type": "text/html; charset=utf-8"})

    def _pay_action(self, session: Obj, action: str | None) -> Reply:
        if action == "pay" and session["status"] == "open":
            event = self.complete_session(session["id"])
            if self.webhook_url:
                try:
                    self.deliver(event, self.webhook_url)
                except httpx.HTTPError:
                    pass  # like Stripe, the redirect does not wait for the webhook to succeed
        paid = action == "pay" and session["status"] == "complete"
        target = session["success_url"] if paid else session["cancel_url"]
        return Reply(303, b"", {"location": target or session["success_url"]})


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake Stripe API on loopback.")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--api-key", default="sk_test_fake")
    parser.add_argument("--webhook-secret", default="whsec_test_fake")
    parser.add_argument("--webhook-url", help="where the pay page delivers its events")
    args = parser.parse_args()
    fake = FakeStripe(
        api_key=args.api_key,
        webhook_secret=args.webhook_secret,
        port=args.port,
        webhook_url=args.webhook_url,
    )
    with fake:
        lines = [
            f"fake Stripe listening on {fake.url}",
            f"FORKABLE_STRIPE_API_BASE={fake.url}",
            f"STRIPE_SECRET_KEY={fake.api_key}",
            f"STRIPE_WEBHOOK_SECRET={fake.webhook_secret}",
        ]
        print("\n".join(lines), flush=True)  # noqa: T201
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
