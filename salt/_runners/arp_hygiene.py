"""
Forget reused addresses across the fleet, from the master.

When a machine starts with an address that an old machine had, the database
minions may still map the address to the old MAC (a black hole, until their
neighbour entry goes). ``forget`` asks the started minion for its own
addresses and MACs (``arp.addresses``) and has the database minions delete
the entries for those addresses that hold another MAC (``arp.forget``);
``audit`` does the same for the whole fleet at once. The formula's reactor
(``salt/arp_hygiene/reactor/start.sls``) runs ``forget`` on every minion
start.

Safety: the only change is a delete on the database minions, never a MAC
written from what a minion claims, so a minion that lies about its addresses
costs at most one address resolution on the database side, never a redirect
of traffic. A minion is asked for its addresses by its id, and only its
authenticated answer counts. Each database minion forgets only inside its own
pillar's selection (``arp_hygiene:flush``: netns, interfaces, network,
exclude); permanent, noarp and routing daemons' entries are never deleted.

Configuration (master config; the ``arp_hygiene.master`` sls writes it from
pillar ``arp_hygiene:master``):

.. code-block:: yaml

    arp_hygiene:
      targets: roles:database   # the minions that forget
      tgt_type: grain
      timeout: 10                # seconds to wait for the minions' answers
      batch_wait: 0.2            # seconds the reactor gathers starts into one batch
"""

import logging
import threading
import time

import salt.client
import salt.utils.minions

log = logging.getLogger(__name__)

__virtualname__ = "arp_hygiene"

DEFAULTS = {"targets": "roles:database", "tgt_type": "grain", "timeout": 10, "batch_wait": 0.2}
# Where each minion's pillar says which addresses are its own, and where a
# database minion may forget (the formula's keys).
ADDRESS_SETTINGS = "arp_hygiene:announce"
FORGET_SETTINGS = "arp_hygiene:flush"
TGT_TYPES = ("glob", "pcre", "list", "grain", "grain_pcre", "pillar", "pillar_pcre", "nodegroup", "range", "compound")

# The reactor's starts, gathered into batches: {key: {"running": bool, "minions": [ids]}}.
_batch_lock = threading.Lock()
_batches = {}


def __virtual__():
    return __virtualname__


class RunnerError(Exception):
    """Bad input or a failed step: reported in the return, nothing changed after it."""


def forget(minion=None, tgt=None, tgt_type=None, test=False, timeout=None, batch=False):
    """
    Have the target minions forget the neighbour entries of ``minion``'s
    addresses that do not hold ``minion``'s MAC.

    Returns ``{"addresses": {minion: {address: mac}}, "targets": {target:
    {"deleted"|"would_delete": {ifname: {dst: old mac}}, "kept": ...}},
    "failed": {minion or target: why}}``; the exit status is 1 when anything
    failed.

    CLI Example:

    .. code-block:: bash

        salt-run arp_hygiene.forget minion=worker7
        salt-run arp_hygiene.forget minion=worker7 test=True
        salt-run arp_hygiene.forget minion=worker7 tgt='db*' tgt_type=glob

    minion
        The id of the minion that owns the addresses (a new machine that
        took an old one's address): it is asked for them.

    tgt, tgt_type
        The minions that forget. Default: the master's configuration
        ``arp_hygiene:targets`` and ``arp_hygiene:tgt_type``, else the grain
        ``roles:database``.

    test
        Report what the targets would delete; nothing is deleted.

    timeout
        Seconds to wait for the minions' answers (default: the master's
        ``arp_hygiene:timeout``, else 10).

    batch
        Serve this minion together with others (the reactor sets it): the
        call that finds no batch running waits ``arp_hygiene:batch_wait``
        seconds, then sends one job to each target for every minion that
        came meanwhile, and again for those that came while that job ran,
        until none is left; it returns every batch's result (``targets``:
        {target: [result of each batch]}). A call that finds a batch running
        joins it and returns at once. A burst of starts thus costs each
        target a few jobs, not one a start, and holds one reactor thread.
    """
    try:
        config = _config(tgt, tgt_type, timeout)
        _boolean(test, "test")
        _boolean(batch, "batch")
        minion = _minion_id(minion)
        if not batch:
            return _forget([minion], config, test)
        key = (str(config["tgt"]), config["tgt_type"], test, config["timeout"])
        result = _batched(minion, key, config, test)
        if result is None:
            return {"batched": f"{minion} joined a batch that another call of arp_hygiene.forget serves"}
        return result
    except RunnerError as err:
        return _failed(str(err))


def audit(tgt=None, tgt_type=None, minions="*", minions_type="glob", fix=False, timeout=None):
    """
    Check the target minions' neighbour tables against the addresses that
    every answering minion owns: report every cached entry whose MAC is not
    its owner's (a black hole, on any network) and every address that two
    minions claim (a conflict: reported, never acted on). ``fix=True``
    deletes exactly the wrong entries.

    Returns ``{"wrong": {target: {ifname: {dst: {"cached": mac, "owner":
    minion, "owner_mac": mac}}}}, "conflicts": {address: {minion: mac}},
    "fixed": bool, "checked": {"owners": n, "addresses": n, "targets": n},
    "unheard": {minion: why}, "failed": {target: why}}``: ``unheard``, the
    minions whose addresses could not be had (down, or without the arp
    module), whose entries are therefore not judged; ``failed``, the targets
    that could not be checked, which sets the exit status to 1.

    CLI Example:

    .. code-block:: bash

        salt-run arp_hygiene.audit
        salt-run arp_hygiene.audit fix=True
        salt-run arp_hygiene.audit tgt=db1 tgt_type=list minions='web*'

    tgt, tgt_type
        The minions whose tables are checked: as for :py:func:`forget`.

    minions, minions_type
        The minions whose addresses count (default: every minion, ``*``).

    fix
        Delete the wrong entries (only those).

    timeout
        As for :py:func:`forget`.
    """
    try:
        config = _config(tgt, tgt_type, timeout)
        _boolean(fix, "fix")
        if minions_type not in TGT_TYPES:
            raise RunnerError(f"minions_type is {minions_type!r}; allowed: {', '.join(TGT_TYPES)}")
        if not isinstance(minions, (str, list)) or not minions:
            raise RunnerError(f"minions must name the minions whose addresses count, not {minions!r}")
        targets = _targets(config, exclude=())
        claims, unheard = _addresses(minions, minions_type, config["timeout"])
        owners, conflicts = _owners(claims)
        lladdr = {address: mac for address, (_, mac) in owners.items()}
        checked = {"owners": len(claims), "addresses": len(lladdr), "targets": len(targets)}
        result = {"wrong": {}, "conflicts": conflicts, "fixed": fix, "checked": checked, "unheard": unheard}
        if not lladdr:
            result["failed"] = {}
            return result
        answers, failed = _run_forget(targets, lladdr, config["timeout"], test=not fix)
        wrong = {}
        for target, answer in answers.items():
            for ifname, entries in answer.get("deleted" if fix else "would_delete", {}).items():
                for dst, cached in entries.items():
                    owner, mac = owners[dst]
                    report = {"cached": cached, "owner": owner, "owner_mac": mac}
                    wrong.setdefault(target, {}).setdefault(ifname, {})[dst] = report
        if failed:
            __context__["retcode"] = 1
        result.update(wrong=wrong, failed=failed)
        return result
    except RunnerError as err:
        return _failed(str(err))


# ------------------------------------------------------------------ steps


def _forget(minions, config, test):
    """forget for the started ``minions``: one question to them, one job to the targets."""
    # The started minions never forget on their own behalf.
    targets = _targets(config, exclude=minions)
    claims, failed = _addresses(minions, "list", config["timeout"])
    owners, conflicts = _owners(claims)
    for address, claimants in conflicts.items():
        failed[address] = f"claimed by {', '.join(sorted(claimants))}: not forgotten"
    lladdr = {address: mac for address, (_, mac) in owners.items()}
    result = {"addresses": claims, "targets": {}, "failed": failed}
    if lladdr:
        result["targets"], target_failures = _run_forget(targets, lladdr, config["timeout"], test)
        failed.update(target_failures)
    if failed:
        __context__["retcode"] = 1
    count = sum(len(entries) for answer in result["targets"].values() for entries in answer.get("deleted", {}).values())
    log.info("arp_hygiene.forget for %s: %d entries deleted", ", ".join(minions), count)
    return result


def _addresses(tgt, tgt_type, timeout):
    """({minion: {address: mac}}, {minion: why}) from the minions that ``tgt`` names."""
    expected = _matching(tgt, tgt_type)
    if not expected:
        raise RunnerError(f"no accepted minion matches {tgt!r} ({tgt_type}): nothing to ask, nothing changed")
    claims, failed = _ask(expected, "arp.addresses", {"settings": ADDRESS_SETTINGS}, timeout)
    if tgt_type == "list" and not claims:
        raise RunnerError("; ".join(f"{minion} {why}" for minion, why in failed.items()) + ": nothing changed")
    return claims, failed


def _owners(claims):
    """({address: (minion, mac)}, conflicts {address: {minion: mac}}) from the claims."""
    claimants = {}
    for minion, owned in claims.items():
        for address, mac in owned.items():
            claimants.setdefault(address, {})[minion] = mac
    owners, conflicts = {}, {}
    for address, by_minion in claimants.items():
        if len(by_minion) == 1:
            ((minion, mac),) = by_minion.items()
            owners[address] = (minion, mac)
        else:
            conflicts[address] = by_minion
    return owners, conflicts


def _targets(config, exclude):
    targets = [minion for minion in _matching(config["tgt"], config["tgt_type"]) if minion not in exclude]
    if not targets:
        raise RunnerError(
            f"no accepted minion matches the target {config['tgt']!r} ({config['tgt_type']}) "
            "(set tgt, or arp_hygiene:targets in the master's configuration): nothing changed"
        )
    return targets


def _run_forget(targets, lladdr, timeout, test):
    """({target: arp.forget's return}, {target: why}): one job for every target."""
    kwarg = {"addresses": sorted(lladdr), "lladdr": lladdr, "settings": FORGET_SETTINGS, "test": test}
    return _ask(targets, "arp.forget", kwarg, timeout)


def _no_return(answer):
    """Is this full return Salt's word for a minion that did not answer?"""
    return isinstance(answer["ret"], str) and answer["ret"].startswith("Minion did not return")


def _ask(minions, function, kwarg, timeout):
    """({minion: its return}, {minion: why not}): one job on ``minions`` (ids)."""
    answers = _client().cmd(minions, function, kwarg=kwarg, tgt_type="list", timeout=timeout, full_return=True)
    done, failed = {}, {}
    for minion in minions:
        answer = answers.get(minion)
        if not isinstance(answer, dict) or "ret" not in answer or answer.get("failed") is True or _no_return(answer):
            # Salt 3006 and 3007 leave a silent minion out; 3008 returns "Minion did not return".
            failed[minion] = f"did not answer {function} within {timeout:g} s"
        elif answer.get("retcode", 0) or not isinstance(answer["ret"], dict):
            failed[minion] = f"{function} failed: {answer['ret']}"
        else:
            done[minion] = answer["ret"]
    return done, failed


def _batched(minion, key, config, test):
    """
    forget for ``minion`` within a batch: the call that finds no batch
    running for ``key`` serves, after batch_wait seconds, every minion that
    joined meanwhile, and again those that joined while it ran, until none
    is left; a call that finds one running joins it and returns None.
    """
    with _batch_lock:
        batch = _batches.setdefault(key, {"running": False, "minions": []})
        batch["minions"].append(minion)
        if batch["running"]:
            return None
        batch["running"] = True
    results = []
    try:
        time.sleep(config["batch_wait"])
        while True:
            with _batch_lock:
                minions, batch["minions"] = list(dict.fromkeys(batch["minions"])), []
                if not minions:
                    break
            try:
                results.append(_forget(minions, config, test))
            except RunnerError as err:
                results.append({"failed": {minion: str(err) for minion in minions}})
    finally:
        with _batch_lock:
            batch["running"] = False
    merged = {"addresses": {}, "targets": {}, "failed": {}, "batches": len(results)}
    for result in results:
        merged["addresses"].update(result.get("addresses", {}))
        merged["failed"].update(result.get("failed", {}))
        for target, answer in result.get("targets", {}).items():
            merged["targets"].setdefault(target, []).append(answer)
    if merged["failed"]:
        __context__["retcode"] = 1
    return merged


# -------------------------------------------------------------- arguments


def _config(tgt, tgt_type, timeout):
    configured = __opts__.get("arp_hygiene") or {}
    if not isinstance(configured, dict):
        raise RunnerError(f"the master's configuration arp_hygiene must be a mapping, not {configured!r}")
    unknown = sorted(set(configured) - set(DEFAULTS))
    if unknown:
        raise RunnerError(f"the master's configuration arp_hygiene has unknown keys: {', '.join(unknown)}")
    config = {**DEFAULTS, **configured}
    config["tgt"] = config.pop("targets") if tgt is None else tgt
    config["tgt_type"] = config["tgt_type"] if tgt_type is None else tgt_type
    config["timeout"] = config["timeout"] if timeout is None else timeout
    if not isinstance(config["tgt"], (str, list)) or not config["tgt"]:
        raise RunnerError(f"tgt must name the minions that forget, not {config['tgt']!r}")
    problem = settings_problem(config)
    if problem:
        key, allowed = problem
        raise RunnerError(f"{key} is {config[key]!r}; allowed: {allowed}")
    config.pop("targets", None)
    return config


def settings_problem(config):
    """
    The first of ``config``'s ``tgt_type``, ``timeout`` and ``batch_wait``
    that the runner does not take, as ``(key, what is allowed)``; None if it
    takes them all. The rules' one home: the formula asks this function about
    pillar ``arp_hygiene:master`` (salt/arp_hygiene/map.py).
    """
    if config["tgt_type"] not in TGT_TYPES:
        return "tgt_type", ", ".join(TGT_TYPES)
    for key in ("timeout", "batch_wait"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 600:
            return key, "a number of seconds from 0 to 600"
    return None


def _minion_id(minion):
    if not isinstance(minion, str) or not minion.strip():
        raise RunnerError("minion is missing: give the id of the minion whose addresses to forget")
    if any(char in minion for char in "*?[],"):
        raise RunnerError(f"minion must be one minion's id, not a pattern or a list: {minion!r}")
    if not _matching(minion, "list"):
        raise RunnerError(f"no accepted minion has the id {minion!r} (salt-key -L lists them): nothing changed")
    return minion


def _boolean(value, what):
    if not isinstance(value, bool):
        raise RunnerError(f"{what} must be True or False, not {value!r}")


def _matching(tgt, tgt_type):
    """The ids of the accepted minions that the target matches (from the master's key and grains caches)."""
    return sorted(salt.utils.minions.CkMinions(__opts__).check_minions(tgt, tgt_type)["minions"])


def _client():
    return salt.client.get_local_client(mopts=__opts__)


def _failed(message):
    __context__["retcode"] = 1
    return {"error": message, "retcode": 1}
