"""Traffic, replays, checks and the command line."""
