{#- Makes pyroute2, which the arp module needs, importable by the Python that
    runs the minion: pip (no bin_env: the minion's own Python, or salt-pip on
    onedir installs; only when what is installed does not satisfy
    pyroute2:pip, which map.py finds without running pip), an OS package, or
    nothing (pyroute2:install). Other states require it by its id. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}
{%- if arp_hygiene['invalid'] %}
include:
  - {{ tplroot }}.invalid
{%- else %}
{%- set pyroute2 = arp_hygiene['pyroute2'] %}

{%- if pyroute2['install'] == 'pip' and arp_hygiene['pyroute2_installed'] %}
arp_hygiene-pyroute2-pip-installed:
  test.succeed_without_changes:
    - comment: >-
        pyroute2 {{ arp_hygiene['pyroute2_installed'] }} is installed in this minion's Python, as
        {{ pyroute2['pip'] }} asks.
{%- elif pyroute2['install'] == 'pip' %}
arp_hygiene-pyroute2-pip-installed:
  pip.installed:
    - name: {{ pyroute2['pip'] | yaml_encode }}
    - reload_modules: true
{%- elif pyroute2['install'] == 'pkg' %}
arp_hygiene-pyroute2-pkg-installed:
  pkg.installed:
    - name: {{ pyroute2['pkg'] | yaml_encode }}
    - reload_modules: true
{%- endif %}
{%- endif %}
