// The neural engine's tensor type lives here (in progress).
