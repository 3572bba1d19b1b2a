{#- For the minions whose addresses get reused (workers): tell the segment
    this minion's MAC for each of its addresses at every highstate and, with
    announce:at_boot, at boot (a root @reboot cron job), with
    announce:every_minutes, on that cadence (the formula's method); with
    announce:arp_notify, let the kernel announce whenever an interface comes
    up or changes its address. Not included by init.sls. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- from tplroot ~ "/synced.jinja" import until_synced, job_check with context %}
{%- from tplroot ~ "/cron_absent.jinja" import cron_absent with context %}
{%- from tplroot ~ "/schedule_absent.jinja" import schedule_absent with context %}
{%- from tplroot ~ "/schedule_present.jinja" import schedule_present with context %}
{%- from tplroot ~ "/cron_present.jinja" import cron_present with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- else %}
{%- from tplroot ~ "/written.jinja" import record with context %}
{%- set announce = arp_hygiene['announce'] %}
{%- set every = arp_hygiene['announce_every_job'] %}
{%- set every_cron = announce['every_minutes'] > 0 and arp_hygiene['method'] == 'cron' %}
{%- set every_salt = announce['every_minutes'] > 0 and arp_hygiene['method'] == 'salt' %}
{%- set ready = arp_hygiene['module_ready'] or not opts['test'] %}

include:
  - {{ tplroot }}.sync
{%- if announce['at_boot'] or every_cron %}
  - {{ tplroot }}.crond
  - {{ tplroot }}.job_script
{%- endif %}

{%- if announce['arp_notify'] or announce['at_boot'] or every_cron %}
{{ record('announce', [arp_hygiene['sysctl_file']] if announce['arp_notify'] else [], arp_hygiene['formula']['records'],
          cron=announce['at_boot'] or every_cron) }}
{%- endif %}

arp_hygiene-announce-arp-announced:
{%- if arp_hygiene['module_ready'] or not opts['test'] %}
  arp.announced:
    - name: this host's addresses
{%-   for key, value in arp_hygiene['announce_kwargs'] | dictsort %}
    - {{ key }}: {{ value | json }}
{%-   endfor %}
    - require:
      - test: arp_hygiene-sync-test-module-available
{%- else %}
{{ until_synced("What arp.announce would send is known once the arp module is synced (the live run syncs it first).",
                changes=false, name="this host's addresses") }}
{%- endif %}

{%- if announce['at_boot'] and not arp_hygiene['salt_call'] %}

{%-   set problem = "pillar arp_hygiene:announce:at_boot is true but no salt-call was found beside "
                    ~ grains['pythonexecutable'] ~ " or on PATH; set arp_hygiene:salt_call" %}
arp_hygiene-announce-test-salt_call:
  test.fail_without_changes:
    - name: {{ problem | yaml_encode }}
    - comment: {{ problem | yaml_encode }}
{%- elif announce['at_boot'] %}

{%-   set job = arp_hygiene['jobs'][arp_hygiene['announce_job']] %}
{{ job_check('arp_hygiene-announce-cmd-run-check', arp_hygiene, arp_hygiene['announce_job'],
              arp_hygiene['module_ready'] or not opts['test'], 'boot job') }}

arp_hygiene-announce-cron-present:
  cron.present:
    - name: {{ job['command'] | yaml_encode }}
    - identifier: {{ arp_hygiene['announce_job'] }}
    - user: root
    - special: '@reboot'
    - comment: arp-hygiene (Salt formula arp_hygiene) announces this host's MACs at boot
    - require:
      - pkg: arp_hygiene-crond-pkg-installed
{%- else %}
{{ cron_absent('arp_hygiene-announce-cron-absent', arp_hygiene['announce_job'], '@reboot') }}
{%- endif %}

{#- announce:every_minutes: the same announcement again on a cadence, by the
    formula's method (a root cron job, or Salt's scheduler). #}
{%- if every_cron %}
{{ cron_present('announce', arp_hygiene, every, "announces this host's MACs every " ~ announce['every_minutes'] ~ " minutes", ready) }}
{%- else %}
{{ cron_absent('arp_hygiene-announce-cron-absent-' ~ every, every) }}
{%- endif %}
{%- if every_salt %}
{{ schedule_present('announce', arp_hygiene, every, ready) }}
{%- else %}

{{ schedule_absent('arp_hygiene-announce-schedule-absent-' ~ every, every) }}
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
{%- endif %}
