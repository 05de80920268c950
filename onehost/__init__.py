"""onehost: one EC2 host, run like a fleet."""
