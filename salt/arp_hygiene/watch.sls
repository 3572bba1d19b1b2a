{#- The watcher (arp.watch) for good, from pillar arp_hygiene:watch: the
    minion engine arp_watch, configured in a minion.d drop-in of the
    formula's (formula:watch_config) with the flush's selection and metrics,
    and the salt-minion daemon restarted when it runs without it (state
    arp.watching, last in the run: the daemon reads its engines when it
    starts). With enabled false, the drop-in goes if the formula wrote it,
    and the daemon restarts if it runs its engine (arp.not_watching). #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- from tplroot ~ "/synced.jinja" import until_synced with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- else %}
{%- from tplroot ~ "/written.jinja" import record, read_records with context %}
{%- set records = arp_hygiene['formula']['records'] %}
{%- set drop_in = arp_hygiene['watch_config'] %}
{%- set ours = drop_in in (read_records(records) | load_json)['files'] %}
{%- set metrics = arp_hygiene['metrics_directory'] %}

{%- if arp_hygiene['watch']['enabled'] or ours %}
include:
  - {{ tplroot }}.sync
{%-   if metrics and arp_hygiene['watch']['enabled'] %}
  - {{ tplroot }}.directories
{%-   endif %}
{%- endif %}

{%- if arp_hygiene['watch']['enabled'] %}

{{ record('watch', [drop_in], records) }}

arp_hygiene-watch-arp-watching:
{%-   if arp_hygiene['module_ready'] or not opts['test'] %}
  arp.watching:
    - name: {{ drop_in | yaml_encode }}
{%-     for key, value in arp_hygiene['watch_kwargs'] | dictsort %}
    - {{ key }}: {{ value | json }}
{%-     endfor %}
    # The daemon may restart: after every other state of the run.
    - order: last
    - require:
      - test: arp_hygiene-sync-test-module-available
      - file: arp_hygiene-watch-file-serialize-record
{%-     if metrics %}
      - file: arp_hygiene-directories-file-directory-{{ metrics }}
{%-     endif %}
{%-   else %}
{{ until_synced('Whether the daemon runs the engine arp_watch is known once the arp states are synced: the live '
                ~ 'run syncs them first.', name=drop_in) }}
{%-   endif %}
{%- elif ours %}

arp_hygiene-watch-arp-not-watching:
{%-   if arp_hygiene['module_ready'] or not opts['test'] %}
  arp.not_watching:
    - name: {{ drop_in | yaml_encode }}
    - order: last
    - require:
      - test: arp_hygiene-sync-test-module-available
{%-   else %}
{{ until_synced('Removing the engine arp_watch waits for the arp states: the live run syncs them first.',
                name=drop_in) }}
{%-   endif %}
{%- else %}

arp_hygiene-watch-test-not-asked:
  test.succeed_without_changes:
    - comment: No watcher asked for (pillar arp_hygiene:watch:enabled is false), and none of the formula's to remove.
{%- endif %}
{%- endif %}
