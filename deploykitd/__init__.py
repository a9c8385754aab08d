"""deploykitd: the composition root and daemon."""
