"""`autostart bench`: the project's speed, each figure beside a baseline measured in one run."""
