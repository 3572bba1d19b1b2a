{#- enforce: no stale entries right now, during the highstate itself, and
    with verify enabled, no entry holding a MAC other than the one that
    answers for its address. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- from tplroot ~ "/synced.jinja" import until_synced with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- else %}
{%- set checks = [('no_stale', arp_hygiene['enforce_kwargs'])] %}
{%- if arp_hygiene['verify']['enabled'] %}
{%-   do checks.append(('verified', arp_hygiene['enforce_verify_kwargs'])) %}
{%- endif %}
{%- set metrics = arp_hygiene['metrics_directory'] %}

{%- if arp_hygiene['enforce'] %}
include:
  - {{ tplroot }}.sync
{%-   if metrics %}
  - {{ tplroot }}.directories
{%-   endif %}
{%-   for function, kwargs in checks %}

arp_hygiene-enforce-arp-{{ function }}:
{%-     if arp_hygiene['module_ready'] or not opts['test'] %}
  arp.{{ function }}:
    - name: {{ arp_hygiene['flush']['netns'] or 'neighbour table' }}
{%-       for key, value in kwargs | dictsort %}
    - {{ key }}: {{ value | json }}
{%-       endfor %}
    - require:
      - test: arp_hygiene-sync-test-module-available
{%-       if metrics %}
      - file: arp_hygiene-directories-file-directory-{{ metrics }}
{%-       endif %}
{%-     else %}
{{ until_synced('What arp.' ~ function ~ ' would change is known once the arp module is synced: the live run '
                ~ 'syncs it first, then checks the table.', name=arp_hygiene['flush']['netns'] or 'neighbour table') }}
{%-     endif %}
{%-   endfor %}
{%- endif %}
{%- endif %}
