"""Run the benchmarks: ``python -m bench`` (all) or ``python -m bench webhooks``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    available = sorted(m.name.removeprefix("bench_") for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                       if m.name.startswith("bench_"))
    chosen = argv or available
    unknown = [name for name in chosen if name not in available]
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")
    for name in chosen:
        print(f"== bench {name}", flush=True)
        importlib.import_module(f"bench.bench_{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
