"""The peer-virtualenv helpers now live in nmsim.specfile.peer_venv (shared with rtl_models/dram.py)."""
from nmsim.specfile.peer_venv import ensure_venv, last_lines, probe_version, venv_python  # noqa: F401
