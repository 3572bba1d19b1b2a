{#- Reactor sls (the master renders it): on salt/minion/<id>/start, the
    database minions forget the started minion's addresses where they hold
    another MAC (runner arp_hygiene.forget, salt/_runners/arp_hygiene.py).
    The minion is named by the id in the tag, which must be the id that the
    master checked the event's sender against; its addresses are never taken
    from the event: the runner asks that minion. Starts that arrive within
    the runner's batch_wait are served by one job on each database minion. #}
{%- set parts = tag.split('/') %}
{%- if parts | length == 4 and parts[3] == 'start' and data.get('id') == parts[2] %}
arp_hygiene-reactor-forget:
  runner.arp_hygiene.forget:
    - args:
      - minion: {{ parts[2] | tojson }}
      - batch: true
{%- endif %}
