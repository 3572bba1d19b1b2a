"""
The incident and its fixes, told step by step in a namespace lab
(``./run demo``: ``python -m demo.incident``, as root, with the module's
dependencies installed): it reproduces the black hole, then shows each fix
working through ``salt-call --local``: ``arp.flush_stale`` for a stale entry,
``arp.verify fix=True`` for a wrong reachable one, ``arp.announce`` from the
new worker. Exits 0 when each scene went as told.
"""

import os
import sys
import tempfile
import time

from tests.support import lab, segments


def main():
    """The incident and its fixes, told step by step. Returns the exit status."""
    results = []

    def say(text):
        print(f"\n== {text}", flush=True)

    def tell(text):
        print(f"   {text}", flush=True)

    def show_entry(hole):
        entry = hole.entry()
        held = f"{entry.get('lladdr')} {entry['state'][0]}" if entry else "none"
        tell(f"database's entry for {lab.WORKER_IP}: {held}")

    def check(hole, expected):
        tell(f"health check from the new worker: TCP connect to {lab.DB_IP}:{lab.PORT}, 2 s timeout (nc -vz -w 2)")
        passed = hole.connect()
        results.append(passed == expected)
        if passed:
            tell("connect succeeded")
        else:
            tell("connect FAILED: the database's SYN-ACK goes to the old MAC, a NIC that no longer exists")
        return passed

    def salt(config, *command):
        tell("salt-call --local --out=yaml " + " ".join(command))
        result = lab.salt_call(config, "--out=yaml", *command)
        tell((result.stdout + result.stderr).strip().replace("\n", "\n   "))
        results.append(result.returncode == 0)

    with tempfile.TemporaryDirectory(prefix="arp-hygiene-demo-") as tmp, lab.Lab() as made:
        config = lab.salt_config(tmp)
        say(f"The incident: an old worker had {lab.WORKER_IP}; it is gone, and a new worker has the same IP")
        tell(f"old worker MAC {lab.OLD_MAC}, new worker MAC {lab.NEW_MAC}, database {lab.DB_IP}")
        tell("the workers hold a static entry for the database, as on a cloud network: the database never")
        tell("sees their ARP requests, so nothing tells it that the MAC changed")
        hole = segments.BlackHole(made)
        show_entry(hole)
        check(hole, expected=False)
        made.close()

        say("Fix 1, a stale entry: arp.flush_stale deletes the stale entries, and only those")
        hole = segments.BlackHole(made)
        show_entry(hole)
        salt(config, "arp.flush_stale", f"netns={hole.db.name}")
        show_entry(hole)
        check(hole, expected=True)
        tell("the database asked the segment and learned the new MAC:")
        show_entry(hole)
        made.close()

        say("Fix 2, a wrong entry that is reachable (unrelated traffic keeps confirming it)")
        hole = segments.BlackHole(made, state="reachable")
        show_entry(hole)
        check(hole, expected=False)
        tell("arp.flush_stale rightly leaves reachable entries alone:")
        salt(config, "arp.flush_stale", f"netns={hole.db.name}")
        tell("arp.verify asks the segment who owns each cached address; fix=True repairs what is wrong")
        tell("(the formula's default job, every 5 minutes, heals both kinds):")
        salt(config, "arp.verify", "fix=True", f"netns={hole.db.name}")
        show_entry(hole)
        check(hole, expected=True)
        made.close()

        say("Fix 3, from the other side: the new worker announces its MAC when it starts (arp.announce)")
        hole = segments.BlackHole(made)
        show_entry(hole)
        check(hole, expected=False)
        salt(config, "arp.announce", "family=inet", f"netns={hole.worker.name}")
        time.sleep(0.2)  # the database's kernel takes the announcement
        show_entry(hole)
        check(hole, expected=True)
    # This demo's namespaces (arph-<role>-<pid>-<n>): a test suite may run others meanwhile.
    mine = f"-{os.getpid()}-"
    listed = lab.run("ip", "netns", "list").stdout.split()
    left = [name for name in listed if name.startswith(lab.PREFIX) and mine in name]
    say("Lab removed." if not left else f"Lab NOT removed: {' '.join(left)}")
    ok = all(results) and not left
    say("Demo passed: the black hole reproduced, and each fix shown working." if ok else "Demo FAILED: see above.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
