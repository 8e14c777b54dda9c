// DRR, DDPG, REINFORCE and DQN tests.
