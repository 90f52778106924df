"""Shipping a site: generated deploy files, GitHub and Vercel."""
