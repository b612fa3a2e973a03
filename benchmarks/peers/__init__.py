"""Peer tools run on the same layers as nmsim, each in its own virtualenv under .peers/ (git-ignored)."""
