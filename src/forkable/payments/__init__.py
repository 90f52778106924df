"""Payments: token packs through Stripe Checkout (or demo checkout), credited exactly once."""
