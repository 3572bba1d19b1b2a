{#- What every sls of the formula includes, instead of its states, when
    pillar arp_hygiene is bad: one failed state (in test mode too) whose
    comment is the first problem: the key, its value, what is allowed.
    Nothing is installed. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}

arp_hygiene-invalid-test-pillar:
  test.configurable_test_state:
    - name: pillar arp_hygiene
    - changes: false
    - result: false
    - allow_test_mode_failure: true
    - comment: {{ arp_hygiene['invalid'] | yaml_encode }}
