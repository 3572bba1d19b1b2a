# arp_hygiene: keeps the neighbour table (ARP, NDP) of this minion free of
# stale entries. Every part reads pillar 'arp_hygiene' (see pillar.example).
include:
  - .pyroute2
  - .sysctl
  - .cron
  - .schedule
  - .enforce
  - .beacon
  - .diagnose
  - .watch
