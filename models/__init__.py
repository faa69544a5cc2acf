"""Restora's models: grounding (text/click/box → mask), restorers, quality estimation.

Nothing heavy is imported here; torch, transformers and diffusers are imported inside loaders.
"""
