"""A calm training console: one progress bar with ETA, the running loss beside it, one line per evaluation.

transformers' own `ProgressCallback` writes every log as a raw dict (`{'loss': ..., 'grad_norm': ...}`) and opens a
second bar for each evaluation; `PrinterCallback` (`--disable_tqdm true`) prints the dicts alone. `TrainingProgress`
replaces both: the bar (or, without one, a line every `logging_steps`) shows loss and learning rate, and each
evaluation prints `epoch 3/26: validation accuracy 55.1%, macro-F1 0.503, loss 1.234`. Every number still goes to
`trainer_state.json` and the checkpoints, as before.
"""

import math

from tqdm.auto import tqdm
from transformers.trainer_callback import PrinterCallback, ProgressCallback, TrainerCallback


class TrainingProgress(TrainerCallback):
    def __init__(self, bar: bool = True):
        self.bar, self.training_bar = bar, None

    def _print(self, text: str) -> None:
        (self.training_bar.write if self.training_bar is not None else print)(text)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.bar:
            self.training_bar = tqdm(total=state.max_steps, initial=state.global_step, desc="Training", unit="step", dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.training_bar is not None:
            self.training_bar.update(state.global_step - self.training_bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        if self.training_bar is not None:
            self.training_bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs.get('learning_rate', 0):.2e}", refresh=False)
        else:
            epochs = math.ceil(args.num_train_epochs) if args.max_steps <= 0 else None
            print(f"step {state.global_step}/{state.max_steps} (epoch {state.epoch:.2f}{f'/{epochs}' if epochs else ''}): "
                  f"loss {logs['loss']:.4f}, lr {logs.get('learning_rate', 0):.2e}", flush=True)  # fmt: skip

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not state.is_world_process_zero or not metrics:
            return
        epochs = math.ceil(args.num_train_epochs) if args.max_steps <= 0 else None
        parts = [f"validation accuracy {100 * metrics['eval_accuracy']:.1f}%" if "eval_accuracy" in metrics else None,
                 f"macro-F1 {metrics['eval_macro_f1']:.3f}" if "eval_macro_f1" in metrics else None,
                 f"loss {metrics['eval_loss']:.4f}" if "eval_loss" in metrics else None]  # fmt: skip
        epoch = f"epoch {state.epoch:.0f}" + (f"/{epochs}" if epochs else "") if state.epoch is not None else "evaluation"
        self._print(f"{epoch}: " + ", ".join(p for p in parts if p))

    def on_train_end(self, args, state, control, **kwargs):
        if self.training_bar is not None:
            self.training_bar.close()
            self.training_bar = None


def use_calm_progress(trainer) -> None:
    """Swap the trainer's dict-printing callbacks for `TrainingProgress` (a bar unless `--disable_tqdm`)."""
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(TrainingProgress(bar=not trainer.args.disable_tqdm))
