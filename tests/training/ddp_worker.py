"""Run under torchrun by test_distributed.py: train, then dump this rank's weights."""

import sys
from pathlib import Path

from ganforge.config import load_config
from ganforge.training import Trainer
from ganforge.training.checkpoint import save_weights

config, run_dir, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
trainer = Trainer(load_config(config), run_dir, quiet=True)
trainer.fit()
rank = trainer.dist.rank
for name, net in (("G", trainer.G), ("D", trainer.D), ("G_ema", trainer.G_ema)):
    save_weights(net, out / f"rank{rank}-{name}.safetensors")
trainer.dist.close()
