{#- Removes what the formula installed: the cron job, the scheduler job, the
    last report and the sysctl file. Sysctl values already applied stay until
    the next boot. pyroute2 and the cron package stay: other software may
    use them. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}

{%- if salt['cmd.which']('crontab') %}
arp_hygiene-clean-cron-absent:
  cron.absent:
    - name: {{ arp_hygiene['job'] }}
    - identifier: {{ arp_hygiene['job'] }}
    - user: root
{%- endif %}

arp_hygiene-clean-schedule-absent:
  schedule.absent:
    - name: {{ arp_hygiene['job'] }}
    - persist: true

{%- if arp_hygiene['report_file'] %}

arp_hygiene-clean-file-absent-report:
  file.absent:
    - name: {{ arp_hygiene['report_file'] | yaml_encode }}
{%- endif %}

arp_hygiene-clean-file-absent-sysctl:
  file.absent:
    - name: {{ arp_hygiene['sysctl_file'] }}
