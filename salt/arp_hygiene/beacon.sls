{#- The beacon arp (salt/_beacons/arp.py), from pillar arp_hygiene:beacon:
    added to the running salt-minion daemon with beacon.present and saved to
    its minion.d/beacons.conf, so that it survives a restart. Beacons run in
    that daemon alone: without one answering (salt-call --local, salt-ssh)
    the highstate fails, saying so, instead of passing with a beacon that
    never looks. With enabled false, the beacon arp is removed only if the
    formula's records say that it added it: an operator's own stays. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- from tplroot ~ "/synced.jinja" import served_differs, until_synced with context %}
{%- from tplroot ~ "/beacon_absent.jinja" import beacon_absent with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- else %}
{%- set beacon = arp_hygiene['beacon'] %}
{%- from tplroot ~ "/written.jinja" import record, read_records with context %}
{%- set records = arp_hygiene['formula']['records'] %}
{%- set ours = (read_records(records) | load_json)['beacons'].get('arp') %}
{#- The daemon's answer (None when no daemon answers in 10 s). #}
{%- set beacons = salt['beacons.list'](return_yaml=False, include_pillar=False, timeout=10)
      if beacon['enabled'] or ours else none %}

{%- if beacon['enabled'] %}
{%-   if beacons is none %}

arp_hygiene-beacon-test-daemon-answers:
  test.fail_without_changes:
    - comment: >-
        No salt-minion daemon answered (beacons.list, 10 s): the beacon arp runs in that daemon, so without it
        the beacon would never look. Start salt-minion, or set pillar arp_hygiene:beacon:enabled false.
{%-   elif beacon['netns'] and not salt['file.file_exists']('/run/netns/' ~ beacon['netns']) %}

arp_hygiene-beacon-test-netns-exists:
  test.fail_without_changes:
    - comment: >-
        pillar arp_hygiene:beacon:netns names the network namespace {{ beacon['netns'] | json }}, which does not
        exist (`ip netns list` shows the named ones): the beacon would never read a table.
{%-   else %}
{%-     set available = not opts['test'] or 'arp' in (salt['beacons.list_available'](return_yaml=False, timeout=10) or []) %}
{#- The beacon's configuration: Salt's list of one-key mappings, in a fixed
    order (beacon.present compares lists). #}
{%-     set settings = [] %}
{%-     for key in ('interval', 'table_share', 'failed_threshold', 'mac_changes', 'family', 'netns') %}
{%-       do settings.append({key: beacon[key]}) %}
{%-     endfor %}

include:
  - {{ tplroot }}.sync

{%-     set sync = served_differs('beacons') %}
{%-     if sync %}

arp_hygiene-beacon-saltutil-sync_beacons:
  saltutil.sync_beacons:
    - refresh: true
{%-     endif %}

{{ record('beacon', [], records, extra=dict(beacons=dict(arp='beacon'))) }}

arp_hygiene-beacon-beacon-present-arp:
{%-     if not opts['test'] %}
  beacon.present:
    - name: arp
    - save: true
{%-       for item in settings %}
{%-         for key, value in item.items() %}
    - {{ key }}: {{ value | json }}
{%-         endfor %}
{%-       endfor %}
    - require:
{%-       if sync %}
      - saltutil: arp_hygiene-beacon-saltutil-sync_beacons
{%-       endif %}
      - test: arp_hygiene-sync-test-module-available
      - file: arp_hygiene-beacon-file-serialize-record
{#- Test mode: Salt's beacon.present says "would be added" with result True
    and no changes; this says it as test mode does elsewhere. #}
{%-     elif beacons.get('arp') == settings %}
  test.succeed_without_changes:
    - comment: The beacon arp is configured as pillar says.
{%-     else %}
  test.configurable_test_state:
    - changes: true
    - result: true
    - comment: >-
        The beacon arp would be {{ 'modified' if 'arp' in beacons else 'added' }} and saved:
        {{ settings | json }}{{ '' if available else ' (once the live run has synced it)' }}.
{%-     endif %}
{%-   endif %}

{%- elif ours and beacons is none %}

{{ beacon_absent('arp_hygiene-beacon-test-daemon-answers', none, 'arp_hygiene') }}
{%- elif ours %}
{%-   if 'arp' in beacons %}

{{ beacon_absent('arp_hygiene-beacon-beacon-absent-arp', beacons, 'arp_hygiene') }}
{%-   endif %}

{{ record('beacon', [], records, extra=dict(beacons=dict(arp=none))) }}
{%-   if 'arp' in beacons %}
    - require:
      - {{ 'test' if opts['test'] else 'beacon' }}: arp_hygiene-beacon-beacon-absent-arp
{%-   endif %}
{%- else %}

arp_hygiene-beacon-test-not-asked:
  test.succeed_without_changes:
    - comment: No beacon asked for (pillar arp_hygiene:beacon:enabled is false), and none of the formula's to remove.
{%- endif %}
{%- endif %}
