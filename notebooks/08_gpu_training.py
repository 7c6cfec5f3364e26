# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Training at full size: the authors' configs on a GPU, or several
#
# Chapter 06 trained a small FOMM on a CPU in minutes. This chapter is for the instructor who
# trains the real thing: the authors' 256×256 configs on their datasets, for many hours, on a
# Colab GPU that may disconnect, or on a machine with several GPUs. It uses the library only
# (`fomm-teach train` and its Python twin `fomm_teach.train.train`); nothing new is taught about
# the model itself.
#
# | section | what |
# |---|---|
# | 8.1 | where this notebook runs: the GPU check, Colab's runtime, Google Drive |
# | 8.2 | the authors' datasets: what exists, how big, how they were made, the folder layouts |
# | 8.3 | a small dataset in the real format, `fomm-teach check-dataset`, and the authors' data loader |
# | 8.4 | a practice run: live loss plot, the per-epoch picture, resuming after a disconnect |
# | 8.5 | the speed options that keep the math: `--precision`, `--channels-last`, `--compile` |
# | 8.6 | a GPU smoke run of vox-256 on synthetic 256×256 frames, bf16 against fp32 |
# | 8.7 | the full command lines (one GPU, several GPUs, several machines) with time and memory estimates |
# | 8.8 | evaluation with the authors' reconstruction protocol, and on to chapter 07 |
#
# **On a CPU, in quick mode** (`FOMM_TEACH_QUICK=1`, as in the course's tests) the notebook runs in
# about a minute: every cell that needs a GPU starts with `%%gpu` and prints that it was skipped,
# and the practice run trains a few steps at 64×64. Every command line in this notebook is parsed
# by the course's tests (`tests/test_notebook_08_commands.py`), so a renamed option cannot go
# unnoticed here.
#
# **Learning goals.** After this chapter you can prepare a dataset in the authors' layout and check
# it, start a run that survives a Colab disconnect, choose the precision and batch size for the
# GPU you have, launch the same run on several GPUs, and evaluate what it learned.

# %%
from fomm_teach.course import start
course = start()   # seeds, sets threads, picks course.device, reads course.quick (FOMM_TEACH_QUICK=1), prints versions

# %% [markdown]
# ## 8.1 Where this notebook runs
#
# **The GPU check.** `course.device` is `cuda` when PyTorch sees a GPU. On Colab, a fresh notebook
# runs on a CPU: choose *Runtime → Change runtime type → Hardware accelerator: GPU* (T4 on the free
# tier; L4 or A100 on paid tiers), save, and run the notebook from the top again (changing the
# runtime restarts it). The cell below prints what PyTorch sees. Whether bf16 is available matters
# for 8.5: the T4 has no bfloat16, so use `--precision fp16` there.

# %%
import torch

if course.device.type == "cuda":
    props = torch.cuda.get_device_properties(course.device)
    print(f"GPU: {props.name}, {props.total_memory / 2 ** 30:.1f} GiB, compute capability {props.major}.{props.minor}, "
          f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no (use --precision fp16)'}")
else:
    print("No GPU: this kernel runs on the CPU. The cells marked %%gpu will be skipped. "
          "On Colab: Runtime → Change runtime type → GPU.")

# %% [markdown]
# **Installing.** On Colab the first (hidden) cell of this notebook installs the course's package;
# that one cell is the whole installation (Colab's own PyTorch is kept). Anywhere else, one
# command in a terminal does it: `pip install "fomm_teach @ git+https://github.com/fomm-teach/fomm_teach"`
# (or `make lab` in a clone, see chapter 00).
#
# **Google Drive.** A Colab runtime forgets its disk when it disconnects, so runs (checkpoints,
# `log.txt`, pictures) and datasets go on Google Drive. The next cell mounts Drive on Colab (it
# asks for permission once) and chooses the folders; off Colab it uses a temporary folder, so
# nothing of this notebook lands in your working copy.

# %%
import sys
import tempfile
from pathlib import Path

if "google.colab" in sys.modules:
    from google.colab import drive
    drive.mount("/content/drive")
    HOME = Path("/content/drive/MyDrive/fomm-course")   # runs and datasets survive a disconnect here
else:
    HOME = Path(tempfile.mkdtemp(prefix="fomm08-"))
    print("not on Colab: no Drive to mount; working in a temporary folder")
HOME.mkdir(parents=True, exist_ok=True)
print(f"working folder: {HOME}")

# %% [markdown]
# The command lines below are the ones you would type in a terminal (or after `!` in a Colab cell).
# Here a small helper runs them inside this kernel instead, exactly as typed, so that the notebook
# also runs where `fomm-teach` is not on the shell's path.

# %%
import shlex

from fomm_teach.cli import main as fomm_teach_main


def shell(command):
    """Run a `fomm-teach ...` command line in this kernel; print it, then its exit code (0 = success)."""
    print(f"$ {command}")
    words = shlex.split(command)
    if words[0] != "fomm-teach":
        raise ValueError(f"only fomm-teach commands run here, not {words[0]!r}")
    code = fomm_teach_main(words[1:])
    print(f"(exit code {code})")
    return code


# %% [markdown]
# ## 8.2 The authors' datasets
#
# The paper trains one model per dataset, each with its own config (`fomm_teach/configs/`, the
# authors' files as they are). None of the datasets can be shipped with a course: most are cut
# from YouTube videos and come as lists of video ids and crop boxes, which you download and crop
# yourself with the authors' `video-preprocessing` scripts
# (https://github.com/AliaksandrSiarohin/video-preprocessing), which store every video as a folder
# of PNG frames.
#
# | dataset | config(s) | what | how the authors obtained it | size |
# |---|---|---|---|---|
# | VoxCeleb | `vox-256`, `vox-adv-256` | talking heads from interviews on YouTube | VoxCeleb1's video ids; faces found and cropped to 256×256 by their `video-preprocessing` scripts (face alignment) | paper: 19,522 train / 525 test videos; ≈ 300 GB as PNG frames |
# | Tai-Chi-HD | `taichi-256`, `taichi-adv-256` | one person doing tai chi, full body | collected by the authors from YouTube; published as video ids with crop boxes and times, downloaded and cropped by their scripts | paper: 3,049 train / 285 test; ≈ 80 GB as PNG |
# | MGif | `mgif-256` | cartoon animals in GIF animations | collected from the web for their earlier Monkey-Net; a direct download link in the authors' README | small (GIFs) |
# | Fashion | `fashion-256` | models walking on a catwalk, front view | the UBC Fashion video dataset, downloaded from its own page | paper: 500 train / 100 test |
# | BAIR | `bair-256` | a robot arm pushing objects | the BAIR robot pushing dataset, re-encoded by the authors at 256×256; a direct download link | paper: 42,880 train / 128 test |
# | Nemo | `nemo-256` | faces smiling (UvA-NEMO smile database) | requested from the database's website, then cropped by `video-preprocessing` | 1,240 videos; ≈ 18 GB as PNG |
#
# (Sizes on disk are the `video-preprocessing` README's; the video counts are those the paper
# reports. Your download will differ a little: YouTube videos disappear over time.)
#
# **The layout every config reads** (`dataset_params.root_dir`, e.g. `data/vox-png`):
#
# ```
# data/vox-png/
#     train/
#         id10001#7w0IBEWc9Qw#000993#001143.mp4/    ← a folder of frames 0000000.png, 0000001.png, ...
#         id10001#7w0IBEWc9Qw#001216#001353.mp4/       (the folder's name ends in .mp4: the scripts' convention)
#         ...
#     test/
#         ...
# ```
#
# A video may also be an `.mp4`, `.gif` or `.mov` file, or one PNG with all frames side by side.
# With `id_sampling: True` (vox, taichi) an *item* of the training set is an identity, the part
# of the name before the first `#`, and every draw picks one of its clips: a person with many
# clips is not seen more often. Without `train/` and `test/` folders the authors split the videos
# 80/20 themselves.

# %% [markdown]
# ## 8.3 A small dataset in the real format, checked, and the authors' data loader
#
# To practise every step before the real download, `fomm-teach synthetic-dataset` writes synthetic
# windmill videos (chapter 06's puppets) in any of the authors' layouts. Here: 64×64 `.mp4` files
# named `<id>#<clip>`, two clips per identity, so `id_sampling` has something to do.

# %%
DATA = HOME / "data" / "windmill-mp4"
videos, frames = course.pick(quick=(8, 8), full=(32, 32))
shell(f"fomm-teach synthetic-dataset {DATA} --level windmill --layout mp4 --train {videos} --test 4 "
      f"--size 64 --frames {frames} --clips-per-id 2")

# %% [markdown]
# `fomm-teach train` checks the data before its first step; `fomm-teach check-dataset` runs the
# same check on its own, which is worth doing right after a long download: it decodes every file
# and lists, per video, what is wrong (a broken file, a wrong size, a name that `id_sampling`
# cannot read, a split that is missing) and how to fix it. With `--config` it checks against that
# config's `frame_shape` and `id_sampling`. For the real thing:
#
# ```
# fomm-teach check-dataset /content/drive/MyDrive/fomm-course/data/vox-png --config vox-256
# ```

# %%
shell(f"fomm-teach check-dataset {DATA} --frame-shape 64 64 --id-sampling")

# %% [markdown]
# A config for this dataset: chapter 06's small networks (`synthetic-fast`), reading the folder
# the way the authors' configs read theirs. `dataset_params` is the authors' section: the folder,
# the frame size, identity sampling and the augmentations (flips in time and left-right).

# %%
import copy

import yaml

from fomm_teach.config import load_config

practice = load_config("synthetic-fast")
practice["dataset_params"] = {"root_dir": str(DATA), "frame_shape": [64, 64, 3], "id_sampling": True,
                              "augmentation_params": {"flip_param": {"horizontal_flip": True, "time_flip": True}}}
practice["train_params"].update(num_epochs=2, num_repeats=course.pick(quick=2, full=8), batch_size=4,
                                checkpoint_freq=1)
PRACTICE = HOME / "practice.yaml"
PRACTICE.write_text(yaml.safe_dump(practice, sort_keys=False))
print(f"wrote {PRACTICE}")

# %% [markdown]
# **The data loader, as the authors had it.** One epoch is `num_repeats` passes over the training
# items (their `DatasetRepeater`: vox-256 repeats 75 times, taichi-256 150, mgif-256 25), shuffled,
# in batches of `batch_size` with the last partial batch dropped, decoded by 6 worker processes.
# Ours does the same, with two differences you can see below: the workers are at most the CPUs
# this machine has (a Colab runtime has 2 to 12; more workers than cores only add processes), and
# on a GPU the batches go through pinned memory, which makes the copy to the GPU faster.
# `fomm-teach train --workers N` sets the number of workers.

# %%
import matplotlib.pyplot as plt

from fomm_teach import viz
from fomm_teach.train import make_batches

batches = make_batches(practice, course.device)
loader = batches.loader
print(f"{len(loader.dataset.dataset)} training items (identities) × num_repeats {practice['train_params']['num_repeats']} "
      f"= {batches.pairs_per_epoch()} pairs an epoch; batches of {loader.batch_size}, drop_last {loader.drop_last}, "
      f"{loader.num_workers} workers, pinned memory {loader.pin_memory}")
x = next(batches.epoch(0))
fig, axes = plt.subplots(2, 4, figsize=(7.5, 4))
for column in range(4):
    viz.show_image(axes[0, column], x["source"][column].cpu(), f"source {column}")
    viz.show_image(axes[1, column], x["driving"][column].cpu(), f"driving {column}")
for ax in axes.flat:
    ax.axis("off")
fig.suptitle("one training batch: two frames of one clip per column (after the flips)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 8.4 A practice run: live losses, the per-epoch picture, and a disconnect
#
# `fomm-teach train` writes a run folder: `config.yaml`, `log.txt` (one line of loss means per
# epoch, the authors' format), `train-vis/` (one picture per epoch, the authors' Visualizer) and
# the checkpoints. From Python, `train(..., callback=...)` also hands every step's losses to a
# function of yours, which is how the plot below is drawn while the run goes on. The callback
# stops the run after its first epoch, as a Colab disconnect would (the checkpoint of that epoch is
# already on Drive).

# %%
import time

from IPython.display import clear_output

from fomm_teach.train import train

RUN = HOME / "runs" / "practice"
step_losses = []


def live_plot(event):
    """train() callback: keep every step's losses; after each epoch, redraw the curves; stop after epoch 0."""
    if event["kind"] == "step":
        step_losses.append(event["losses"])
        return False
    clear_output(wait=True)
    fig, ax = plt.subplots(figsize=(6.5, 3))
    for name in step_losses[0]:
        ax.plot([losses[name] for losses in step_losses], label=name)
    ax.set(xlabel="step", ylabel="loss (weighted)", yscale="log", title=f"practice run, up to epoch {event['epoch']}")
    ax.legend(fontsize=9)
    plt.tight_layout()
    plt.show()
    return event["epoch"] == 0   # True stops the run: our stand-in for a disconnect


started = time.time()
first = train(PRACTICE, RUN, device=course.device, callback=live_plot, progress=not course.quick)
print(f"stopped after epoch {first['log'][-1][0]} ({time.time() - started:.0f} s); checkpoint {first['checkpoint'].name}")

# %% [markdown]
# The picture of the last epoch, as the authors' Visualizer draws it: per row a training pair;
# columns source with its keypoints, the equivariance transform of the source with its keypoints,
# driving with its keypoints, the deformed source, the prediction, the occlusion map, and the
# masks of the parts coloured and summed. After a few steps nothing is learned yet: this shows
# where to look during a real run.

# %%
import imageio.v3 as iio

picture = sorted((RUN / "train-vis").glob("*-rec.png"))[-1]
fig, ax = plt.subplots(figsize=(9, 5))
ax.imshow(iio.imread(picture))
ax.set_title(f"{picture.name}: source, transformed, driving, deformed, prediction, occlusion, masks")
ax.axis("off")
plt.show()

# %% [markdown]
# **Resuming.** After a disconnect, reconnect, run the setup cells again (8.1) and start the *same*
# command line with `--resume latest`: it finds the newest complete checkpoint in `--out` and
# continues from it, optimisers, learning-rate schedules and random state included, so the run
# goes on as if never stopped. Without a checkpoint yet, the same line starts the run, so one
# command line serves for the first start and every restart. A run folder is never overwritten
# by another run: a fresh start into a folder that holds a run stops with a message.

# %%
shell(f"fomm-teach train --config {PRACTICE} --out {RUN} --resume latest --device {course.device} --no-progress")
print(open(RUN / "log.txt").read())

# %% [markdown]
# On a long run, how much a disconnect costs depends on `checkpoint_freq`: the authors save every
# 50 epochs (vox-256, taichi-256) or 100 (mgif-256), and an epoch of vox-256 is hours (by 8.7's
# estimates). For Colab, train with a copy of the config that saves every epoch (8.7 writes one);
# it changes nothing in the training itself.

# %% [markdown]
# ## 8.5 Faster steps that keep the math
#
# Three options of `fomm-teach train` change how the arithmetic is done, not what is computed:
#
# - `--precision bf16` or `fp16`: the three networks and the perceptual VGG run under
#   `torch.autocast` in 16-bit floats (on tensor cores); the image pyramid, the equivariance
#   transform with its `torch.inverse` and every loss stay in fp32. bf16 (Ampere and later: A100,
#   L4, H100) has fp32's range; fp16 (the T4) has not, so it trains with a gradient scaler, saved
#   in each checkpoint. The course's tests hold a bf16 step's losses within 5 % of fp32's.
# - `--channels-last`: weights and frames stored NHWC, the layout tensor cores read fastest.
# - `--compile`: `torch.compile` of the networks. The first steps can take minutes (compilation);
#   after that the steps are usually faster on a GPU (not measured for this course: 8.6 and
#   `benchmarks/train_step.py --compile off,on` measure it on yours). Rarely worth it on a CPU.
#
# None changes the checkpoint: a run can be resumed with other options, and a checkpoint trained
# in bf16 loads like any other. `benchmarks/train_step.py` (in the repository) measures images per
# second and memory of one training iteration for every combination on the machine at hand:
#
# ```
# python benchmarks/train_step.py --config vox-256 --batch-size 8 --compile off,on
# ```
#
# What it measured on the course's 2-core CPU is in `benchmarks/RESULTS.md`. **No GPU has measured
# it for this course yet**, so the GPU numbers of 8.7 are estimates, and 8.6 measures your GPU.

# %% [markdown]
# ## 8.6 A GPU smoke run: vox-256 on synthetic 256×256 frames, bf16 against fp32
#
# Before hours on a real dataset, a few minutes on synthetic data say whether everything fits: the
# full vox-256 networks at 256×256, a small batch, a few dozen steps in fp32 and in bf16 (fp16 on a
# T4) from the same start, with images per second and peak memory. The two loss curves should lie
# on top of each other. The cells need a GPU: on a CPU they print that they were skipped.

# %% tags=["gpu"]
BIG = HOME / "data" / "windmill-256"
shell(f"fomm-teach synthetic-dataset {BIG} --level windmill --layout folder --train 32 --test 4 --size 256 --frames 16")
smoke = load_config("vox-256", for_training=True)
smoke["dataset_params"].update(root_dir=str(BIG), id_sampling=False)
smoke["dataset_params"].pop("pairs_list", None)
smoke["train_params"].update(num_epochs=1, num_repeats=8, batch_size=8, perceptual_backbone="random")
# random VGG weights: the ImageNet ones need `fomm-teach fetch-vgg19` (a download) first
half = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
smoke_runs = {}
for precision in ("fp32", half):
    times, curve = [], []

    def timing(event):
        if event["kind"] == "step":
            torch.cuda.synchronize()
            times.append(time.time())
            curve.append(event["losses"]["perceptual"])
        return False

    torch.manual_seed(0)
    torch.cuda.reset_peak_memory_stats()
    train(smoke, HOME / "runs" / f"smoke-{precision}-{time.strftime('%H%M%S')}", device=course.device,
          callback=timing, precision=precision)
    steps = len(times) - 1   # the first step includes the start-up
    smoke_runs[precision] = {"curve": curve, "images/s": steps * 8 / (times[-1] - times[0]),
                             "peak GiB": torch.cuda.max_memory_allocated() / 2 ** 30}
    print(f"{precision}: {smoke_runs[precision]['images/s']:.1f} images/s, "
          f"peak memory {smoke_runs[precision]['peak GiB']:.1f} GiB at batch 8")

# %% tags=["gpu"]
fig, ax = plt.subplots(figsize=(6.5, 3))
for precision, run in smoke_runs.items():
    ax.plot(run["curve"], label=f"{precision}: {run['images/s']:.1f} images/s")
ax.set(xlabel="step", ylabel="perceptual loss", title=f"vox-256 on synthetic 256×256 frames, {props.name}")
ax.legend()
plt.show()

# %% [markdown]
# ## 8.7 The full command lines, with time and memory
#
# **Batch size and memory.** The authors' batch sizes (vox-256: 40, taichi-256: 30, mgif-256: 36)
# were for 2 to 4 GPUs together: with `torchrun`, every GPU takes `batch_size / N` of each batch,
# so the recipe stays theirs. On one GPU a batch of 40 at 256×256 does not fit (below), and the
# batch size is a config value: write a copy of the config with a batch that fits and a checkpoint
# every epoch. A smaller batch changes the recipe a little (BatchNorm statistics, noisier steps);
# the authors' README says it makes little difference apart from speed.

# %%
def colab_config(name, batch_size, checkpoint_freq=1):
    """A copy of the authors' config `name` with another batch size and checkpoint frequency; returns its path."""
    config = copy.deepcopy(load_config(name, for_training=True))
    config["train_params"].update(batch_size=batch_size, checkpoint_freq=checkpoint_freq)
    path = HOME / f"{name}-b{batch_size}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


print(colab_config("vox-256", batch_size=8))

# %% [markdown]
# **One GPU (Colab).** Data and runs on Drive; the same line starts and resumes. Add
# `--precision fp16` on a T4, `--precision bf16` on an L4 or A100; the ImageNet VGG19 of the
# authors' perceptual loss is downloaded once, on purpose:
#
# ```
# fomm-teach fetch-vgg19
# fomm-teach check-dataset /content/drive/MyDrive/fomm-course/data/vox-png --config vox-256
# fomm-teach train --config /content/drive/MyDrive/fomm-course/vox-256-b8.yaml --data /content/drive/MyDrive/fomm-course/data/vox-png --out /content/drive/MyDrive/fomm-course/runs/vox-256 --resume latest --precision bf16 --channels-last
# fomm-teach train --config taichi-256 --data /content/drive/MyDrive/fomm-course/data/taichi-png --out /content/drive/MyDrive/fomm-course/runs/taichi-256 --resume latest --precision fp16 --channels-last --workers 2
# fomm-teach train --config mgif-256 --data /content/drive/MyDrive/fomm-course/data/moving-gif --out /content/drive/MyDrive/fomm-course/runs/mgif-256 --resume latest --precision bf16 --channels-last --compile
# ```
#
# (Reading thousands of PNG files from Drive is slow; copying the dataset to the runtime's own disk
# first, `cp -r /content/drive/MyDrive/fomm-course/data/vox-png /content/`, and passing
# `--data /content/vox-png` is usually faster. The run folder stays on Drive.)
#
# **Several GPUs on one machine**, the authors' batch sizes as they are (4 GPUs: 10 pairs of
# vox-256's 40 each; BatchNorm synchronised across the GPUs, as theirs):
#
# ```
# torchrun --nproc_per_node=4 -m fomm_teach train --config vox-256 --data data/vox-png --out runs/vox-256 --resume latest --precision bf16 --channels-last
# torchrun --nproc_per_node=2 -m fomm_teach train --config taichi-256 --data data/taichi-png --out runs/taichi-256 --resume latest --precision bf16
# ```
#
# **Several machines**: the same line on each, with torchrun's rendezvous flags (here 2 machines
# of 8 GPUs; `HOST` is the first machine's address, reachable from the other on port 29500):
#
# ```
# torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 --rdzv_id=fomm-vox -m fomm_teach train --config vox-256 --data data/vox-png --out runs/vox-256 --resume latest --precision bf16
# ```
#
# `python -m fomm_teach` is the same program as `fomm-teach` (torchrun needs that form):
#
# ```
# python -m fomm_teach train --config mgif-256 --data data/moving-gif --out runs/mgif-256 --resume latest
# ```

# %% [markdown]
# ### How long, and how much memory? Estimates, not measurements
#
# **No GPU was at hand when this chapter was written, so the numbers below are estimates**, made as
# follows, and 8.6 replaces them with your GPU's own numbers.
#
# What was *measured* (on a CPU, where these quantities are the same as on a GPU), with
# `python benchmarks/train_step.py --count --config vox-256` (and `--config mgif-256`): one fp32
# training iteration at 256×256 and batch 1, forward and backward, costs **534 GFLOP** for vox-256
# and taichi-256 (torch's FlopCounterMode, convolutions and matrix products; the GAN is off in both)
# and **658 GFLOP** for mgif-256 (its GAN is on: the discriminator is run and stepped too);
# autograd keeps **0.89 GB** of tensors per image for the backward pass (fp32; 1.15 GB for
# mgif-256); the networks have 62.5 M parameters with the discriminator (59.8 M trained when, as
# in vox-256, the discriminator is not stepped), the perceptual VGG19 20.0 M more.
#
# What is *assumed* (not measured; change them in the cell below):
# 1. a GPU sustains 35 % of its published fp32 peak in fp32 training, and 15 % of its published
#    16-bit tensor-core peak under bf16/fp16 autocast (a network with many memory-bound steps:
#    `grid_sample`, BatchNorm, softmax, element-wise work between the convolutions);
# 2. memory = weights, gradients and Adam's two moments (16 bytes per trained parameter) + the VGG
#    (4 bytes per parameter) + 1 GiB for the CUDA context and workspace + 1.15 × batch × the saved
#    tensors per image (fp32: 0.89 GB; under autocast 0.6 × that, as the convolutions' saved inputs
#    are 16-bit but the network outputs, the pyramid and the losses stay fp32).
#
# A check of assumption 2 against the authors: vox-256's batch of 40 on 4 GPUs is 10 per GPU,
# which the formula puts at ≈ 11.5 GiB in fp32, just under the 12 GB of the Titan X cards their
# README names (a consistency check, not a measurement).

# %%
GFLOP_PER_IMAGE = {"vox-256": 534, "taichi-256": 534, "mgif-256": 658}   # measured: benchmarks/train_step.py --count
SAVED_GB_PER_IMAGE = 0.89                                            # measured, fp32, vox-256
TRAINED_PARAMETERS, VGG_PARAMETERS = 59.8e6, 20.0e6                   # measured (vox-256: GAN off, D not stepped)
# published peaks (NVIDIA data sheets, dense): memory GiB, fp32 TFLOPS, 16-bit tensor TFLOPS
GPUS = {"T4 (Colab free)": (15, 8.1, 65), "L4": (22, 30.3, 121), "A100 40GB": (40, 19.5, 312),
        "H100 SXM": (80, 67, 989)}
UTILISATION = {"fp32": 0.35, "16-bit": 0.15}   # ASSUMPTION 1
ACTIVATION_FACTOR = {"fp32": 1.0, "16-bit": 0.6}   # ASSUMPTION 2


def memory_gib(batch, mode):
    fixed = (16 * TRAINED_PARAMETERS + 4 * VGG_PARAMETERS) / 2 ** 30 + 1.0
    return fixed + 1.15 * batch * SAVED_GB_PER_IMAGE * 1e9 * ACTIVATION_FACTOR[mode] / 2 ** 30


def images_per_second(gpu, mode, config="vox-256"):
    _, fp32, tensor = GPUS[gpu]
    tflops = UTILISATION[mode] * (fp32 if mode == "fp32" else tensor)
    return tflops * 1e12 / (GFLOP_PER_IMAGE[config] * 1e9)


print("ESTIMATES (see the assumptions above): vox-256 / taichi-256, one GPU")
print(f"{'GPU':16} {'mode':7} {'images/s':>9} {'largest batch':>14} {'h per epoch per 1000 items':>27}")
for gpu, (memory, _, _) in GPUS.items():
    for mode in ("fp32", "16-bit"):
        largest = max(batch for batch in range(1, 200) if memory_gib(batch, mode) <= memory)
        speed = images_per_second(gpu, mode)
        hours = 75 * 1000 / speed / 3600   # vox-256: num_repeats 75
        print(f"{gpu:16} {mode:7} {speed:9.1f} {largest:14d} {hours:27.1f}")
print("memory per batch size (GiB, fp32 / 16-bit): "
      + ", ".join(f"{b}: {memory_gib(b, 'fp32'):.0f} / {memory_gib(b, '16-bit'):.0f}" for b in (4, 8, 16, 40)))

# %% [markdown]
# How to read it: an epoch is `num_repeats × items` pairs, where an item is an identity under
# `id_sampling` (vox, taichi) and a video otherwise; count yours with 8.3's loader
# (`len(batches.loader.dataset)`). Per 1,000 items, one vox-256 epoch is 75,000 pairs: by these
# estimates about an hour on a free Colab T4 in fp16 (four in fp32), and the authors trained 100
# epochs, so a full run is days of GPU time while a free Colab session lasts hours: resume is not
# optional there. An A100 in bf16 is estimated at about 15 minutes per epoch per 1,000 items. At
# the fast end the GPU may wait for data: 100 pairs a second means decoding 200 PNG frames a
# second with the loader's workers, so give it the CPUs (`--workers`) and a local copy of the data.
# Put 8.6's measured images per second into `images_per_second` to replace the estimate.

# %% [markdown]
# ## 8.8 Evaluation with the authors' reconstruction protocol, and on to animation
#
# The authors score a trained model by **reconstruction** on the test videos: for every test video,
# the source is frame 0 and every frame *t* (frame 0 included) is predicted from frame 0 and the
# keypoints of frame *t*; the number is the mean absolute difference, in [0, 1] units, over all
# frames of all videos (longer videos weigh more). The networks are in `eval()` mode (BatchNorm's
# running statistics). `fomm_teach.evaluate.reconstruct` does one video; the loop over a test set
# is short:

# %%
from fomm_teach.checkpoint import load_trained_models
from fomm_teach.data import FramesDataset
from fomm_teach.evaluate import reconstruct


def reconstruction_l1(checkpoint, config, num_videos=None, device="cpu"):
    """The authors' reconstruction L1 on the test split of config's dataset (frame-weighted mean)."""
    models = load_trained_models(checkpoint, config, device=device)   # eval mode
    params = config["dataset_params"]
    test = FramesDataset(params["root_dir"], frame_shape=params["frame_shape"], is_train=False)
    total, count = 0.0, 0
    for index in range(min(len(test), num_videos or len(test))):
        frames = test[index]["video"].permute(1, 0, 2, 3).to(device)   # (3, T, H, W) -> (T, 3, H, W)
        prediction, _ = reconstruct(models["kp_detector"], models["generator"], frames)
        total += float((prediction - frames).abs().sum())
        count += frames.numel()
    return total / count


checkpoint = sorted(RUN.glob("*-checkpoint.pth.tar"))[-1]
print(f"practice run, {checkpoint.name}: reconstruction L1 {reconstruction_l1(checkpoint, practice):.4f} "
      f"on the {len(FramesDataset(DATA, frame_shape=(64, 64, 3), is_train=False))} test videos")

# %% [markdown]
# (The authors' loop processes `num_videos + 1` videos, an off-by-one of theirs; `num_videos=None`
# here takes the whole test split.) For the keypoint metrics of the paper (AKD, MKR, AED) the
# authors run external face and pose detectors on the reconstructions
# (https://github.com/AliaksandrSiarohin/pose-evaluation). On synthetic data, where the true joints
# are known, `fomm-teach evaluate` scores the keypoints directly (chapter 06):
#
# ```
# fomm-teach evaluate --checkpoint runs/practice/00000001-checkpoint.pth.tar --data synthetic:windmill --videos 32
# ```
#
# **On to chapter 07.** A trained checkpoint animates any picture with any driving video of the
# same kind, with relative motion transfer (chapter 07, `make_animation`), from Python or from the
# command line:
#
# ```
# fomm-teach animate --checkpoint runs/vox-256/00000099-checkpoint.pth.tar --config vox-256 --source face.png --driving talking.mp4 --out animated.mp4 --best-frame --device cuda
# ```

# %% [markdown]
# ## Questions
#
# 1. Four GPUs run vox-256 with `torchrun --nproc_per_node=4`. How many pairs does each GPU see per
#    step, and why does BatchNorm need synchronising across the GPUs for the run to be the authors'?
# 2. A Colab run with the authors' vox-256 config disconnects after 30 hours. What is lost, and
#    which config value would have prevented it?
# 3. Why can `--precision bf16` not simply run the whole `GeneratorFullModel` in 16 bits?
# 4. The estimates of 8.7 assume a fraction of the published peak. Which measurement of 8.6 replaces
#    the assumption, and how does it change the hours per epoch?
#
# <details><summary>Short answers</summary>
#
# 1. 40 / 4 = 10 each. BatchNorm normalises with the statistics of the batch it sees; without
#    synchronisation each GPU would use 10 pairs' statistics instead of the 40 of the recipe
#    (and the running statistics of one GPU would be saved).
# 2. Everything since the last checkpoint: vox-256 saves every 50 epochs, so with epochs of hours
#    nothing at all. `checkpoint_freq: 1` in a copy of the config (8.7's `colab_config`).
# 3. The equivariance terms invert 2×2 Jacobians (`torch.inverse`) and compare keypoint
#    coordinates to a few thousandths, and the losses sum many small terms. 16-bit floats keep
#    about 3 (fp16) or 2 (bf16) significant digits, and fp16 overflows above 65504; so only the
#    networks run under autocast and hand fp32 back.
# 4. The measured images per second of the smoke run (at the batch you will train with). Hours per
#    epoch = num_repeats × items / images per second, so twice the speed halves them.
#
# </details>
