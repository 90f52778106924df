"""The token ledger: the only code that changes a balance."""
