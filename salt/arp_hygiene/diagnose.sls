{#- diagnose: arp.diagnosed at every highstate (pillar diagnose:enabled):
    why a black hole can last on this host, in the state's comment; the
    highstate fails only on the findings diagnose:fail_on names. It reads
    only. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- from tplroot ~ "/synced.jinja" import until_synced with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- elif arp_hygiene['diagnose']['enabled'] %}
include:
  - {{ tplroot }}.sync

arp_hygiene-diagnose-arp-diagnosed:
{%-   if arp_hygiene['module_ready'] or not opts['test'] %}
  arp.diagnosed:
    - name: {{ arp_hygiene['flush']['netns'] or 'neighbour table' }}
    - netns: {{ arp_hygiene['flush']['netns'] | json }}
    - fail_on: {{ arp_hygiene['diagnose']['fail_on'] | json }}
    - require:
      - test: arp_hygiene-sync-test-module-available
{%-   else %}
{{ until_synced('What arp.diagnose finds is known once the arp module is synced: the live run syncs it first.', changes=false,
                name=arp_hygiene['flush']['netns'] or 'neighbour table') }}
{%-   endif %}
{%- endif %}
