"""deploykitd: the composition root and daemon."""

from deploykitd import lean

lean.apply()  # before anything of the daemon imports aiohttp: see deploykitd/lean.py
