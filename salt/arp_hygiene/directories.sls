{#- The directories that the jobs and enforce write into: those of the cron
    jobs' reports and the metrics directory (metrics:textfile_dir, where
    node_exporter's textfile collector reads), each made once however many
    files go there, recorded with the files written there (map.py's
    `written`), so that clean removes them. Included by cron.sls,
    schedule.sls and enforce.sls; what writes into a directory requires its
    arp_hygiene-directories-file-directory-<path>. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- elif arp_hygiene['written'] %}
{%- from tplroot ~ "/written.jinja" import record with context %}
{{ record('directories', arp_hygiene['written'], arp_hygiene['formula']['records']) }}
{%-   for directory in arp_hygiene['directories'] %}

arp_hygiene-directories-file-directory-{{ directory }}:
  file.directory:
    - name: {{ directory | yaml_encode }}
    - makedirs: true
{%-   endfor %}
{%- endif %}
