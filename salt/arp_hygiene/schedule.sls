{#- method salt: the same jobs on Salt's own scheduler, in the minion process,
    returning their results to the master like any job. Each job's function
    is tried once in test mode here, so that a job that would fail on every
    run fails the highstate instead. Any other method (or verify disabled,
    for the verification job) removes them. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- from tplroot ~ "/schedule_absent.jinja" import schedule_absent with context %}
{%- from tplroot ~ "/schedule_present.jinja" import schedule_present with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- else %}
{%- set salt_method = arp_hygiene['method'] == 'salt' %}
{%- set checked = arp_hygiene['module_ready'] or not opts['test'] %}

{%- set metrics = arp_hygiene['metrics_directory'] %}

{%- if salt_method %}
include:
  - {{ tplroot }}.sync
{%-   if metrics %}
  - {{ tplroot }}.directories
{%-   endif %}
{%- endif %}

{%- for job in [arp_hygiene['job'], arp_hygiene['verify_job'], arp_hygiene['sweep_job']] %}
{%-   set settings = arp_hygiene['jobs'][job] %}
{%-   if salt_method and settings['wanted'] %}
{{ schedule_present('schedule', arp_hygiene, job, checked) }}
{%-   else %}

{{ schedule_absent('arp_hygiene-schedule-schedule-absent-' ~ job, job) }}
{%-   endif %}
{%- endfor %}
{%- endif %}
