"""Stripe's wire format for the fake: nested form keys, errors, ids, lists, session params."""

from __future__ import annotations

import copy
import json
import operator
import re
import secrets
import string
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from forkable.testing.http import Reply

Obj = dict[str, Any]
SESSION_LIFETIME = 86400

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_INT = re.compile(r"^-?\d+$")
_ALPHABET = string.ascii_letters + string.digits
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_CREATE_KEYS = frozenset(
    {
        "mode",
        "line_items",
        "success_url",
        "cancel_url",
        "client_reference_id",
        "metadata",
        "payment_intent_data",
        "customer_email",
        "expand",
    }
)
_LINE_ITEM_KEYS = frozenset({"price_data", "quantity"})
_PRICE_DATA_KEYS = frozenset({"currency", "unit_amount", "product_data"})
_PRODUCT_DATA_KEYS = frozenset({"name", "description"})


class StripeError(Exception):
    """An API error, raised while handling a request and answered in Stripe's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error: dict[str, Any] = {"type": type, "message": message}
        if code:
            self.error["code"] = code
        if param:
            self.error["param"] = param


def missing(param: str) -> StripeError:
    """400 for a required parameter that was not sent."""
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def invalid(param: str, message: str, code: str = "parameter_invalid") -> StripeError:
    """400 for a parameter with a value Stripe refuses."""
    return StripeError(400, message, code=code, param=param)


def unknown(param: str) -> StripeError:
    """400 for a parameter Stripe (or this fake) does not know."""
    return StripeError(
        400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def form_pairs(text: str) -> list[tuple[str, str]]:
    """The decoded ``key=value`` pairs of a form body or query string, in order."""
    return parse_qsl(text, keep_blank_values=True)


def query_of(path: str) -> str:
    """The query string of a request path."""
    return urlsplit(path).query


def parse_form(text: str) -> dict[str, Any]:
    """Decode Stripe's nested form encoding: ``a[b][0][c]=v`` -> ``{"a": {"b": [{"c": "v"}]}}``."""
    root: dict[str, Any] = {}
    for key, value in form_pairs(text):
        match = _KEY.match(key)
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))] if match else [key]
        _insert(root, parts, value, key)
    return _listify(root, "")


def _insert(node: dict[str, Any], parts: list[str], value: str, key: str) -> None:
    for depth, part in enumerate(parts):
        part = part or str(len(node))  # "a[]=x" appends
        if depth == len(parts) - 1:
            if isinstance(node.get(part), dict):
                raise invalid(key, f"Invalid value for {key}: expected a hash.")
            node[part] = value
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise invalid(key, f"Invalid hash for {key}.")
        node = child


def _listify(node: dict[str, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{path}[{key}]" if path else key
        if isinstance(value, dict):
            value = _listify(value, name)
            if value and key != "metadata" and all(k.isdigit() for k in value):
                value = _as_list(value, name)
        out[key] = value
    return out


def _as_list(node: dict[str, Any], name: str) -> list[Any]:
    indexes = sorted(int(k) for k in node)
    if indexes != list(range(len(indexes))):
        raise invalid(name, f"Invalid array for {name}: indexes must start at 0 and be contiguous.")
    return [node[str(i)] for i in indexes]


def integer(value: Any, param: str, *, minimum: int = 0) -> int:
    """A form value as an int, refused like Stripe if it is not one (or below ``minimum``)."""
    if not isinstance(value, str) or not _INT.match(value):
        raise invalid(param, f"Invalid integer: {value}", "parameter_invalid_integer")
    number = int(value)
    if number < minimum:
        raise invalid(param, f"Invalid {param}: must be at least {minimum}")
    return number


def _known(params: dict[str, Any], allowed: frozenset[str], prefix: str) -> None:
    for key in params:
        if key not in allowed:
            raise unknown(f"{prefix}[{key}]" if prefix else key)


def _string(params: dict[str, Any], key: str, param: str, max_length: int = 5000) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(param, f"Invalid string: {param} must be a string.")
    if len(value) > max_length:
        raise invalid(param, f"Invalid {param}: must be at most {max_length} characters.")
    return value


def _url(params: dict[str, Any], key: str) -> str | None:
    value = _string(params, key, key)
    if value is not None and urlsplit(value).scheme not in ("http", "https"):
        raise invalid(key, "Not a valid URL", "url_invalid")
    return value


def metadata(value: Any, param: str) -> dict[str, str]:
    """Validate metadata as Stripe does: at most 50 string keys of <= 40 chars, values <= 500."""
    if value is None or value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid(param, f"Invalid {param}: must be a hash of strings.")
    if len(value) > 50:
        raise invalid(param, f"Invalid {param}: at most 50 keys.")
    for key, text in value.items():
        if len(key) > 40 or len(text) > 500:
            raise invalid(f"{param}[{key}]", "Metadata keys are at most 40 characters, values 500.")
    return {k: v for k, v in value.items() if v != ""}


def _line_item(item: Any, index: int) -> tuple[str, int, int]:
    base = f"line_items[{index}]"
    if not isinstance(item, dict):
        raise invalid(base, f"Invalid hash for {base}.")
    _known(item, _LINE_ITEM_KEYS, base)
    price = item.get("price_data")
    if not isinstance(price, dict):
        raise missing(f"{base}[price_data]")
    _known(price, _PRICE_DATA_KEYS, f"{base}[price_data]")
    currency = _string(price, "currency", f"{base}[price_data][currency]", 3)
    if currency is None or len(currency) != 3:
        raise missing(f"{base}[price_data][currency]")
    if "unit_amount" not in price:
        raise missing(f"{base}[price_data][unit_amount]")
    amount = integer(price["unit_amount"], f"{base}[price_data][unit_amount]")
    product = price.get("product_data")
    if not isinstance(product, dict):
        raise missing(f"{base}[price_data][product_data]")
    _known(product, _PRODUCT_DATA_KEYS, f"{base}[price_data][product_data]")
    if _string(product, "name", f"{base}[price_data][product_data][name]") is None:
        raise missing(f"{base}[price_data][product_data][name]")
    if "quantity" not in item:
        raise missing(f"{base}[quantity]")
    return currency.lower(), amount, integer(item["quantity"], f"{base}[quantity]", minimum=1)


def checkout_params(params: dict[str, Any]) -> dict[str, Any]:
    """The session fields a create request sets, validated like Stripe for what forkable uses."""
    _known(params, _CREATE_KEYS, "")
    mode = _string(params, "mode", "mode")
    if mode is None:
        raise missing("mode")
    if mode != "payment":
        raise invalid("mode", f"Invalid mode: {mode!r} (this fake supports only 'payment').")
    items = params.get("line_items")
    if not isinstance(items, list) or not items:
        raise missing("line_items")
    lines = [_line_item(item, i) for i, item in enumerate(items)]
    if len({currency for currency, _, _ in lines}) > 1:
        raise invalid("line_items", "All line items must use the same currency.")
    success_url = _url(params, "success_url")
    if success_url is None:
        raise missing("success_url")
    intent = params.get("payment_intent_data") or {}
    if not isinstance(intent, dict):
        raise invalid("payment_intent_data", "Invalid hash for payment_intent_data.")
    _known(intent, frozenset({"metadata"}), "payment_intent_data")
    total = sum(amount * quantity for _, amount, quantity in lines)
    return {
        "mode": mode,
        "currency": lines[0][0],
        "amount_subtotal": total,
        "amount_total": total,
        "success_url": success_url,
        "cancel_url": _url(params, "cancel_url"),
        "client_reference_id": _string(params, "client_reference_id", "client_reference_id", 200),
        "customer_email": _string(params, "customer_email", "customer_email", 800),
        "metadata": metadata(params.get("metadata"), "metadata"),
        "payment_intent_metadata": metadata(
            intent.get("metadata"), "payment_intent_data[metadata]"
        ),
    }


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-looking object id: ``prefix`` and random base-62 characters."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def json_reply(status: int, payload: Obj, headers: dict[str, str] | None = None) -> Reply:
    """A JSON answer as Stripe sends it, with a ``Request-Id``."""
    base = {"content-type": "application/json", "request-id": new_id("req_", 14)}
    return Reply(status, json.dumps(payload, indent=2).encode(), {**base, **(headers or {})})


def error_reply(exc: StripeError) -> Reply:
    """Stripe's error body for ``exc``."""
    return json_reply(exc.status, {"error": exc.error})


def fault_error(status: int) -> StripeError:
    """The error Stripe answers with ``status`` (a scripted failure)."""
    if status == 429:
        return StripeError(429, "Request rate limit exceeded.", code="rate_limit")
    if status >= 500:
        return StripeError(status, "An unknown error occurred.", type="api_error")
    return StripeError(status, "The fake was told to fail this request.")


def newest_first(objects: list[Obj]) -> list[Obj]:
    """``objects`` newest first; among equal ``created``, the later-made first."""
    ordered = sorted(enumerate(objects), key=lambda p: (p[1]["created"], p[0]), reverse=True)
    return [obj for _, obj in ordered]


def created_matches(created: int, spec: Any) -> bool:
    """Whether ``created`` passes a ``created`` filter (``123`` or ``{gte: 123, ...}``)."""
    if spec is None:
        return True
    if not isinstance(spec, dict):
        return created == integer(spec, "created")
    for op in spec:
        if op not in _COMPARE:
            raise unknown(f"created[{op}]")
    return all(_COMPARE[op](created, integer(v, f"created[{op}]")) for op, v in spec.items())


def check_list_params(params: Obj, allowed: set[str]) -> None:
    """Refuse list params other than ``allowed`` and the pagination ones."""
    for key in params:
        if key not in allowed | {"limit", "starting_after", "ending_before", "expand"}:
            raise unknown(key)


def paginate(pool: list[Obj], keep: Callable[[Obj], bool], params: Obj, url: str) -> Obj:
    """One page of ``pool`` (newest first) as Stripe lists it, with its cursors and limit."""
    limit = integer(params.get("limit", "10"), "limit", minimum=1)
    if limit > 100:
        raise invalid("limit", "Invalid limit: must be at most 100")
    ids = [obj["id"] for obj in pool]
    cursor_param = "starting_after" if params.get("starting_after") else "ending_before"
    cursor = params.get(cursor_param)
    if cursor is not None and cursor not in ids:
        raise invalid(cursor_param, f"No such object: '{cursor}'", "resource_missing")
    if cursor is None or cursor_param == "starting_after":
        rest = [o for o in pool[ids.index(cursor) + 1 if cursor else 0 :] if keep(o)]
        data, more = rest[:limit], len(rest) > limit
    else:
        rest = [o for o in pool[: ids.index(cursor)] if keep(o)]
        data, more = rest[-limit:], len(rest) > limit
    return {"object": "list", "data": data, "has_more": more, "url": url}


def session_filter(params: Obj) -> Callable[[Obj], bool]:
    """Which Checkout Sessions a list request's filters keep."""
    check_list_params(params, {"created", "status", "payment_intent"})
    return lambda s: (
        created_matches(s["created"], params.get("created"))
        and params.get("status") in (None, s["status"])
        and params.get("payment_intent") in (None, s["payment_intent"])
    )


def event_filter(params: Obj) -> Callable[[Obj], bool]:
    """Which Events a list request's filters keep (``type`` may end in ``*``)."""
    check_list_params(params, {"created", "type", "types"})
    types = params.get("types") or ([params["type"]] if params.get("type") else None)

    def keep(event: Obj) -> bool:
        if not created_matches(event["created"], params.get("created")):
            return False
        return types is None or any(
            event["type"] == t or (t.endswith("*") and event["type"].startswith(t[:-1]))
            for t in types
        )

    return keep


def idempotency_mismatch(key: str) -> StripeError:
    """400 for an ``Idempotency-Key`` reused with other parameters or on another endpoint."""
    return StripeError(
        400,
        "Keys for idempotent requests can only be used with the same parameters they were "
        f"first used with. Try using a key other than '{key}' if you meant to execute a "
        "different request.",
        type="idempotency_error",
    )


# -- the objects ---------------------------------------------------------------------------


def session_object(session_id: str, fields: Obj, url: str) -> Obj:
    """A new open Checkout Session from validated ``fields`` (see `checkout_params`)."""
    created = int(time.time())
    return {
        "id": session_id,
        "object": "checkout.session",
        **fields,
        "created": created,
        "customer": None,
        "customer_details": None,
        "expires_at": created + SESSION_LIFETIME,
        "livemode": False,
        "payment_intent": None,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "status": "open",
        "success_url": fields["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id),
        "url": url,
    }


def charge_object(session: Obj, metadata: dict[str, str]) -> Obj:
    """The succeeded Charge that paid ``session``; ``metadata`` is its PaymentIntent's."""
    return {
        "id": new_id("ch_"),
        "object": "charge",
        "amount": session["amount_total"],
        "amount_captured": session["amount_total"],
        "amount_refunded": 0,
        "captured": True,
        "created": int(time.time()),
        "currency": session["currency"],
        "disputed": False,
        "livemode": False,
        # Stripe copies the PaymentIntent's metadata to the charge it creates.
        "metadata": dict(metadata),
        "paid": True,
        "payment_intent": session["payment_intent"],
        "refunded": False,
        "status": "succeeded",
    }


def dispute_object(charge: Obj) -> Obj:
    """A new fraud Dispute of the whole ``charge``, waiting for the merchant's evidence."""
    return {
        "id": new_id("dp_"),
        "object": "dispute",
        "amount": charge["amount"],
        "charge": charge["id"],
        "created": int(time.time()),
        "currency": charge["currency"],
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "reason": "fraudulent",
        "status": "needs_response",
    }


_REFUND_KEYS = frozenset({"payment_intent", "amount", "metadata", "reason"})
_REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def refund_params(params: dict[str, Any]) -> dict[str, Any]:
    """What a `POST /v1/refunds` for a PaymentIntent asks for, validated like Stripe."""
    _known(params, _REFUND_KEYS, "")
    intent = _string(params, "payment_intent", "payment_intent", 255)
    if intent is None:
        raise missing("payment_intent")
    reason = _string(params, "reason", "reason")
    if reason not in (None, *_REFUND_REASONS):
        raise invalid("reason", f"Invalid reason: must be one of {', '.join(_REFUND_REASONS)}")
    return {
        "payment_intent": intent,
        "amount": integer(params["amount"], "amount", minimum=1) if "amount" in params else None,
        "reason": reason,
        "metadata": metadata(params.get("metadata"), "metadata"),
    }


def refund_object(charge: Obj, amount: int, fields: Obj) -> Obj:
    """A succeeded Refund of ``amount`` of ``charge``."""
    return {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "charge": charge["id"],
        "created": int(time.time()),
        "currency": charge["currency"],
        "metadata": dict(fields["metadata"]),
        "payment_intent": charge["payment_intent"],
        "reason": fields["reason"],
        "status": "succeeded",
    }


def event_object(type: str, obj: Obj, api_version: str) -> Obj:
    """A snapshot Event of ``type`` carrying a deep copy of ``obj``, as webhooks send it."""
    return {
        "id": new_id("evt_"),
        "object": "event",
        "api_version": api_version,
        "created": int(time.time()),
        "data": {"object": copy.deepcopy(obj)},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }
