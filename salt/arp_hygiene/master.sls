{#- For the Salt master's own minion: the master.d drop-in that maps
    salt/minion/*/start to the formula's reactor, or runs the master engine
    arp_hygiene (a started minion's addresses are forgotten on the database
    minions at once), and the settings of the arp_hygiene runner, from
    pillar arp_hygiene:master. The master reads it when it starts: restart
    the salt-master after a change. Salt merges the reactor and engines
    lists of all its configuration files, so other reactors and engines
    stay. Not part of init.sls: apply it to the master alone. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- else %}
{%- from tplroot ~ "/written.jinja" import record with context %}
{%- set master = arp_hygiene['master'] %}
{%- set config = {'arp_hygiene': {
      'targets': master['targets'],
      'tgt_type': master['tgt_type'],
      'timeout': master['timeout'],
      'batch_wait': master['batch_wait'],
    }} %}
{%- if master['reactor'] %}
{%-   do config.update({'reactor': [{'salt/minion/*/start': ['salt://' ~ tplroot ~ '/reactor/start.sls']}]}) %}
{%- endif %}
{%- if master['engine'] %}
{%-   do config.update({'engines': [{'arp_hygiene': {}}]}) %}
{%- endif %}
{{ record('master', [master['config_file']], arp_hygiene['formula']['records']) }}

arp_hygiene-master-file-serialize-config:
  file.serialize:
    - name: {{ master['config_file'] | yaml_encode }}
    - dataset: {{ config | tojson }}
    - serializer: yaml
    - mode: '0644'
    - makedirs: true
{%- endif %}
