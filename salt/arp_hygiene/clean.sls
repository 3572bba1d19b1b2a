{#- Removes what the formula installed and nothing else: its cron jobs
    (flush, verify, announce at boot, by their identifiers), its scheduler
    jobs (by name), and the files and directories recorded in its manifest
    (formula:manifest, written before each write: report files under every
    path pillar ever gave, the job runner, the sysctl file), then the
    manifest; the beacon arp if the manifest says the formula added it. A
    directory goes only if the formula made it and nothing else
    is left in it. Sysctl values already applied stay until the next boot;
    pyroute2 and the cron package stay: other software may use them. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- from tplroot ~ "/schedule_absent.jinja" import schedule_absent with context %}
{%- from tplroot ~ "/beacon_absent.jinja" import beacon_absent with context %}
{%- set formula = arp_hygiene['formula'] %}
{%- set manifest = formula['manifest'] %}
{%- set written = salt['file.read'](manifest) | load_json if salt['file.file_exists'](manifest) else {} %}

{%- if salt['cmd.which']('crontab') %}
{%-   for job in (arp_hygiene['job'], arp_hygiene['verify_job'], arp_hygiene['announce_job']) %}

arp_hygiene-clean-cron-absent-{{ job }}:
  cron.absent:
    - name: {{ job }}
    - identifier: {{ job }}
    - user: root
{%-     if job == arp_hygiene['announce_job'] %}
    - special: '@reboot'
{%-     endif %}
{%-   endfor %}
{%- endif %}
{%- for job in (arp_hygiene['job'], arp_hygiene['verify_job']) %}

{{ schedule_absent('arp_hygiene-clean-schedule-absent-' ~ job, job) }}
{%- endfor %}

{#- The beacon, if the formula added it, before the manifest that records
    it goes (beacon_absent.jinja). #}
{%- if (written.get('beacons') or {}).get('arp') %}
{%-   set beacons = salt['beacons.list'](return_yaml=False, include_pillar=False, timeout=10) %}
{%-   if beacons is none or 'arp' in beacons %}

{{ beacon_absent('arp_hygiene-clean-beacon-absent-arp', beacons, 'arp_hygiene.clean') }}
    - require_in:
      - file: arp_hygiene-clean-file-absent-{{ manifest }}
{%-   endif %}
{%- endif %}

{#- Files: those recorded, and the two whose names are the formula's own. #}
{%- set files = (written.get('files', {}) | list) + [formula['runner'], formula['sysctl_file'], manifest] %}
{%- set files = files | unique | select('string') | reject('equalto', '') | list %}
{%- for path in files if salt['file.file_exists'](path) %}

arp_hygiene-clean-file-absent-{{ path }}:
  file.absent:
    - name: {{ path | yaml_encode }}
{%- endfor %}

{#- Directories the formula made, deepest first, when nothing but what clean
    removes is in them. #}
{%- set gone = files | list %}
{%- for directory in written.get('directories', {}) | sort(reverse=true)
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
    - require:
      - file: arp_hygiene-clean-file-absent-{{ manifest }}
{%-   endif %}
{%- endfor %}
