{#- method salt: the same jobs on Salt's own scheduler, in the minion process,
    returning their results to the master like any job. Any other method (or
    verify disabled, for the verification job) removes them. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- set salt_method = arp_hygiene['method'] == 'salt' %}
{%- set jobs = [
      (arp_hygiene['job'], 'arp.flush_stale', dict(arp_hygiene['kwargs'], test=false), salt_method),
      (arp_hygiene['verify_job'], 'arp.verify', dict(arp_hygiene['verify_kwargs'], fix=true, test=false),
       salt_method and arp_hygiene['verify']['enabled']),
    ] %}

{%- for job, function, kwargs, wanted in jobs %}
{%-   if wanted %}
arp_hygiene-schedule-schedule-present-{{ job }}:
  schedule.present:
    - name: {{ job }}
    - function: {{ function }}
    - job_kwargs: {{ kwargs | json }}
    - minutes: {{ arp_hygiene['interval_minutes'] }}
{%-     if arp_hygiene['splay'] %}
    - splay: {{ arp_hygiene['splay'] }}
{%-     endif %}
    - persist: true
{%-   else %}
arp_hygiene-schedule-schedule-absent-{{ job }}:
  schedule.absent:
    - name: {{ job }}
    - persist: true
{%-   endif %}
{%- endfor %}
