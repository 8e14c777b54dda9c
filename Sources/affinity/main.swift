print("affinity")
