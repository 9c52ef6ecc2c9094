"""Published experiments, one module per paper, each owning its run, its table and its
findings: :mod:`.hinton2006`, :mod:`.glorot2010`, :mod:`.he2015`."""
