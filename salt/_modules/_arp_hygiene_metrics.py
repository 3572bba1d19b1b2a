"""
Prometheus metrics of the arp module's runs, in the text exposition format
that node_exporter's textfile collector reads: one file per job
(``arp_hygiene_<job>.prom``), replaced atomically (written beside it under a
name the collector skips, then renamed), so a scrape never sees half a file.

No Salt and no client library here: the format is a few lines of text
(https://prometheus.io/docs/instrumenting/exposition_formats/), and the
module runs in the minion's own Python, where every extra library is one more
thing to install on every database minion. node_exporter's own parser, in
the tests, is the judge of what this writes.
"""

import math
import os

# Gauges all: each file holds the last run's values, which go down as well as up.
KIND = "gauge"


def _label_value(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value):
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return repr(value) if isinstance(value, float) else str(value)


class Metrics:
    """Metric families in the order added: name -> (help, [(labels, value)])."""

    def __init__(self):
        self.families = {}

    def add(self, name, help_text, value, **labels):
        self.families.setdefault(name, (help_text, []))[1].append((labels, value))

    def text(self):
        lines = []
        for name, (help_text, samples) in self.families.items():
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {KIND}")
            for labels, value in samples:
                inside = ",".join(f'{key}="{_label_value(labels[key])}"' for key in sorted(labels))
                lines.append(f"{name}{{{inside}}} {_number(value)}" if inside else f"{name} {_number(value)}")
        return "\n".join(lines) + "\n"


def previous_value(directory, job, name):
    """The value of ``name`` (first sample) in the job's file as it is now, or None."""
    try:
        with open(os.path.join(directory, f"arp_hygiene_{job}.prom"), encoding="utf-8") as current:
            for line in current:
                if line.startswith(name + "{") or line.startswith(name + " "):
                    return float(line.rsplit(" ", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def write(directory, job, metrics):
    """Replace ``directory``/arp_hygiene_``job``.prom with the metrics; returns its path."""
    path = os.path.join(directory, f"arp_hygiene_{job}.prom")
    # Not *.prom: the collector must never read it half written.
    partial = os.path.join(directory, f".arp_hygiene_{job}.prom.{os.getpid()}.partial")
    try:
        with open(partial, "w", encoding="utf-8") as out:
            out.write(metrics.text())
            out.flush()
            os.fsync(out.fileno())
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path
