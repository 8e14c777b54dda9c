// Neural engine tests (in progress).
