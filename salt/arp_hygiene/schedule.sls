{#- method salt: the same job on Salt's own scheduler, in the minion process,
    returning its result to the master like any job. Any other method
    removes it. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}

{%- if arp_hygiene['method'] == 'salt' %}
arp_hygiene-schedule-schedule-present:
  schedule.present:
    - name: {{ arp_hygiene['job'] }}
    - function: arp.flush_stale
    - job_kwargs: {{ arp_hygiene['kwargs'] | json }}
    - minutes: {{ arp_hygiene['interval_minutes'] }}
    - persist: true
{%- else %}
arp_hygiene-schedule-schedule-absent:
  schedule.absent:
    - name: {{ arp_hygiene['job'] }}
    - persist: true
{%- endif %}
