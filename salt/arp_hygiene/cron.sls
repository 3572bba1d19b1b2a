{#- method cron: a root cron job runs arp.flush_stale every interval_minutes,
    through the minion's own salt-call. The identifier makes a changed pillar
    update the line in place. Any other method removes the job. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}

{%- if arp_hygiene['method'] == 'cron' %}
arp_hygiene-cron-pkg-installed:
  pkg.installed:
    - name: {{ arp_hygiene['cron_package'] | yaml_encode }}

{%-   if arp_hygiene['report_file'] %}

arp_hygiene-cron-file-directory:
  file.directory:
    - name: {{ salt['file.dirname'](arp_hygiene['report_file']) | yaml_encode }}
    - makedirs: true
{%-   endif %}

arp_hygiene-cron-cron-present:
  cron.present:
    - name: {{ arp_hygiene['command'] | yaml_encode }}
    - identifier: {{ arp_hygiene['job'] }}
    - user: root
    - minute: '*/{{ arp_hygiene['interval_minutes'] }}'
    - comment: arp-hygiene (Salt formula arp_hygiene) flushes stale neighbour entries
    - require:
      - pkg: arp_hygiene-cron-pkg-installed
{%- elif salt['cmd.which']('crontab') %}
arp_hygiene-cron-cron-absent:
  cron.absent:
    - name: {{ arp_hygiene['job'] }}
    - identifier: {{ arp_hygiene['job'] }}
    - user: root
{%- endif %}
