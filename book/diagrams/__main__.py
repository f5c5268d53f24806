"""Write every diagram as an SVG file: ``python -m diagrams OUT_DIR`` (run from the book folder)."""

import sys
from pathlib import Path

from .examples import examples

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "diagrams-out")
    out.mkdir(parents=True, exist_ok=True)
    for diagram in examples():
        print(diagram.save(out))
