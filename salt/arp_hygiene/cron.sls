{#- method cron: root cron jobs run arp.flush_stale (and, with verify enabled,
    arp.verify fix=True) every interval_minutes, and arp.verify fix=True
    sweep=True every verify:sweep_hours hours, through the formula's job
    script and the minion's own salt-call. Each job's command is tried once
    in test mode here, so that a job that would fail on every run fails the
    highstate instead, naming the cause. The identifiers make a changed
    pillar update the lines in place. Any other method removes the jobs. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- from tplroot ~ "/cron_present.jinja" import cron_present with context %}
{%- from tplroot ~ "/cron_absent.jinja" import cron_absent with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- else %}
{%- from tplroot ~ "/written.jinja" import record with context %}
{%- set formula = arp_hygiene['formula'] %}
{%- set purposes = {arp_hygiene['job']: 'flushes neighbour entries', arp_hygiene['verify_job']: 'verifies neighbour entries',
                    arp_hygiene['sweep_job']: 'sweeps neighbour entries (asks the segment about each)'} %}
{%- set cron = arp_hygiene['method'] == 'cron' %}

{%- if cron %}
include:
  - {{ tplroot }}.sync
  - {{ tplroot }}.crond
  - {{ tplroot }}.job_script
  - {{ tplroot }}.directories
{{ record('cron', [], formula['records'], cron=true) }}

{%-   for job, purpose in purposes | dictsort if arp_hygiene['jobs'][job]['wanted'] %}
{%-     set checked = arp_hygiene['module_ready'] or not opts['test'] %}
{{ cron_present('cron', arp_hygiene, job, purpose, checked) }}
{%-   endfor %}
{%- endif %}

{%- for job in purposes | sort if not (cron and arp_hygiene['jobs'][job]['wanted']) %}
{{ cron_absent('arp_hygiene-cron-cron-absent-' ~ job, job) }}
{%- endfor %}
{%- endif %}
