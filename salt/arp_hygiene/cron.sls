{#- method cron: root cron jobs run arp.flush_stale (and, with verify enabled,
    arp.verify fix=True) every interval_minutes, through the minion's own
    salt-call. The identifiers make a changed pillar update the lines in
    place. Any other method removes the jobs. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- set jobs = [(arp_hygiene['job'], arp_hygiene['command'], arp_hygiene['report_file'], 'flushes stale neighbour entries')] %}
{%- if arp_hygiene['verify']['enabled'] %}
{%-   do jobs.append((arp_hygiene['verify_job'], arp_hygiene['verify_command'], arp_hygiene['verify']['report_file'], 'verifies neighbour entries')) %}
{%- endif %}

{%- if arp_hygiene['method'] == 'cron' %}
arp_hygiene-cron-pkg-installed:
  pkg.installed:
    - name: {{ arp_hygiene['cron_package'] | yaml_encode }}
{%-   for job, command, report_file, purpose in jobs %}
{%-     if report_file %}

arp_hygiene-cron-file-directory-{{ job }}:
  file.directory:
    - name: {{ salt['file.dirname'](report_file) | yaml_encode }}
    - makedirs: true
{%-     endif %}

arp_hygiene-cron-cron-present-{{ job }}:
  cron.present:
    - name: {{ command | yaml_encode }}
    - identifier: {{ job }}
    - user: root
    - minute: {{ arp_hygiene['cron_minute'] | yaml_encode }}
    - comment: arp-hygiene (Salt formula arp_hygiene) {{ purpose }}
    - require:
      - pkg: arp_hygiene-cron-pkg-installed
{%-   endfor %}
{%- endif %}

{%- if salt['cmd.which']('crontab') %}
{%-   for job in [arp_hygiene['job'], arp_hygiene['verify_job']] if arp_hygiene['method'] != 'cron' or job not in jobs|map(attribute=0) %}

arp_hygiene-cron-cron-absent-{{ job }}:
  cron.absent:
    - name: {{ job }}
    - identifier: {{ job }}
    - user: root
{%-   endfor %}
{%- endif %}
