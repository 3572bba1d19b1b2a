{#- method salt: the same jobs on Salt's own scheduler, in the minion process,
    returning their results to the master like any job. Each job's function
    is tried once in test mode here, so that a job that would fail on every
    run fails the highstate instead. Any other method (or verify disabled,
    for the verification job) removes them. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- from tplroot ~ "/schedule_absent.jinja" import schedule_absent with context %}
{%- from tplroot ~ "/synced.jinja" import until_synced with context %}
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

{%- for job in [arp_hygiene['job'], arp_hygiene['verify_job']] %}
{%-   set settings = arp_hygiene['jobs'][job] %}
{%-   if salt_method and settings['wanted'] %}

arp_hygiene-schedule-arp-job_works-{{ job }}:
{%-     if checked %}
  arp.job_works:
    - name: {{ job }}
    - function: {{ settings['function'] }}
{%-       for key, value in settings['check_kwargs'] | dictsort if key != 'test' %}
    - {{ key }}: {{ value | json }}
{%-       endfor %}
    - require:
      - test: arp_hygiene-sync-test-module-available
{%-       if metrics %}
      - file: arp_hygiene-directories-file-directory-{{ metrics }}
{%-       endif %}
{%-     else %}
{{ until_synced("The job's function is tried once the arp module is synced, in the live run.") }}
{%-     endif %}

arp_hygiene-schedule-schedule-present-{{ job }}:
  schedule.present:
    - name: {{ job }}
    - function: {{ settings['function'] }}
    - job_kwargs: {{ settings['kwargs'] | json }}
    - minutes: {{ arp_hygiene['interval_minutes'] }}
    {#- The first run after one interval, on every Salt (3008 runs a new job
        with minutes at once by default): the highstate changes only what
        its test mode said. #}
    - run_on_start: false
{%-     if arp_hygiene['splay'] %}
    - splay: {{ arp_hygiene['splay'] }}
{%-     endif %}
    - persist: true
    - require:
      - {{ 'arp' if checked else 'test' }}: arp_hygiene-schedule-arp-job_works-{{ job }}
{%-   else %}

{{ schedule_absent('arp_hygiene-schedule-schedule-absent-' ~ job, job) }}
{%-   endif %}
{%- endfor %}
{%- endif %}
