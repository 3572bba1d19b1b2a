{#- enforce: no stale entries right now, during the highstate itself. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}

{%- if arp_hygiene['enforce'] %}
arp_hygiene-enforce-arp-no_stale:
  arp.no_stale:
    - name: {{ arp_hygiene['flush']['netns'] or 'neighbour table' }}
{%-   for key, value in arp_hygiene['kwargs'] | dictsort %}
    - {{ key }}: {{ value | json }}
{%-   endfor %}
{%-   if arp_hygiene['pyroute2']['install'] != 'none' %}
    - require:
      - {{ arp_hygiene['pyroute2']['install'] }}: arp_hygiene-pyroute2-{{ arp_hygiene['pyroute2']['install'] }}-installed
{%-   endif %}
{%- endif %}
