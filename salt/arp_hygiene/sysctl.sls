{#- Neighbour-table sysctls from pillar arp_hygiene:sysctl, kept in their own
    file under /etc/sysctl.d so that clean.sls can remove them. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- else %}
{%- from tplroot ~ "/written.jinja" import record with context %}
{%- if arp_hygiene['sysctl'] %}
{{ record('sysctl', [arp_hygiene['sysctl_file']], arp_hygiene['formula']['records']) }}
{%- endif %}

{%- for key, value in arp_hygiene['sysctl'] | dictsort %}
arp_hygiene-sysctl-sysctl-present-{{ key }}:
  sysctl.present:
    - name: {{ key }}
    - value: {{ value }}
    - config: {{ arp_hygiene['sysctl_file'] }}
{%- endfor %}
{%- endif %}
