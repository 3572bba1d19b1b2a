"""
Heal at a minion's start, from the master: a master engine that reads the
master's event bus and hands every started minion to the runner
``arp_hygiene.forget`` (salt/_runners/arp_hygiene.py), as the formula's
reactor does, without rendering a reactor sls and starting a runner job for
each start (some 20 ms of the reactor's one process each: a storm of 1,000
starts waited 20 s for the reactor alone).

The starts that have come when a call is made go in that one call
(``batch``): the call that finds no heal running serves one heal for them
and for the starts that come while it runs; the others join it. Each heal's
return is fired on the master's bus as ``arp_hygiene/heal`` and its silent
minions are named in the master's log.

Configuration (master config; ``arp_hygiene.master`` writes it from pillar
``arp_hygiene:master``): the engine takes no options; the runner's settings
(``arp_hygiene:targets``, ``tgt_type``, ``timeout``, ``batch_wait``) apply.

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
    log.info("arp_hygiene engine: healing at every minion's start")
    try:
        while True:
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
                threading.Thread(target=context.run, args=(_heal, minions, sender), daemon=True).start()
    finally:
        bus.destroy()
        sender.destroy()


def _heal(minions, sender):
    """The runner's heal for ``minions``: served here (its return fired on the bus), or joined."""
    try:
        ret = __runners__["arp_hygiene.forget"](minion=minions, batch=True)
    except Exception:  # pylint: disable=broad-except
        log.exception("arp_hygiene engine: the heal of %s failed", ", ".join(minions))
        return
    if "error" in ret:
        log.error("arp_hygiene engine: the heal of %s: %s", ", ".join(minions), ret["error"])
    if "jobs" in ret or "error" in ret:
        sender.fire_event(ret, HEAL_TAG)
