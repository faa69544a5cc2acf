"""Restorers: image + per-pixel region maps → restored image."""
