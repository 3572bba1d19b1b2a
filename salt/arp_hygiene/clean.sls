{#- Removes what the formula installed: the cron jobs (flush, verify, announce
    at boot), the scheduler jobs, the last reports and the sysctl file.
    Sysctl values already applied stay until the next boot. pyroute2 and the
    cron package stay: other software may use them. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}

{%- if salt['cmd.which']('crontab') %}
{%-   for job in (arp_hygiene['job'], arp_hygiene['verify_job'], arp_hygiene['announce_job']) %}

arp_hygiene-clean-cron-absent-{{ job }}:
  cron.absent:
    - name: {{ job }}
    - identifier: {{ job }}
    - user: root
{%-     if job == arp_hygiene['announce_job'] %}
    - special: '@reboot'
{%-     endif %}
{%-   endfor %}
{%- endif %}
{%- for job in (arp_hygiene['job'], arp_hygiene['verify_job']) %}

arp_hygiene-clean-schedule-absent-{{ job }}:
  schedule.absent:
    - name: {{ job }}
    - persist: true
{%- endfor %}
{#- Only a report file: map.jinja refuses a report path that is a directory,
    and this never removes one. #}
{%- for report_file in (arp_hygiene['report_file'], arp_hygiene['verify']['report_file'])
      if report_file and not salt['file.directory_exists'](report_file) %}

arp_hygiene-clean-file-absent-{{ report_file }}:
  file.absent:
    - name: {{ report_file | yaml_encode }}
{%- endfor %}

arp_hygiene-clean-file-absent-sysctl:
  file.absent:
    - name: {{ arp_hygiene['sysctl_file'] }}
