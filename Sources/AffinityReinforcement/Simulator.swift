// The DRR reward simulator lives here (in progress).
