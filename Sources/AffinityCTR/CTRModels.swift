// Click-through-rate models (logistic regression, Poly2, FM, FFM): being written.
