"""What drives a Lightning fit around the pruning library: the pruning callback (steps between fine-tune epochs),
the fine-tune's optimizer and LR restarts, pruning steps under DDP and the U-Net level search."""
