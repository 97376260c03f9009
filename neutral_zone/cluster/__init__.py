"""The zone on a Ray cluster (optional extra ``ray``; docs/SCALE_OUT.md): node launcher with the
no-disk settings, the zone's connection to its cluster, and the jobs' partitioned paths."""
