{#- The cron daemon that the formula's cron jobs rely on: its package, and
    (pillar cron_service, on by default) its service running and enabled, so
    that a green highstate means jobs that run. Included by cron.sls and
    announce.sls. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- else %}

arp_hygiene-crond-pkg-installed:
  pkg.installed:
    - name: {{ arp_hygiene['cron_package'] | yaml_encode }}
{%- if arp_hygiene['cron_service'] %}

arp_hygiene-crond-service-running:
  service.running:
    - name: {{ arp_hygiene['formula']['cron_service'] | yaml_encode }}
    - enable: true
    - require:
      - pkg: arp_hygiene-crond-pkg-installed

{#- Green means working: on a host where Salt's service states cannot act
    (no running systemd, as in many containers, where they report "OFFLINE
    mode" and succeed), no cron daemon would run the jobs. #}
{%-   set daemon = arp_hygiene['formula']['cron_daemon'] %}
arp_hygiene-crond-test-daemon-running:
  test.configurable_test_state:
    - name: {{ daemon | yaml_encode }}
{%-   if opts['test'] and not salt['ps.pgrep']('^' ~ daemon ~ '$', pattern_is_regex=true) %}
    - changes: true
    - result: true
    - comment: >-
        No {{ daemon }} process runs now: the live run fails unless service
        {{ arp_hygiene['formula']['cron_service'] }} starts one.
{%-   else %}
    - changes: false
    - result: false
    - comment: >-
        No {{ arp_hygiene['formula']['cron_daemon'] }} process runs on this minion, so the formula's cron jobs would
        never run; service {{ arp_hygiene['formula']['cron_service'] }} did not start it (Salt's service states do
        nothing where systemd is installed but not running). Start the cron daemon, or set cron_service: false
        and run it yourself.
    - unless:
      - fun: ps.pgrep
        pattern: {{ ('^' ~ arp_hygiene['formula']['cron_daemon'] ~ '$') | yaml_encode }}
        pattern_is_regex: true
    - require:
      - service: arp_hygiene-crond-service-running
{%-   endif %}
{%- endif %}
{%- endif %}
