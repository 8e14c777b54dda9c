// Reinforcement tests (in progress).
