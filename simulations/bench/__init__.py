"""`autostart bench`: the project's speed, each figure beside a baseline measured in one run."""

# The traffic the bench generates and replays.
SCENARIO = "typical-cloud"
