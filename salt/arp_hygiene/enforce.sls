{#- enforce: no stale entries right now, during the highstate itself, and
    with verify enabled, no entry holding a MAC other than the one that
    answers for its address. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- set checks = [('no_stale', arp_hygiene['kwargs'])] %}
{%- if arp_hygiene['verify']['enabled'] %}
{%-   do checks.append(('verified', arp_hygiene['verify_kwargs'])) %}
{%- endif %}

{%- if arp_hygiene['enforce'] %}
{%-   for function, kwargs in checks %}
arp_hygiene-enforce-arp-{{ function }}:
  arp.{{ function }}:
    - name: {{ arp_hygiene['flush']['netns'] or 'neighbour table' }}
{%-     for key, value in kwargs | dictsort %}
    - {{ key }}: {{ value | json }}
{%-     endfor %}
{%-     if arp_hygiene['pyroute2']['install'] != 'none' %}
    - require:
      - {{ arp_hygiene['pyroute2']['install'] }}: arp_hygiene-pyroute2-{{ arp_hygiene['pyroute2']['install'] }}-installed
{%-     endif %}
{%-   endfor %}
{%- endif %}
