"""Amounts of money as buyers read them."""

from __future__ import annotations


def format_money(cents: int, currency: str) -> str:
    """``499, "usd"`` -> ``$4.99``; other currencies as ``4.99 EUR``."""
    symbols = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$"}
    amount = f"{cents / 100:,.2f}"
    symbol = symbols.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"
