"""pillar.example documents the formula's defaults.yaml: the same keys and values, each key commented."""

import os
import re

import salt.utils.yaml

from tests.conftest import REPO


def load(*path):
    with open(os.path.join(REPO, *path), encoding="utf-8") as stream:
        return stream.read()


def test_pillar_example_holds_exactly_the_defaults():
    assert salt.utils.yaml.safe_load(load("pillar.example")) == salt.utils.yaml.safe_load(
        load("salt", "arp_hygiene", "defaults.yaml")
    )


def test_every_key_of_pillar_example_has_a_comment_above_it():
    lines = load("pillar.example").splitlines()
    uncommented = []
    for number, line in enumerate(lines):
        if re.match(r"\s+[a-z_]+:", line):
            above = lines[number - 1].strip()
            if not above.startswith("#"):
                uncommented.append(line.strip())
    assert uncommented == []
