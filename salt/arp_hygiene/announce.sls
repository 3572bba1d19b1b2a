{#- For the minions whose addresses get reused (workers): tell the segment
    this minion's MAC for each of its addresses at every highstate and, with
    announce:at_boot, at boot (a root @reboot cron job); with
    announce:arp_notify, let the kernel announce whenever an interface comes
    up or changes its address. Not included by init.sls. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- set announce = arp_hygiene['announce'] %}

include:
  - {{ tplroot }}.pyroute2

arp_hygiene-announce-module-run:
  module.run:
    - arp.announce:
{%- for key, value in arp_hygiene['announce_kwargs'] | dictsort %}
      - {{ key }}: {{ value | json }}
{%- endfor %}
{%- if arp_hygiene['pyroute2']['install'] != 'none' %}
    - require:
      - {{ arp_hygiene['pyroute2']['install'] }}: arp_hygiene-pyroute2-{{ arp_hygiene['pyroute2']['install'] }}-installed
{%- endif %}

{%- if announce['at_boot'] %}
{%-   if not arp_hygiene['salt_call'] %}
{{-     raise("pillar arp_hygiene:announce:at_boot is true but no salt-call was found beside "
              ~ grains['pythonexecutable'] ~ " or on PATH; set arp_hygiene:salt_call") }}
{%-   endif %}

arp_hygiene-announce-pkg-installed:
  pkg.installed:
    - name: {{ arp_hygiene['cron_package'] | yaml_encode }}

arp_hygiene-announce-cron-present:
  cron.present:
    - name: {{ arp_hygiene['announce_command'] | yaml_encode }}
    - identifier: {{ arp_hygiene['announce_job'] }}
    - user: root
    - special: '@reboot'
    - comment: arp-hygiene (Salt formula arp_hygiene) announces this host's MACs at boot
    - require:
      - pkg: arp_hygiene-announce-pkg-installed
{%- elif salt['cmd.which']('crontab') %}

arp_hygiene-announce-cron-absent:
  cron.absent:
    - name: {{ arp_hygiene['announce_job'] }}
    - identifier: {{ arp_hygiene['announce_job'] }}
    - user: root
    - special: '@reboot'
{%- endif %}

{%- if announce['arp_notify'] %}
{%-   for scope in ('all', 'default') %}

arp_hygiene-announce-sysctl-present-{{ scope }}:
  sysctl.present:
    - name: net.ipv4.conf.{{ scope }}.arp_notify
    - value: 1
    - config: {{ arp_hygiene['sysctl_file'] }}
{%-   endfor %}
{%- endif %}
