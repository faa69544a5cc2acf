"""The conversation: sessions (image versions, undo/redo), the pipeline, explanations, the CLI."""

from pathlib import Path

#: Bundled example photos (public-domain / CC0; see examples/SOURCES.md).
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
