"""Time to load (parse, check, compile to Python and SQL) a generated 1,000-line rule set.

Prints the median of several loads, then `load_s_1000_lines=X` as the last line (target < 0.5 s).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import relance  # noqa: E402
from relance.grammar import parser  # noqa: E402

TEMPLATES = [
    'segment s{i} "Segment {i}":\n    count(orders where status == "paid" and created_at > now - {m} months) >= {n}\n'
    '    and contact.country in ["FR", "BE"] and contact.consents.email\n',
    'segment s{i}:\n    days_since(last(orders).created_at) > {d} and sum(orders.total where status == "paid") >= {n}0 EUR\n',
    'segment s{i}:\n    count(events where type == "email_opened" and at > now - {m} months) == 0\n'
    '    or not (contact.email ends with "@yopmail.com")\n',
    'promotion p{i} "Promo {i}":\n    code unique pattern "P{i}-####"\n    when cart.subtotal >= {n}0 EUR and contact.country == "FR"\n'
    '    reward {n}% off order up to 20 EUR\n    exclude items where category == "low-margin"\n'
    '    limit 1 per contact, 500 total\n    valid 2026-01-01 to 2026-12-31, days mon-fri\n',
]


def write_rules(root: Path, lines: int) -> int:
    chunks, count, i = [], 0, 0
    while count < lines:
        text = TEMPLATES[i % len(TEMPLATES)].format(i=i, m=1 + i % 12, n=1 + i % 9, d=30 + i % 300)
        chunks.append(text)
        count += text.count("\n") + 1
        i += 1
    (root / "relance.yaml").write_text("relance: 1\ncurrency: EUR\ntimezone: Europe/Paris\n")
    (root / "rules.rules").write_text("\n".join(chunks))
    return count


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        lines = write_rules(root, 1000)
        start = time.perf_counter()
        parser()
        build = time.perf_counter() - start
        times = []
        for _ in range(5):
            start = time.perf_counter()
            rules = relance.load(root)
            times.append(time.perf_counter() - start)
        print(f"{lines} lines, {len(rules.segments)} segments, {len(rules.promotions)} promotions")
        print(f"parser build (once per process): {build * 1000:.0f} ms")
        print(f"load runs: {', '.join(f'{t * 1000:.0f} ms' for t in times)}")
        print(f"load_s_1000_lines={statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
