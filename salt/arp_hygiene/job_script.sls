{#- The jobs' script (files/arp-hygiene-job): runs a job's salt-call, writes
    its report at once or a report that says why it failed, and logs a
    failure to the system log. Included by cron.sls and announce.sls. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- else %}
{%- from tplroot ~ "/written.jinja" import record with context %}
{%- set formula = arp_hygiene['formula'] %}
{{ record('job_script', [formula['job_script']], formula['records']) }}

arp_hygiene-job_script-file-managed:
  file.managed:
    - name: {{ formula['job_script'] }}
    - source: salt://{{ tplroot }}/files/arp-hygiene-job
    - mode: '0755'
    - makedirs: true
{%- endif %}
