{#- Makes the arp modules ready before any state or job of the formula uses
    them: `state.apply arp_hygiene` syncs nothing by itself (only a highstate
    does), so a fresh minion, or one after an upgrade of the formula, would
    run without them, or with the old ones. The modules, states and grains
    (the grains module that has a daemon's jobs find pyroute2 imported) are
    synced only when the master serves arp files (arp.py and its _arp_hygiene_
    helpers) that differ from the minion's copies, so that a converged
    minion's dry run lists no change. Then fails, saying what to do, if the
    arp module is still not there (checked only when it was not there before
    the sync: listing functions loads every module, a second's work). In
    test mode nothing is synced: if the module is not there yet, the states
    that use it say that they cannot predict what the live run does. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- from tplroot ~ "/synced.jinja" import served_differs, until_synced with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- else %}
{%- set install = arp_hygiene['pyroute2']['install'] %}
{#- The kinds (modules, states, grains) whose served arp files are not the minion's. #}
{%- set differ = [] %}
{%- for kind in ('modules', 'states', 'grains') if served_differs(kind) %}
{%-   do differ.append(kind) %}
{%- endfor %}

include:
  - {{ tplroot }}.pyroute2
{%- for kind in differ %}

arp_hygiene-sync-saltutil-sync_{{ kind }}:
  saltutil.sync_{{ kind }}:
    - reload_modules: true
{%- endfor %}

arp_hygiene-sync-test-module-available:
{%- if arp_hygiene['module_ready'] or not opts['test'] %}
{%-   if arp_hygiene['module_ready'] %}
  test.succeed_without_changes:
    - comment: The arp module is loaded.
{%-   else %}
  test.fail_without_changes:
    - comment: >-
        The arp execution module is not available on this minion after syncing: the master must serve
        _modules/ and _states/ of arp-hygiene (docs/guide/install.md) or the minion's Python must have the
        arp-hygiene package, and pyroute2 must import in the minion's Python (pillar arp_hygiene:pyroute2).
    - unless:
      - fun: sys.list_functions
        args: [arp.flush_stale]
{%-   endif %}
{%-   if differ or install != 'none' %}
    - require:
{%-     for kind in differ %}
      - saltutil: arp_hygiene-sync-saltutil-sync_{{ kind }}
{%-     endfor %}
{%-     if install != 'none' %}
      - id: arp_hygiene-pyroute2-{{ install }}-installed
{%-     endif %}
{%-   endif %}
{%- else %}
{{ until_synced('The arp module is not on this minion yet (not synced, or pyroute2 missing): a live run syncs '
                ~ 'it (and installs pyroute2) first.') }}
{%- endif %}
{%- endif %}
