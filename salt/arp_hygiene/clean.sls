{#- Removes what the formula installed and nothing else: its cron jobs
    (flush, verify, sweep, announce at boot and on a cadence, by their
    identifiers), its scheduler jobs (by name), and the files and
    directories recorded in its records (formula:records, each part's
    written before it writes: report files under every path pillar ever
    gave, the job script, the sysctl file), then the records; the beacon arp
    if the records say the formula added it; the engine arp_watch's drop-in,
    restarting the daemon that runs it; root's crontab if the formula made
    it and nothing but Salt's header line would be left in it. A directory
    goes only if the formula made it and nothing else is left in it. Sysctl
    values already applied stay until the next boot; pyroute2 and the cron
    package stay: other software may use them. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- from tplroot ~ "/schedule_absent.jinja" import schedule_absent with context %}
{%- from tplroot ~ "/beacon_absent.jinja" import beacon_absent with context %}
{%- from tplroot ~ "/cron_absent.jinja" import cron_absent with context %}
{%- from tplroot ~ "/written.jinja" import read_records with context %}
{%- set formula = arp_hygiene['formula'] %}
{%- set written = read_records(formula['records']) | load_json %}
{%- set jobs = (arp_hygiene['job'], arp_hygiene['verify_job'], arp_hygiene['sweep_job'], arp_hygiene['announce_job'],
                arp_hygiene['announce_every_job']) %}

{%- for job in jobs %}
{{ cron_absent('arp_hygiene-clean-cron-absent-' ~ job, job, '@reboot' if job == arp_hygiene['announce_job'] else none) }}
{%- endfor %}

{#- Root's crontab, when the formula made it (Salt's cron states leave their
    header line behind) and every line in it is that header, one of the
    formula's jobs or its comment line. #}
{%- if written['crontab'] and salt['cmd.which']('crontab') %}
{%-   set lines = namespace(others=0, ours=0, job_next=false) %}
{%-   for line in salt['cron.raw_cron']('root').splitlines() if line | trim %}
{%-     if lines.job_next %}
{%-       set lines.job_next = false %}
{%-     elif line == '# Lines below here are managed by Salt, do not edit' %}
{%-       set lines.ours = lines.ours + 1 %}
{%-     elif line.startswith('#') and line.rsplit(' SALT_CRON_IDENTIFIER:', 1)[-1] in jobs %}
{%-       set lines.job_next = true %}
{%-     else %}
{%-       set lines.others = lines.others + 1 %}
{%-     endif %}
{%-   endfor %}
{%-   if lines.ours and not lines.others %}

arp_hygiene-clean-cmd-run-crontab-remove:
  cmd.run:
    - name: crontab -r
    - require:
{%-     for job in jobs %}
      - cron: arp_hygiene-clean-cron-absent-{{ job }}
{%-     endfor %}
{%-   endif %}
{%- endif %}
{%- for job in jobs if job != arp_hygiene['announce_job'] %}

{{ schedule_absent('arp_hygiene-clean-schedule-absent-' ~ job, job) }}
{%- endfor %}

{#- The beacon, if the formula added it, before the records that say so go
    (beacon_absent.jinja). #}
{%- if written['beacons'].get('arp') %}
{%-   set beacons = salt['beacons.list'](return_yaml=False, include_pillar=False, timeout=10) %}
{%-   if beacons is none or 'arp' in beacons %}

{{ beacon_absent('arp_hygiene-clean-beacon-absent-arp', beacons, 'arp_hygiene.clean') }}
    - require_in:
{%-     for path in written['records'] %}
      - file: arp_hygiene-clean-file-absent-{{ path }}
{%-     endfor %}
{%-   endif %}
{%- endif %}

{#- The engine arp_watch's drop-in, if the formula wrote it: removed, and
    the daemon restarted if it runs the engine (arp.not_watching). #}
{%- set drop_in = arp_hygiene['watch_config'] %}
{%- if drop_in in written['files'] and salt['file.file_exists'](drop_in) %}

arp_hygiene-clean-arp-not-watching:
  arp.not_watching:
    - name: {{ drop_in | yaml_encode }}
    - order: last
{%- endif %}

{#- Files: those recorded (but the drop-in, above), the two whose names are
    the formula's own, and the records themselves, last. #}
{%- set files = (written['files'] | list) + [formula['job_script'], formula['sysctl_file']] %}
{%- set files = files | unique | select('string') | reject('equalto', '') | reject('in', written['records'])
      | reject('equalto', drop_in) | list %}
{%- for path in files + written['records'] if salt['file.file_exists'](path) %}

arp_hygiene-clean-file-absent-{{ path }}:
  file.absent:
    - name: {{ path | yaml_encode }}
{%- endfor %}

{#- Directories the formula made, deepest first, when nothing but what clean
    removes is in them. #}
{%- set gone = files + written['records'] %}
{%- for directory in written['directories'] | sort(reverse=true)
      if directory is string and directory.startswith('/') and salt['file.directory_exists'](directory) %}
{%-   set left = namespace(count=0) %}
{%-   for entry in salt['file.readdir'](directory) if entry not in ['.', '..'] %}
{%-     if (directory.rstrip('/') ~ '/' ~ entry) not in gone %}
{%-       set left.count = left.count + 1 %}
{%-     endif %}
{%-   endfor %}
{%-   if left.count == 0 %}
{%-     do gone.append(directory) %}

arp_hygiene-clean-file-absent-{{ directory }}:
  file.absent:
    - name: {{ directory | yaml_encode }}
{%-     if written['records'] %}
    - require:
{%-       for path in written['records'] %}
      - file: arp_hygiene-clean-file-absent-{{ path }}
{%-       endfor %}
{%-     endif %}
{%-   endif %}
{%- endfor %}
