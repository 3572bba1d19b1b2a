"""
Heal at a minion's start, from the master: a master engine that reads the
master's event bus and hands every started minion to the runner
``arp_hygiene.forget`` (salt/_runners/arp_hygiene.py), as the formula's
reactor does, without rendering a reactor sls and starting a runner job for
each start (some 20 ms of the reactor's one process each: a storm of 1,000
starts waited 20 s for the reactor alone).

The starts that have come when a call is made go in that one call
(``batch``), with the target minions that the engine asked the runner for
(``arp_hygiene.targets``, every 30 s while no start comes: a grain target
reads every minion's grains, 0.3 ms each, which a heal of a thousand
starts would otherwise wait for): the call that finds no heal running serves one heal for them
and for the starts that come while it runs; the others join it. Each heal's
return is fired on the master's bus as ``arp_hygiene/heal`` and its silent
minions are named in the master's log.

Configuration (master config; ``arp_hygiene.master`` writes it from pillar
``arp_hygiene:master``): the engine takes no options; the runner's settings
``arp_hygiene:targets``, ``tgt_type`` and ``timeout`` apply (it gathers the
starts itself: ``batch_wait`` is the reactor's).

.. code-block:: yaml

    engines:
      - arp_hygiene: {}
"""

import contextvars
import logging
import threading
import time

import salt.utils.event

log = logging.getLogger(__name__)

__virtualname__ = "arp_hygiene"
HEAL_TAG = "arp_hygiene/heal"
# The starts read off the bus within this many seconds of the first are handed on together.
GATHER = 0.02
# The targets are asked again after TARGETS_REFRESH seconds, once no start came for QUIET seconds.
TARGETS_REFRESH, QUIET = 30, 5


def __virtual__():
    return __virtualname__


def started_minion(tag, data):
    """
    The id of the minion whose start event this is, or None: a tag
    ``salt/minion/<id>/start`` whose data's id (the id the master checked
    the sender against) is that id.
    """
    parts = tag.split("/")
    if len(parts) == 4 and parts[:2] == ["salt", "minion"] and parts[3] == "start":
        if isinstance(data, dict) and data.get("id") == parts[2]:
            return parts[2]
    return None


def start():
    """Serve forever: every start event's minion goes to ``arp_hygiene.forget`` (batch) as soon as it is read."""
    bus = salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=True)
    bus.subscribe("salt/minion/")
    sender = salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=False)
    targets = Targets(__runners__["arp_hygiene.targets"])
    log.info("arp_hygiene engine: healing at every minion's start")
    try:
        while True:
            if targets.due():
                targets.refresh()
            event = bus.get_event(wait=1, tag="salt/minion/", full=True)
            minions, end = [], time.monotonic() + GATHER
            while event:
                minion = started_minion(event["tag"], event["data"])
                if minion:
                    minions.append(minion)
                event = bus.get_event(wait=0.001, tag="salt/minion/", full=True) if time.monotonic() < end else None
            if minions:
                # In this thread's copy of the loader's context (__runners__).
                context = contextvars.copy_context()
                heal = (_heal, minions, targets.ids, sender)
                threading.Thread(target=context.run, args=heal, daemon=True).start()
                targets.last_start = time.monotonic()
    finally:
        bus.destroy()
        sender.destroy()


class Targets:
    """
    The minions that forget, as ``arp_hygiene.targets`` (``ask``) lists them:
    asked when the engine starts, then again every TARGETS_REFRESH seconds
    but never within QUIET seconds of a start (a grain target reads every
    minion's grains: not while a heal runs beside it). None until the
    first answer, or when it was an error: the runner resolves them itself.
    """

    def __init__(self, ask):
        self.ask, self.ids, self.when, self.last_start = ask, None, None, None

    def due(self, now=None):
        now = time.monotonic() if now is None else now
        if self.last_start is not None and now - self.last_start < QUIET:
            return False
        return self.when is None or now - self.when >= TARGETS_REFRESH

    def refresh(self):
        answer = self.ask()
        self.ids = answer if isinstance(answer, list) else None
        if self.ids is None:
            log.warning("arp_hygiene engine: the targets: %s", answer.get("error", answer))
        self.when = time.monotonic()


def _heal(minions, targets, sender):
    """The runner's heal for ``minions``: served here (its return fired on the bus), or joined."""
    given = {} if targets is None else {"tgt": targets, "tgt_type": "list"}
    try:
        ret = __runners__["arp_hygiene.forget"](minion=minions, batch=True, batch_wait=0, **given)
    except Exception:  # pylint: disable=broad-except
        log.exception("arp_hygiene engine: the heal of %s failed", ", ".join(minions))
        return
    if "error" in ret:
        log.error("arp_hygiene engine: the heal of %s: %s", ", ".join(minions), ret["error"])
    if "jobs" in ret or "error" in ret:
        sender.fire_event(ret, HEAL_TAG)
