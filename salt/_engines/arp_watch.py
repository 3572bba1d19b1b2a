"""
Heal on the first packet, for good: a minion
engine that runs :py:func:`arp.watch <salt.modules.arp.watch>` round after
round, so that a database repairs a black hole from the SYN, ARP or
neighbour discovery frame that reveals it, whether or not the new owner of
the address is a Salt minion. Each round watches ``round_seconds``; a
round's repairs (``replaced``, ``deleted``) are fired to the master as one
``arp_hygiene/watch/repaired`` event. A round that fails (an interface or a
namespace that is not there yet) is logged, and the next begins
``retry_seconds`` later: the engine never stops on its own.

The rate limits are a round's: an address may be asked once more at the
start of each round (``window`` below ``round_seconds`` keeps that rare).

Configuration (minion configuration; restart the minion after a change; the
formula's pillar ``arp_hygiene:watch`` writes it and restarts the minion):

.. code-block:: yaml

    engines:
      - arp_watch:
          interface: eth0
          family: all
          round_seconds: 60

Every argument of ``arp.watch`` but ``seconds`` is taken (``interface``,
``family``, ``network``, ``exclude``, ``netns``, ``timeout``, ``window``,
``rate``, ``test``, ``metrics_dir``), with its defaults; ``test: true`` asks
and reports, and changes nothing; with ``metrics_dir`` each round writes
``arp_hygiene_watch.prom`` there.
"""

import logging
import time

log = logging.getLogger(__name__)

__virtualname__ = "arp_watch"
REPAIRED_TAG = "arp_hygiene/watch/repaired"
# What a round of arp.watch reports that changed the table.
REPAIRS = ("replaced", "deleted")


def __virtual__():
    return __virtualname__


def start(round_seconds=60, retry_seconds=10, **selection):
    """Watch for good, ``round_seconds`` a round (see the module's documentation)."""
    log.info("arp_watch engine: watching in rounds of %s s (%s)", round_seconds, selection or "every interface")
    while True:
        began = time.monotonic()
        try:
            ret = __salt__["arp.watch"](seconds=round_seconds, **selection)
        except Exception as err:  # pylint: disable=broad-except  (a failed round must not end the engine)
            log.error("arp_watch engine: the round failed: %s; the next in %s s", err, retry_seconds)
            time.sleep(max(0.0, began + retry_seconds - time.monotonic()))
            continue
        repairs = {key: ret[key] for key in REPAIRS if ret.get(key)}
        if repairs:
            log.warning("arp_watch engine: repaired %s", repairs)
            __salt__["event.send"](REPAIRED_TAG, {**repairs, "netns": selection.get("netns")})
