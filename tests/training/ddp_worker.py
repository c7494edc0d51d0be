"""Run under torchrun by test_distributed.py: train, then dump this rank's weights."""

import sys
from pathlib import Path

from ganforge.tasks import load_config
from ganforge.training import Trainer
from ganforge.checkpoint import save_weights

config, run_dir, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
trainer = Trainer(load_config(config), run_dir, quiet=True)
trainer.fit()
rank = trainer.dist.rank
for name, net in (("G", trainer.task.G), ("D", trainer.task.D), ("G_ema", trainer.task.G_ema)):
    save_weights(net, out / f"rank{rank}-{name}.safetensors")
trainer.dist.close()
