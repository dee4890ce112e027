"""The dry-run as one self-contained HTML file: inline CSS and SVG charts, no external asset.

Rendered by Jinja2 with autoescape, because segment titles are text written by marketers.
"""

from __future__ import annotations

from jinja2 import Environment, select_autoescape

from relance.engine.segments.dryrun import Report

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>relance dry-run {{ report.at }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #777; } code { font-size: 0.95em; }
</style></head><body>
<h1>Dry-run at {{ report.at }}</h1>
<p>{{ "{:,}".format(report.contacts) }} contacts, {{ "{:,}".format(report.buyers) }} with an RFM score
(an eligible order in the last 10 years). Nothing was written.</p>

<h2>Segments</h2>
<svg width="960" height="{{ 24 * report.segments|length + 10 }}" role="img" aria-label="segment sizes">
{% for s in report.segments %}
  <text x="0" y="{{ 24 * loop.index0 + 17 }}" font-size="12">{{ s.name }}</text>
  <rect x="260" y="{{ 24 * loop.index0 + 4 }}" height="16" width="{{ (600 * s.share)|round(1) }}" fill="#3b7dd8"></rect>
  <text x="{{ 266 + (600 * s.share)|round(1) }}" y="{{ 24 * loop.index0 + 17 }}" font-size="12">{{ "{:,}".format(s.size) }} ({{ "%.1f"|format(100 * s.share) }}%)</text>
{% endfor %}
</svg>
<table><tr><th>segment</th><th>title</th><th>members</th><th>share</th><th>would enter</th><th>would leave</th><th>sample</th></tr>
{% for s in report.segments %}
<tr><td><code>{{ s.name }}</code></td><td>{{ s.title or "" }}</td><td class="n">{{ "{:,}".format(s.size) }}</td>
<td class="n">{{ "%.1f"|format(100 * s.share) }}%</td>
<td class="n">{{ "" if s.would_enter is none else "{:,}".format(s.would_enter) }}</td>
<td class="n">{{ "" if s.would_leave is none else "{:,}".format(s.would_leave) }}</td>
<td class="muted">{{ s.sample|join(", ") }}</td></tr>
{% endfor %}
</table>

<h2>RFM grid (contacts per recency and frequency score)</h2>
{% set peak = [1] + report.rfm_grid|map("max")|list %}
<svg width="420" height="330" role="img" aria-label="RFM grid">
{% for row in report.rfm_grid %}{% set r = 5 - loop.index0 %}
  <text x="0" y="{{ 60 * loop.index0 + 45 }}" font-size="12">r = {{ r }}</text>
  {% for n in row %}
  <rect x="{{ 50 + 70 * loop.index0 }}" y="{{ 60 * (5 - r) + 15 }}" width="66" height="56"
        fill="#3b7dd8" fill-opacity="{{ (0.08 + 0.92 * n / (peak|max))|round(2) }}"></rect>
  <text x="{{ 83 + 70 * loop.index0 }}" y="{{ 60 * (5 - r) + 48 }}" font-size="12" text-anchor="middle">{{ "{:,}".format(n) }}</text>
  {% endfor %}
{% endfor %}
{% for f in range(1, 6) %}<text x="{{ 83 + 70 * (f - 1) }}" y="325" font-size="12" text-anchor="middle">f = {{ f }}</text>{% endfor %}
</svg>
{% set groups = report.segments|selectattr("reads_rfm")|list %}
{% if groups %}
<h2>Segments on RFM</h2>
<table><tr><th>segment</th><th>members</th><th>share of buyers</th></tr>
{% for s in groups %}<tr><td><code>{{ s.name }}</code> {{ s.title or "" }}</td><td class="n">{{ "{:,}".format(s.size) }}</td>
<td class="n">{{ "%.1f"|format(100 * s.size / (report.buyers or 1)) }}%</td></tr>{% endfor %}
</table>
{% endif %}
</body></html>
"""


def render(report: Report) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(TEMPLATE).render(report=report)
