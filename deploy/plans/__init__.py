"""What a run will do, decided before the host changes: the release, the rollback, the switch."""
