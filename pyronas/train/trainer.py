"""The retraining loop of a found architecture (plain PyTorch, no Pyro): ``Trainer``.

The evaluation protocol of DARTS (Liu et al. 2019, sec. 3.3) shared by its successors: momentum SGD
(0.9) with cosine-annealed learning rate from 0.025, weight decay 3e-4, random crop + flip and
cutout 16 (+ random erasing for VINNAS F/C), drop-path probability increased linearly from 0 to
``drop_path_prob`` over the epochs, auxiliary loss weight 0.4, optional label smoothing, gradient
norm clipping at 5. Reports test accuracy, parameters (M), FLOPs/MACs of one image and wall time,
as JSON next to an atomic checkpoint that a run resumes from. What is measured and reported
(``TrainResult``, ``evaluate``, ``count_flops``) is ``pyronas.train.measure``'s, re-exported here.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from pyronas.data.augment import Augment
from pyronas.distributed import average_gradients, broadcast_state, init_from_env
from pyronas.errors import NonFiniteLossError, RunFolderError
from pyronas.io import atomic_write_json, check_shapes, load_checkpoint, save_checkpoint
from pyronas.nn.network import Network, count_parameters
from pyronas.nn.spaces import Genotype
from pyronas.optim.schedules import cosine_annealing
from pyronas.progress import Progress
from pyronas.train.config import NetworkSection, TrainSection
from pyronas.train.measure import TrainResult, count_flops, evaluate

logger = logging.getLogger(__name__)

CHECKPOINT = "train_checkpoint.pt"
_STATE_KEYS = ("net", "optimizer", "generator", "epoch", "history", "wall_time")
METRICS = "train_metrics.json"


def validation_split(
    x: torch.Tensor, y: torch.Tensor, portion: float, seed: int
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """``(train, validation)`` tensors: a seeded random ``portion`` of the examples (at least one) held out."""
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(round(portion * len(x))))
    val, train = perm[:n_val].sort().values, perm[n_val:].sort().values
    return (x[train], y[train]), (x[val], y[val])


def drop_path_schedule(epoch: int, epochs: int, p_max: float) -> float:
    """Drop-path probability of ``epoch``: ``p_max * epoch / epochs`` (linear, as DARTS)."""
    return p_max * epoch / max(epochs, 1)


def build_network(genotype: Genotype, network, in_channels: int, num_classes: int) -> Network:
    """The discrete network of ``genotype`` at the sizes of the ``network:`` config section."""
    return Network.from_genotype(
        genotype, genotype.space, network.C, network.layers, in_channels, num_classes,
        network.auxiliary, network.layout,
    )


class Trainer:
    """Retrain the discrete network of ``genotype`` on in-memory tensors.

    Args:
        genotype: the architecture.
        network: ``NetworkSection`` (channels, cells, layout, auxiliary head).
        train: ``TrainSection`` (the protocol).
        data: ``(x_train, y_train, x_test, y_test)`` tensors, images ``[N, C, H, W]``.
        num_classes: number of classes.
        batch_size, eval_batch_size: mini-batch sizes of training and evaluation.
        out_dir: where the checkpoint and the metrics JSON go (None: nothing is written).
        seed: seeds the initialisation, the shuffling and the augmentation.
        device: torch device.
        regulariser: optional ``fn(net, progress) -> loss term`` added to the data loss (e.g. the
            scaled KL of Bayesian weights); ``progress`` is the fractional epoch.
        build: optional ``fn(genotype, network_section, in_channels, num_classes) -> nn.Module``
            replacing the plain ``Network`` (e.g. one with Bayesian layers).
        tensorboard: also write each epoch's record (and the cell diagram once) to ``out_dir/tensorboard/``.
        test: evaluate the test set (once, in ``report``); False leaves ``test_acc`` NaN, e.g. for the
            candidates of a random search that only the chosen one's test accuracy is reported for.

    With ``train.val_portion > 0`` a seeded ``val_portion`` of the training tensors is held out as the
    validation split: the per-epoch evaluation (``val_acc``) uses it, never the test set.
    """

    def __init__(
        self,
        genotype: Genotype,
        network: NetworkSection,
        train: TrainSection,
        data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
        num_classes: int,
        batch_size: int = 96,
        eval_batch_size: int = 256,
        out_dir: str | Path | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        regulariser=None,
        build=None,
        tensorboard: bool = False,
        test: bool = True,
    ):
        self.genotype, self.net_cfg, self.cfg = genotype, network, train
        self.tensorboard, self.test = tensorboard, test
        self.x_train, self.y_train, self.x_test, self.y_test = data
        self.x_val = self.y_val = None
        if train.val_portion > 0:
            (self.x_train, self.y_train), (self.x_val, self.y_val) = validation_split(
                self.x_train, self.y_train, train.val_portion, seed
            )
        self.num_classes = num_classes
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.device = torch.device(device)
        # under torchrun: each rank trains on its block of every global batch, gradients averaged
        self.world = init_from_env(self.device)
        if self.world.active and self.device.type == "cuda":
            self.device = torch.device("cuda", self.world.local_rank)
        self.out_dir = Path(out_dir) if out_dir is not None and self.world.is_main else None
        self.regulariser = regulariser
        torch.manual_seed(seed)
        in_channels = self.x_train.shape[1]
        self.net = (build or build_network)(genotype, network, in_channels, num_classes)
        self.net.to(self.device)
        broadcast_state([self.net], self.world)
        # log-variances of Bayesian weights (pyronas.train.bayesian) are not decayed
        decay = [p for n, p in self.net.named_parameters() if p.requires_grad and "log_sigma2" not in n]
        no_decay = [p for n, p in self.net.named_parameters() if p.requires_grad and "log_sigma2" in n]
        groups = [{"params": decay}] + ([{"params": no_decay, "weight_decay": 0.0}] if no_decay else [])
        if train.optimizer == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                groups, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay
            )
        else:  # VINNAS retrains with Adam (sec. V.A)
            self.optimizer = torch.optim.Adam(groups, lr=train.lr, weight_decay=train.weight_decay)
        self.augment = Augment(train.crop_padding, train.flip, train.cutout, train.erasing)
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.history: list[dict] = []
        self.wall_time = 0.0

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Network, optimizer, RNG and progress, for the checkpoint."""
        return {
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
            "history": self.history,
            "wall_time": self.wall_time,
            "genotype": self.genotype.to_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned."""
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.epoch, self.history, self.wall_time = state["epoch"], state["history"], state["wall_time"]

    def resume(self, path: str | Path) -> None:
        """Continue from the checkpoint in run directory (or file) ``path``."""
        path = Path(path)
        if path.is_dir():
            path = path / CHECKPOINT
        state = load_checkpoint(path, map_location=self.device)
        if not isinstance(state, dict) or any(k not in state for k in _STATE_KEYS):
            have = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise RunFolderError(f"{path}: not a retraining checkpoint (expected {', '.join(_STATE_KEYS)}; "
                                 f"got {have}); delete it to start the retraining afresh")
        check_shapes(state["net"], self.net.state_dict(), path, "net")
        try:
            self.load_state_dict(state)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
            raise RunFolderError(f"{path}: damaged retraining checkpoint ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0] if str(e) else ''})") from None
        logger.info("resumed %s at epoch %d", path, self.epoch)

    # ----------------------------------------------------------------------------- loop
    def _loss(self, out, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, aux = out if isinstance(out, tuple) else (out, None)
        loss = F.cross_entropy(logits, y, label_smoothing=self.cfg.label_smoothing)
        if aux is not None:
            loss = loss + self.cfg.aux_weight * F.cross_entropy(aux, y, label_smoothing=self.cfg.label_smoothing)
        return loss, logits

    def steps_per_epoch(self) -> int:
        """Steps per epoch: one pass over the training images (per rank), capped by ``train.steps_per_epoch``."""
        steps = math.ceil(len(self.x_train) / (self.batch_size * self.world.size))
        return steps if self.cfg.steps_per_epoch is None else min(steps, self.cfg.steps_per_epoch)

    def train_epoch(self, progress: Progress | None = None) -> dict:
        """One epoch over a fresh permutation of the training set (``progress`` advances per step)."""
        cfg, net = self.cfg, self.net
        lr = cosine_annealing(self.epoch, cfg.epochs, cfg.lr, cfg.lr_min)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if hasattr(net, "drop_path_prob"):
            net.drop_path_prob = drop_path_schedule(self.epoch, cfg.epochs, cfg.drop_path_prob)
        net.train()
        n = len(self.x_train)
        perm = torch.randperm(n, generator=self.generator)
        steps = self.steps_per_epoch()
        total_loss, correct, seen = 0.0, 0, 0
        bs, lo = self.batch_size * self.world.size, self.batch_size * self.world.rank
        for step in range(steps):
            idx = perm[step * bs : (step + 1) * bs]  # the global batch; this rank's block of it below
            x = self.augment(self.x_train[idx], self.generator)[lo : lo + self.batch_size].to(self.device)
            idx = idx[lo : lo + self.batch_size]
            y = self.y_train[idx].to(self.device)
            loss, logits = self._loss(net(x), y)
            if self.regulariser is not None:
                loss = loss + self.regulariser(net, self.epoch + step / steps)
            if not torch.isfinite(loss):
                ckpt = self.out_dir / CHECKPOINT if self.out_dir is not None else None
                kept = ckpt if ckpt is not None and ckpt.exists() else "none"
                raise NonFiniteLossError(f"the training loss became {loss.item()} at epoch {self.epoch}, "
                                         f"step {step}; stopping. Last good checkpoint kept: {kept}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(net.parameters(), self.world)
            if cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_([p for p in net.parameters() if p.requires_grad], cfg.grad_clip)
            self.optimizer.step()
            total_loss += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(idx)
            if progress is not None:
                progress.update(1, epoch=self.epoch, loss=f"{loss.item():.3f}")
        return {
            "epoch": self.epoch,
            "lr": lr,
            "drop_path_prob": getattr(net, "drop_path_prob", 0.0),
            "train_loss": total_loss / seen,
            "train_acc": correct / seen,
        }

    def run(self, max_epochs: int | None = None) -> TrainResult:
        """Train the remaining epochs (at most ``max_epochs`` in this call; checkpoint after each),
        then evaluate and write the metrics."""
        cfg = self.cfg
        stop = cfg.epochs if max_epochs is None else min(cfg.epochs, self.epoch + max_epochs)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        steps = self.steps_per_epoch()
        bar = Progress(cfg.epochs * steps, self.epoch * steps, desc="train",
                       enabled=cfg.progress and self.world.is_main)
        board = None
        if self.tensorboard and self.out_dir is not None:
            from pyronas.analysis.tensorboard import TensorBoardLog

            board = TensorBoardLog(self.out_dir)
        while self.epoch < stop:
            start = time.perf_counter()
            record = self.train_epoch(bar)
            evaluated = (self.epoch + 1) % cfg.eval_every == 0 or self.epoch + 1 == cfg.epochs
            if evaluated and self.x_val is not None:  # the validation split only: never the test set
                record["val_acc"], record["val_loss"] = evaluate(self.net, self.x_val, self.y_val, self.eval_batch_size)
            self.wall_time += time.perf_counter() - start
            self.history.append(record)
            self.epoch += 1
            if board is not None:
                board.write(record, record["epoch"], genotype=self.genotype if record["epoch"] == 0 else None)
            logger.info("epoch %d/%d: %s", self.epoch, cfg.epochs, ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k != "epoch"))
            bar.update(0, acc=f"{record.get('val_acc', record['train_acc']):.3f}")
            if self.out_dir is not None:
                save_checkpoint(self.state_dict(), self.out_dir / CHECKPOINT)
        bar.close()
        if board is not None:
            board.close()
        return self.report()

    def report(self) -> TrainResult:
        """Validation accuracy (reusing the last epoch's evaluation), the test accuracy of the current network
        (evaluated here, once, unless ``test=False``), parameters, FLOPs; written to ``train_metrics.json``."""
        last = self.history[-1] if self.history else {}
        val_acc = val_loss = float("nan")
        if self.x_val is not None:
            if last.get("epoch") == self.epoch - 1 and "val_acc" in last:
                val_acc, val_loss = last["val_acc"], last["val_loss"]
            else:
                val_acc, val_loss = evaluate(self.net, self.x_val, self.y_val, self.eval_batch_size)
        acc = loss = float("nan")
        if self.test:
            acc, loss = evaluate(self.net, self.x_test, self.y_test, self.eval_batch_size)
        flops, macs = count_flops(self.net, tuple(self.x_train.shape[1:]))
        counter = getattr(self.net, "parameter_count", None)  # Bayesian networks count their architecture
        params = counter() if counter else count_parameters(self.net)
        params_total = counter(exclude_auxiliary=False) if counter else count_parameters(self.net, False)
        extra = {}
        if hasattr(self.net, "nonzero_parameters"):
            extra["params_nonzero_M"] = self.net.nonzero_parameters() / 1e6
        result = TrainResult(
            genotype=self.genotype.to_dict(),
            test_acc=acc,
            test_loss=loss,
            params_M=params / 1e6,
            params_total_M=params_total / 1e6,
            macs_M=macs,
            flops_M=flops,
            wall_time_s=self.wall_time,
            epochs=self.epoch,
            history=self.history,
            extra=extra,
            val_acc=val_acc,
            val_loss=val_loss,
        )
        if self.out_dir is not None:
            atomic_write_json(self.out_dir / METRICS, asdict(result), indent=2)
        return result
