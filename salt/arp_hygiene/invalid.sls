{#- What every sls of the formula includes, instead of its states, when
    pillar arp_hygiene is bad: one failed state whose comment (and name, as
    test mode shows Salt's own comment) is the first problem: the key, its
    value, what is allowed. Nothing is installed. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import arp_hygiene with context %}

arp_hygiene-invalid-test-pillar:
  test.fail_without_changes:
    - name: {{ arp_hygiene['invalid'] | yaml_encode }}
    - comment: {{ arp_hygiene['invalid'] | yaml_encode }}
