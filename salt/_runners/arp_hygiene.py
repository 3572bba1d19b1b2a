"""
Forget reused addresses across the fleet, from the master.

When a machine starts with an address that an old machine had, the database
minions may still map the address to the old MAC (a black hole, until their
neighbour entry goes). ``forget`` asks the started minion for its own
addresses and MACs (``arp.addresses``; at a start, what its cached grains
say is forwarded first) and has the database minions delete
the entries for those addresses that hold another MAC (``arp.forget``);
``audit`` does the same for the whole fleet at once. The formula's reactor
(``salt/arp_hygiene/reactor/start.sls``) runs ``forget`` on every minion
start.

Safety: the only change is a delete on the database minions, never a MAC
written from what a minion claims, so a minion that lies about its addresses
costs at most one address resolution on the database side, never a redirect
of traffic. A minion is asked for its addresses by its id, and only what it
said itself counts: its authenticated answer, or the grains it sent the
master at its start. Each database minion forgets only inside its own
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

import collections
import contextvars
import ipaddress
import logging
import queue
import threading
import time

import salt.cache
import salt.client
import salt.utils.event
import salt.utils.jid
import salt.utils.minions

log = logging.getLogger(__name__)

__virtualname__ = "arp_hygiene"
# The runner's functions, which Salt's loader (and the reference page) take
# from here: settings_problem is the formula's, which loads this file itself.
__all__ = ["forget", "targets", "audit"]

DEFAULTS = {"targets": "roles:database", "tgt_type": "grain", "timeout": 10, "batch_wait": 0.2}
# Where each minion's pillar says which addresses are its own, and where a
# database minion may forget (the formula's keys).
ADDRESS_SETTINGS = "arp_hygiene:announce"
FORGET_SETTINGS = "arp_hygiene:flush"
# A heal reads the returns that have come for up to FORWARD_WAIT seconds at
# a time, and sends the answers on to each target once it answered the
# previous forward, or that one went FORWARD_HOLD seconds ago and fewer than
# FORWARD_DEPTH are unanswered (a minion with Salt's default multiprocessing
# runs two at once), and, while other minions' answers are still to come, the
# first of them has waited FORWARD_GATHER seconds (answers that come close
# together go in one forward: a burst costs the targets a few jobs, not one
# an answer). The minions whose grains were forwarded are asked once that
# forward was answered, or went FORWARD_HOLD seconds ago.
FORWARD_WAIT, FORWARD_HOLD, FORWARD_GATHER, FORWARD_DEPTH = 0.02, 1.0, 0.5, 2
# A started minion's addresses, as its grains say, before it answers: a
# minion sends the master its grains (asking for its pillar) before it fires
# its start event, and the master caches them (minion_data_cache, on by
# default). Taken only if cached within CACHE_FRESH seconds.
CACHE_FRESH = 300
MAC_OCTETS = 6
TGT_TYPES = ("glob", "pcre", "list", "grain", "grain_pcre", "pillar", "pillar_pcre", "nodegroup", "range", "compound")

# The reactor's starts, gathered into batches: {key: {"running": bool, "minions": [ids]}}.
_batch_lock = threading.Lock()
_batches = {}
# Job ids made here (_new_jid), so that a job's returns are known before its publication returns.
_jid_lock = threading.Lock()


def __virtual__():
    return __virtualname__


class RunnerError(Exception):
    """Bad input or a failed step: reported in the return, nothing changed after it."""


def forget(minion=None, tgt=None, tgt_type=None, test=False, timeout=None, batch=False, batch_wait=None):
    """
    Have the target minions forget the neighbour entries of ``minion``'s
    addresses that do not hold ``minion``'s MAC.

    Returns ``{"addresses": {minion: {address: mac}}, "targets": {target:
    {"deleted"|"would_delete": {ifname: {dst: old mac}}, "kept": ...}},
    "failed": {minion or target: why}, "silent": [minions]}`` (and, when
    any, ``"forwarded_again": [targets]``; for a batch, ``"jobs"`` and
    ``"from_grains": [minions]``); the exit status is
    1 when anything failed.

    CLI Example:

    .. code-block:: bash

        salt-run arp_hygiene.forget minion=worker7
        salt-run arp_hygiene.forget minion=worker7 test=True
        salt-run arp_hygiene.forget minion=worker7 tgt='db*' tgt_type=glob

    minion
        The id of the minion that owns the addresses (a new machine that
        took an old one's address): it is asked for them. A list of ids
        serves several minions at once (the engine passes the starts it
        read together).

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
        call that finds no heal running waits ``arp_hygiene:batch_wait``
        seconds, then asks every minion that came meanwhile, and those that
        come while it runs, and forwards each answer to the targets as soon
        as it arrives (with the answers that came while the previous
        forward was on its way), until nothing is left; it returns the whole
        heal (``jobs``: how many of each it published). A call that finds a
        heal running joins it and returns at once. A burst of starts thus
        costs each target a few jobs, not one a start, holds one reactor
        thread, and a minion that stays silent holds no other's heal.

        A batch does not wait for the answers to begin: a minion sends the
        master its grains (asking for its pillar) before it fires its start
        event, and the master caches them (``minion_data_cache``, on by
        default). The addresses that those grains name (when cached within
        the last 300 s; ``_cached_addresses``) are forwarded at once, and
        the minions are asked once that forward is done; an answer is
        forwarded only where it differs from the grains (``from_grains``
        names the minions so served). Grains that are wrong (copied with an
        image, or set in the minion's configuration) cost a target at most
        one address resolution per address, as a lie would; the answer
        still heals.

        On a master of masters, a start that a syndic passed up names a
        minion whose key is its syndic's master's: the batch names it in
        ``not_accepted_here`` and leaves it to that master (no question, no
        failure); a call by hand fails, as for any id without a key.

    batch_wait
        Overrides the master's ``arp_hygiene:batch_wait`` (the engine, which
        gathers the starts itself, passes 0).

    Each minion that did not answer within ``timeout`` is named in
    ``silent`` (and in the master's log); the answers of the others are
    forwarded as they come, without waiting for it. A target that did not
    answer a forward within ``timeout`` (down, or so loaded that it dropped
    the job) is sent it once more, named in ``forwarded_again`` (and in the
    log), and fails only when it does not answer that either: arp.forget
    deletes only the entries that do not hold the claimed MAC, so a second
    run after a first that was merely late deletes nothing.
    """
    try:
        config = _config(tgt, tgt_type, timeout, batch_wait)
        _boolean(test, "test")
        _boolean(batch, "batch")
        minions = _minion_ids(minion, check=not batch)
        if not batch:
            return _forget(minions, config, test)
        key = (str(config["tgt"]), config["tgt_type"], test, config["timeout"])
        result = _batched(minions, key, config, test)
        if result is None:
            return {"batched": f"{', '.join(minions)} joined a batch that another call of arp_hygiene.forget serves"}
        return result
    except RunnerError as err:
        return _failed(str(err))


def targets(tgt=None, tgt_type=None):
    """
    The ids of the minions that forget (``arp_hygiene:targets`` and
    ``tgt_type``, or ``tgt``/``tgt_type``), as the master's key and grains
    caches have them now.

    CLI Example:

    .. code-block:: bash

        salt-run arp_hygiene.targets
        salt-run arp_hygiene.targets tgt='db*' tgt_type=glob

    A grain target reads every minion's grains from the master's cache
    (some 0.3 ms a minion): the engine asks this every
    ``TARGETS_REFRESH`` seconds and gives its heals the list.
    """
    try:
        return _targets(_config(tgt, tgt_type, None), exclude=())
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
        # Resolved while the minions are asked (a grain target reads every minion's grains).
        targets = _resolving(config)
        claims, unheard = _addresses(minions, minions_type, config["timeout"])
        targets = targets()
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
    """forget for ``minions`` (called by hand): one heal, served to its end."""
    # The started minions never forget on their own behalf.
    heal = _Heal(config, test, _targets(config, exclude=minions))
    heal.ask(minions)
    try:
        heal.serve(lambda idle: None if idle else [])
    finally:
        heal.close()
    if not heal.claims:
        raise RunnerError("; ".join(f"{minion} {why}" for minion, why in heal.failed.items()) + ": nothing changed")
    return heal.result()


class _Heal:
    """
    One heal: the started minions are asked for their addresses
    (``arp.addresses``), and each answer is forwarded to the target minions
    (``arp.forget``) as soon as it arrives. Each target paces its own
    forwards: while it has not answered the previous one (for FORWARD_HOLD
    s; never more than FORWARD_DEPTH unanswered), what it is owed gathers,
    and goes in one forward once it answers. A slow target thus
    costs itself few jobs and holds no other target's forwards (twenty
    database minions on 2 cores, each sent a forward every second, fell
    behind by half a minute and dropped whole jobs), and a minion that stays
    silent (or slow) holds nobody else's heal; it is reported once its own
    deadline (``timeout`` seconds after it was asked) has passed. A target
    that did not answer a forward by its deadline is owed it again, once.

    One loop reads every return. The jobs are published by two threads of
    their own (:class:`_Publisher`, one for the questions, one for the
    forwards), each with a job id the loop made and knows before the
    publication returns: a publication waits some 0.1 to 0.2 s for the
    master under load, and the loop, which once waited for each, read no
    answer and sent no forward meanwhile (38 questions for a storm of
    1,000 starts). The minions that start while a question is being
    published are asked together in the next one.
    """

    def __init__(self, config, test, targets=None, predict=False):
        self.config, self.test = config, test
        # A batch's started minions: their cached grains' addresses are
        # forwarded while their answers are on their way (_predict).
        self.cache = salt.cache.factory(__opts__) if predict else None
        self.predicted = {}  # {minion: {address: mac}}: forwarded from its grains
        self.bus = salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=True)
        # Subscribed before the first publication: no return is missed.
        self.bus.connect_pub()
        self.outcomes = queue.Queue()
        self.asking = _Publisher("arp.addresses", self.outcomes)
        self.forwarding = _Publisher("arp.forget", self.outcomes)
        # Resolved once a heal (its cost does not grow with the starts); when
        # not given, beside the first questions, in a thread of its own (a
        # grain target reads every minion's grains: 0.27 ms each).
        self.targets = (lambda: targets) if targets is not None else _resolving(config)
        self.to_ask = []  # accepted here, not yet asked
        self.to_confirm = []  # forecast from their grains, not yet asked
        self.claims = {}  # {minion: {address: mac}}
        self.claimed = {}  # {address: {minion: mac}}
        self.pending = {}  # {address: mac}: answered, not yet owed to the targets
        self.pending_since = None  # when the first of them came
        self.owed = {}  # {target: {address: mac}}: to be forwarded to it once it answered the previous forward
        self.missed = set()  # the targets owed a forward again, which they did not answer in time
        self.forwarded_again = set()
        self.open = {}  # {jid: {"function", "waiting": {ids}, "published", "deadline", "kwarg"}}
        self.answers = {}  # {target: its arp.forget answers, merged}
        self.failed, self.silent, self.elsewhere = {}, [], []
        self.jobs = {"arp.addresses": 0, "arp.forget": 0}

    def ask(self, minions):
        """
        Ask ``minions`` (ids) that have an accepted key here for their
        addresses (``arp.addresses``, in the next question :meth:`serve`
        publishes). The others (a syndic's minions, on a master of masters)
        are left to their own master. A minion whose grains this master
        cached within CACHE_FRESH seconds sent them here, with its key: its
        key is not looked up again (two cache reads an id on Salt 3008, in
        the loop that forwards; the question's publication checks it).
        """
        minions = [minion for minion in minions if minion not in self.to_ask and minion not in self.to_confirm]
        forecast = self._predict(minions)
        self.to_confirm.extend(minion for minion in minions if minion in forecast)
        accepted, elsewhere = _accepted_here([minion for minion in minions if minion not in forecast])
        self.to_ask.extend(accepted)
        if elsewhere:
            self.elsewhere.extend(elsewhere)
            log.info(
                "arp_hygiene.forget: no accepted key here for %s (a syndic's minion?): its own master heals it",
                ", ".join(elsewhere),
            )

    def serve(self, more):
        """
        Read returns, forward answers, expire deadlines, and ask the minions
        that ``more(idle)`` names, until it says None (``idle``: nothing is
        open, waits to be asked or forwarded, or is being published).
        """
        while True:
            new = more(self._idle())
            if new is None:
                return
            if new:
                self.ask(new)
            self._published()
            if not self.forwarding.busy:
                self._forward()
            # The minions whose grains forecast their addresses are asked once
            # the forecast's forward is done: its database's job then shares
            # the master with none of their answers.
            confirm = self.to_confirm and not (self.pending or self.forwarding.busy or self._forwarding())
            if (self.to_ask or confirm) and not self.asking.busy:
                minions, self.to_ask = self.to_ask, []
                if confirm:
                    minions, self.to_confirm = minions + self.to_confirm, []
                self._publish(self.asking, minions, {"settings": ADDRESS_SETTINGS})
            self._receive(FORWARD_WAIT)
            self._expire()

    def close(self):
        self.asking.stop()
        self.forwarding.stop()
        self.bus.destroy()

    def result(self):
        conflicts = {address: by for address, by in self.claimed.items() if len(by) > 1}
        for address, claimants in conflicts.items():
            self.failed[address] = f"claimed by {', '.join(sorted(claimants))}: not forgotten"
        if self.failed:
            __context__["retcode"] = 1
        if self.silent:
            log.warning("arp_hygiene.forget: %s did not answer arp.addresses", ", ".join(sorted(self.silent)))
        count = sum(len(e) for answer in self.answers.values() for e in answer.get("deleted", {}).values())
        log.info("arp_hygiene.forget for %s: %d entries deleted", ", ".join(sorted(self.claims)), count)
        result = {"addresses": self.claims, "targets": self.answers, "failed": self.failed}
        result["silent"] = sorted(self.silent)
        if self.forwarded_again:
            result["forwarded_again"] = sorted(self.forwarded_again)
        if self.predicted:
            result["from_grains"] = sorted(self.predicted)
        if self.elsewhere:
            result["not_accepted_here"] = sorted(set(self.elsewhere))
        return result

    def _idle(self):
        busy = self.asking.busy or self.forwarding.busy
        return not (self.open or self.pending or self.owed or self.to_ask or self.to_confirm or busy)

    def _publish(self, publisher, minions, kwarg):
        """Open a job for ``minions`` under a new id, and hand it to ``publisher``'s thread."""
        timeout = self.config["timeout"]
        jid = _new_jid()
        now = time.monotonic()
        self.open[jid] = {
            "function": publisher.function,
            "waiting": set(minions),
            "published": now,
            "deadline": now + timeout,
            "kwarg": kwarg,
        }
        self.jobs[publisher.function] += 1
        publisher.publish(jid, minions, kwarg, timeout)

    def _published(self):
        """The publications' outcomes: the minions the master did not match, or a job it did not take."""
        while True:
            try:
                publisher, jid, minions, matched = self.outcomes.get_nowait()
            except queue.Empty:
                return
            publisher.busy = False
            job = self.open.get(jid)
            if job is None:  # every return came before the outcome
                continue
            for minion in minions:
                if matched is None:
                    self.failed[minion] = f"{publisher.function} could not be published"
                elif minion not in matched:
                    self.failed[minion] = f"no accepted minion has the id {minion!r}: not asked"
                else:
                    continue
                job["waiting"].discard(minion)
            if not job["waiting"]:
                self._close(jid)

    def _receive(self, wait):
        """Take the returns that have come: the first within ``wait`` seconds, the rest as long as they come at once."""
        end = time.monotonic() + wait
        while self.open:
            event = self.bus.get_event(wait=wait, tag="salt/job/", full=True)
            if not event:
                return
            self._returned(event["tag"].split("/"), event["data"])
            wait = 0.001 if time.monotonic() < end else 0
            if not wait:
                return

    def _returned(self, tag, data):
        """One event of the bus: a return of an open job, or nothing to us."""
        job = self.open.get(tag[2]) if len(tag) == 5 and tag[3] == "ret" else None
        if job is None or tag[4] not in job["waiting"]:
            return
        minion, answer = tag[4], data.get("return")
        job["waiting"].discard(minion)
        if not job["waiting"]:
            self._close(tag[2])
        if data.get("retcode", 0) or not isinstance(answer, dict):
            self.failed[minion] = f"{job['function']} failed: {answer}"
        elif job["function"] == "arp.addresses":
            self._claim(minion, answer)
        else:
            self.missed.discard(minion)
            self.answers[minion] = _merged(self.answers.get(minion, {}), answer)

    def _claim(self, minion, owned):
        """
        A minion's answer: its addresses wait to be forwarded, but those that
        another minion claims too, and those its grains named with the same
        MAC (forwarded already, or waiting); what its grains named and it
        does not claim is withdrawn where it still waits.
        """
        self.claims[minion] = owned
        predicted = self.predicted.get(minion, {})
        for address in set(predicted) - set(owned):
            claimants = self.claimed.get(address, {})
            claimants.pop(minion, None)
            if not claimants and self.pending.get(address) == predicted[address]:
                del self.pending[address]
        self._pend(minion, {address: mac for address, mac in owned.items() if predicted.get(address) != mac})

    def _predict(self, minions):
        """
        The addresses that ``minions``' cached grains name (_cached_addresses)
        wait to be forwarded, at once: the minions so forecast (a set).
        """
        forecast = set()
        if self.cache is None:
            return forecast
        for minion, grains in _cached_grains(self.cache, minions).items():
            owned = _cached_addresses(grains)
            if owned and minion not in self.claims:
                self.predicted[minion] = owned
                self._pend(minion, owned, at_once=True)
                forecast.add(minion)
        return forecast

    def _pend(self, minion, owned, at_once=False):
        """``minion``'s ``owned`` addresses wait to be forwarded, but those that another minion claims too."""
        for address, mac in owned.items():
            claimants = self.claimed.setdefault(address, {})
            claimants[minion] = mac
            if len(claimants) == 1:
                now = time.monotonic()
                due = now - FORWARD_GATHER if at_once else now
                self.pending_since = due if not self.pending else min(self.pending_since, due)
                self.pending[address] = mac
            else:  # a conflict: never acted on (but a forward already on its way)
                self.pending.pop(address, None)

    def _expire(self):
        """
        The open jobs past their deadline: a minion that did not answer a
        question is silent; a target that did not answer a forward is owed
        it again (down when it was published, or so loaded that it dropped
        the job), and fails when it does not answer that either.
        arp.forget is idempotent: it deletes only the entries that do not
        hold the claimed MAC, so a second run after a late first deletes
        nothing.
        """
        now = time.monotonic()
        for jid, job in list(self.open.items()):
            if now < job["deadline"]:
                continue
            late = sorted(job["waiting"])
            why = f"did not answer {job['function']} within {self.config['timeout']:g} s"
            if job["function"] == "arp.addresses":
                self.silent.extend(late)
                self.failed.update(dict.fromkeys(late, why))
            else:
                self._owe_again(late, job["kwarg"]["lladdr"], why)
            self._close(jid)

    def _owe_again(self, targets, lladdr, why):
        """``targets`` did not answer the forward of ``lladdr``: owed it again, but those that missed one already."""
        again = [target for target in targets if target not in self.missed]
        for target in targets:
            if target in self.missed:
                self.failed[target] = f"{why}, forwarded twice"
                self.missed.discard(target)
        if again:
            log.warning("arp_hygiene.forget: %s %s: forwarded once more", ", ".join(again), why)
            for target in again:  # what it is owed since is newer
                self.owed[target] = {**lladdr, **self.owed.get(target, {})}
            self.missed.update(again)
            self.forwarded_again.update(again)

    def _close(self, jid):
        del self.open[jid]

    def _gathered(self):
        """Is no other answer to come (asked, not answered, not expired), or has the first waited FORWARD_GATHER s?"""
        coming = self.to_ask or self.to_confirm or self.asking.busy
        coming = coming or any(job["function"] == "arp.addresses" and job["waiting"] for job in self.open.values())
        return not coming or time.monotonic() - self.pending_since >= FORWARD_GATHER

    def _forwarding(self):
        """Is a forward on its way: published less than FORWARD_HOLD s ago, and some target yet to answer?"""
        now = time.monotonic()
        return any(
            job["function"] == "arp.forget" and now - job["published"] < FORWARD_HOLD for job in self.open.values()
        )

    def _busy(self):
        """
        The targets that take no forward now: those with FORWARD_DEPTH
        forwards unanswered, or one sent less than FORWARD_HOLD s ago.
        """
        now, unanswered, recent = time.monotonic(), collections.Counter(), set()
        for job in self.open.values():
            if job["function"] == "arp.forget":
                unanswered.update(job["waiting"])
                if now - job["published"] < FORWARD_HOLD:
                    recent.update(job["waiting"])
        return recent | {target for target, count in unanswered.items() if count >= FORWARD_DEPTH}

    def _forward(self):
        """
        Once the pending answers are gathered, every target owes them; then
        one forward to the targets that answered their previous one (the
        largest group owed the same), with what each is owed: its own
        addresses (a started target never forgets on its own behalf) and
        addresses claimed twice or no more left out.
        """
        if not (self.pending or self.owed):  # the loop calls it at every turn
            return
        busy = self._busy()
        ready = self.pending and self._gathered()
        if not ready and all(target in busy for target in self.owed):
            return
        if ready:
            targets = self.targets()
            if not targets:
                self.failed["targets"] = (
                    f"no accepted minion matches the target {self.config['tgt']!r} ({self.config['tgt_type']}) "
                    "(set tgt, or arp_hygiene:targets in the master's configuration): nothing forgotten"
                )
                self.pending = {}
                return
            for target in targets:
                self.owed.setdefault(target, {}).update(self.pending)
            self.pending = {}
        groups = {}
        for target in [target for target in self.owed if target not in busy]:
            lladdr = {
                address: mac
                for address, mac in self.owed[target].items()
                if list(self.claimed.get(address, {}).values()) == [mac] and target not in self.claimed[address]
            }
            if lladdr:
                groups.setdefault(tuple(sorted(lladdr.items())), []).append(target)
            else:
                del self.owed[target]
        if groups:
            lladdr, targets = max(groups.items(), key=lambda group: len(group[1]))
            for target in targets:
                del self.owed[target]
            lladdr = dict(lladdr)
            kwarg = {"addresses": sorted(lladdr), "lladdr": lladdr, "settings": FORGET_SETTINGS, "test": self.test}
            self._publish(self.forwarding, targets, kwarg)


class _Publisher:
    """
    A thread that publishes one job of ``function`` at a time, with a client
    of its own, and puts ``(self, jid, minions, matched)`` into ``outcomes``
    (``matched``: the ids the master matched, None when the job was not
    published). ``busy`` is the heal loop's: set when it hands a job, cleared
    when it reads the outcome.
    """

    def __init__(self, function, outcomes):
        self.function, self.outcomes, self.busy = function, outcomes, False
        self.jobs = queue.Queue()
        # In a copy of the caller's context: the loader's (__opts__) included.
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(self._run,), daemon=True).start()

    def publish(self, jid, minions, kwarg, timeout):
        self.busy = True
        self.jobs.put((jid, minions, kwarg, timeout))

    def stop(self):
        self.jobs.put(None)

    def _run(self):
        client = _client()
        try:
            while True:
                job = self.jobs.get()
                if job is None:
                    return
                jid, minions, kwarg, timeout = job
                try:
                    pub = client.run_job(minions, self.function, kwarg=kwarg, tgt_type="list", timeout=timeout, jid=jid)
                except Exception as err:  # pylint: disable=broad-except
                    log.error("arp_hygiene.forget: %s could not be published: %s", self.function, err)
                    pub = None
                published = bool(pub) and pub.get("jid") == jid
                self.outcomes.put((self, jid, minions, set(pub.get("minions") or ()) if published else None))
        finally:
            client.destroy()


def _batched(minions, key, config, test):
    """
    forget for ``minions`` within a batch: the call that finds no heal
    running for ``key`` serves one, after batch_wait seconds, for every
    minion that joins it until the heal is idle; a call that finds one
    running joins it and returns None.
    """
    begun = time.monotonic()
    with _batch_lock:
        batch = _batches.setdefault(key, {"running": False, "minions": []})
        batch["minions"].extend(minions)
        if batch["running"]:
            return None
        batch["running"] = True
    try:
        heal = _Heal(config, test, predict=True)
    except Exception:
        with _batch_lock:
            batch["running"] = False
        raise
    time.sleep(max(0.0, begun + config["batch_wait"] - time.monotonic()))

    def more(idle):
        with _batch_lock:
            minions, batch["minions"] = list(dict.fromkeys(batch["minions"])), []
            if not minions and idle:
                batch["running"] = False
                return None
        return minions

    try:
        heal.serve(more)
    finally:
        heal.close()
        with _batch_lock:
            batch["running"] = False
    return {**heal.result(), "jobs": heal.jobs}


def _addresses(tgt, tgt_type, timeout):
    """
    ({minion: {address: mac}}, {minion: why}) from the minions that ``tgt``
    names: published to ``tgt`` itself, the master resolving it once (a
    list of ids costs Salt 3008 some 0.4 ms an id, a glob a fifteenth of it).
    """
    claims, failed = _ask(tgt, "arp.addresses", {"settings": ADDRESS_SETTINGS}, timeout, tgt_type)
    if not claims and not failed:
        raise RunnerError(f"no accepted minion matches {tgt!r} ({tgt_type}): nothing to ask, nothing changed")
    if tgt_type == "list" and not claims:
        raise RunnerError("; ".join(f"{minion} {why}" for minion, why in failed.items()) + ": nothing changed")
    return claims, failed


def _cached_addresses(grains):
    """
    ``{address: mac}``: what a minion's grains say ``arp.addresses`` will
    answer (``ip4_interfaces`` and ``ip6_interfaces``, on the interfaces
    whose ``hwaddr_interfaces`` MAC is an Ethernet one; global scope: not
    link-local, loopback or multicast). Only a forecast, the answer decides:
    grains know nothing of the minion's ``arp_hygiene:announce`` selection,
    so they may name more; an address named wrongly costs a database one
    address resolution (forget only deletes).
    """
    macs = grains.get("hwaddr_interfaces")
    owned = {}
    if not isinstance(macs, dict):
        return owned
    for key in ("ip4_interfaces", "ip6_interfaces"):
        interfaces = grains.get(key)
        for ifname, addresses in interfaces.items() if isinstance(interfaces, dict) else ():
            mac = macs.get(ifname)
            octets = mac.split(":") if isinstance(mac, str) else ()
            if len(octets) != MAC_OCTETS or not all(len(o) == 2 for o in octets) or mac == "00:00:00:00:00:00":
                continue
            for address in addresses if isinstance(addresses, list) else ():
                try:
                    ip = ipaddress.ip_address(address)
                except ValueError:
                    continue
                if not (ip.is_link_local or ip.is_loopback or ip.is_multicast or ip.is_unspecified):
                    owned[str(ip)] = mac.lower()
    return owned


def _cached_grains(cache, minions):
    """
    ``{minion: grains}`` of ``minions`` whose grains the master cached less
    than CACHE_FRESH seconds ago (Salt 3008's bank ``grains``, earlier ones'
    ``minions/<id>``); none where the cache keeps no time of update.
    """
    found = {}
    if not __opts__.get("minion_data_cache", False):
        return found
    now = time.time()
    for minion in minions:
        for bank, key, part in (("grains", minion, None), (f"minions/{minion}", "data", "grains")):
            try:
                updated = cache.updated(bank, key)
                if updated is None:
                    continue
                data = cache.fetch(bank, key) if now - updated <= CACHE_FRESH else None
            except Exception as err:  # pylint: disable=broad-except
                log.debug("arp_hygiene.forget: %s's cached grains: %s", minion, err)
                break
            grains = data.get(part) if part and isinstance(data, dict) else data
            if isinstance(grains, dict):
                found[minion] = grains
            break
    return found


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


def _resolving(config):
    """
    The targets of ``config`` (:func:`_targets`), resolved in a thread of its
    own: a function that waits for them and returns them, or raises the
    RunnerError of the resolution.
    """
    found = {}

    def resolve():
        try:
            found["targets"] = _targets(config, exclude=())
        except RunnerError as err:
            found["error"] = err

    # In a copy of the caller's context: the loader's (__opts__) included.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(resolve,), daemon=True)
    thread.start()

    def targets():
        thread.join()
        if "error" in found:
            raise found["error"]
        return found["targets"]

    return targets


def _run_forget(targets, lladdr, timeout, test):
    """({target: arp.forget's return}, {target: why}): one job for every target."""
    kwarg = {"addresses": sorted(lladdr), "lladdr": lladdr, "settings": FORGET_SETTINGS, "test": test}
    return _ask(targets, "arp.forget", kwarg, timeout)


def _ask(tgt, function, kwarg, timeout, tgt_type="list"):
    """
    ({minion: its return}, {minion: why not}): one job on the minions that
    ``tgt`` matches (with ``tgt_type`` list, ids: those without a key are
    "not asked"), its returns read off the master's bus as they come, until
    every minion answered or ``timeout`` seconds passed. Not LocalClient.cmd: its
    non-blocking reads take 4,096 bytes and then sleep 10 ms, some 4 s per
    MB of a return (an audit's arp.forget of 50,000 addresses returns 4 MB:
    18 s after the return came).
    """
    bus = salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=True)
    client = _client()
    try:
        bus.connect_pub()  # before the publication: no return is missed
        jid = _new_jid()
        pub = client.run_job(tgt, function, kwarg=kwarg, tgt_type=tgt_type, timeout=timeout, jid=jid)
        if not pub or pub.get("jid") != jid:
            raise RunnerError(f"{function} could not be published to {tgt!r} ({tgt_type}): nothing changed")
        waiting, done, deadline = set(pub.get("minions") or ()), {}, time.monotonic() + timeout
        asked = (tgt.split(",") if isinstance(tgt, str) else tgt) if tgt_type == "list" else ()
        failed = {
            minion: f"no accepted minion has the id {minion!r}: not asked" for minion in asked if minion not in waiting
        }
        prefix = f"salt/job/{jid}/ret/"
        while waiting and time.monotonic() < deadline:
            event = bus.get_event(wait=min(1.0, max(0.01, deadline - time.monotonic())), tag=prefix, full=True)
            minion = event["tag"][len(prefix) :] if event else None
            if minion not in waiting:
                continue
            waiting.discard(minion)
            data = event["data"]
            if data.get("retcode", 0) or not isinstance(data.get("return"), dict):
                failed[minion] = f"{function} failed: {data.get('return')}"
            else:
                done[minion] = data["return"]
        for minion in waiting:
            failed[minion] = f"did not answer {function} within {timeout:g} s"
        return done, failed
    finally:
        client.destroy()
        bus.destroy()


def _new_jid():
    """A job id for a publication of this process: unique (the pid's suffix, as with the master's unique_jid)."""
    with _jid_lock:
        return salt.utils.jid.gen_jid({**__opts__, "unique_jid": True})


def _merged(answer, more):
    """Two of arp.forget's answers as one: the {ifname: {dst: ...}} parts joined, the not_cached lists too."""
    joined = dict(answer)
    for key, value in more.items():
        if isinstance(value, dict):
            part = {ifname: dict(entries) for ifname, entries in joined.get(key, {}).items()}
            for ifname, entries in value.items():
                part.setdefault(ifname, {}).update(entries)
            joined[key] = part
        elif isinstance(value, list):
            joined[key] = sorted(set(joined.get(key, [])) | set(value))
        else:
            joined[key] = value
    return joined


# -------------------------------------------------------------- arguments


def _config(tgt, tgt_type, timeout, batch_wait=None):
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
    config["batch_wait"] = config["batch_wait"] if batch_wait is None else batch_wait
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


def _minion_ids(minion, check=True):
    """
    ``minion`` (an id, or a list of ids) as a list of ids; RunnerError names
    the first that is not an accepted minion's (with ``check``; a batch's
    heal sorts them as it asks, _accepted_here: another master's are no error).
    """
    minions = minion if isinstance(minion, list) and minion else [minion]
    for each in minions:
        if not isinstance(each, str) or not each.strip():
            raise RunnerError("minion is missing: give the id of the minion whose addresses to forget")
        if any(char in each for char in "*?[],"):
            raise RunnerError(f"minion must be one minion's id, not a pattern or a list: {each!r}")
    accepted = set(_matching(minions, "list")) if check else set(minions)
    for each in minions:
        if each not in accepted:
            raise RunnerError(f"no accepted minion has the id {each!r} (salt-key -L lists them): nothing changed")
    return list(dict.fromkeys(minions))


def _accepted_here(minions):
    """(``minions`` that have an accepted key on this master, those that do not), in their order."""
    accepted = set(_matching(minions, "list")) if minions else set()
    return [m for m in minions if m in accepted], [m for m in minions if m not in accepted]


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
