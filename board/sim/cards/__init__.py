"""Sample card personalisations (YAML) and their loader (:mod:`board.sim.cards.loader`)."""
